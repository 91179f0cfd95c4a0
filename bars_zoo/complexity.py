"""What a network costs, counted analytically from its spec: BOPs, FLOPs, OPs, parameters, packed size.

Conventions (BARS Table 2, Zhao et al. 2021; "equivalent OPs" from Bethge et al., "Back to Simplicity",
2019 and Liu et al., "Bi-Real Net", ECCV 2018), written down in ``docs/complexity.md``:

* **BOPs** (the paper's *BiOps*) = multiply-accumulates (MACs) of binary convolutions;
* **FLOPs** = MACs of full-precision layers: stem conv, ``conv1x1`` cell ops, the linear classifier;
* **OPs** = FLOPs + BOPs / 64;
* batch norm, the binary convs' scaling by ``beta``, pooling and additions are *not* folded into any of
  these; they are reported separately (``bn_ops``, ``scale_ops``, ``pool_ops``, ``add_ops``);
* **params** = binary params (the latent weights of binary convs, 1 bit each once packed) + FP params
  (stem/``conv1x1`` weights, BN affine weight and bias, classifier weight and bias; BN running
  statistics are buffers and do not count); **packed bytes** = ceil(binary / 8) + 4 * FP;
* ``x2=True`` doubles BOPs and FLOPs (the 2xMAC convention: a MAC = one multiply + one add).

Exactly what :func:`bars_zoo.build` builds is counted: the cells of :func:`~bars_zoo.spec.placements`,
only the edges of :func:`~bars_zoo.spec.live_edges`, the preprocess only when
:func:`~bars_zoo.spec.uses_input`.  Each row of :attr:`Complexity.layers` is named after the torch
module that does the work (``stem.conv``, ``cells.3.edges.n2_in.conv``, ``cells.5.preprocess.conv_a``,
``head.fc``); work that no module of its own does (node sums, the pools and adds inside ``bfr``, the
head's global pool) is named ``<module>:<what>``.  This module is torch-free.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bars_zoo._args import check_flag
from bars_zoo.spec import (
    CellPlacement,
    NetworkSpec,
    ensure_valid,
    feature_channels,
    live_edges,
    placements,
    stem_output,
    uses_input,
)

Shape = tuple[int, int, int]  # (C, H, W)
Kind = Literal["binary", "fp", "bn", "pool", "add", "identity"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LayerCost(_Frozen):
    """One row of the per-layer table.

    ``macs`` is set for ``binary``/``fp`` rows (doubled under ``x2``); ``elem_ops`` counts the
    element-wise work: the ``beta`` scaling multiplies of a binary conv (one per output element), BN
    (one per element), pooling (window size per output element) and additions (one per element).
    """

    name: str
    group: str
    part: int  # index of the group in network order (a stage may be named like a downsample)
    kind: Kind
    op: str
    in_shape: Shape
    out_shape: Shape
    macs: int = 0
    params: int = 0
    elem_ops: int = 0


class GroupCost(_Frozen):
    """Totals of one part of the network: the stem, a stage, a downsample cell, the head."""

    group: str
    cells: int
    out_shape: Shape
    bops: int
    flops: int
    params: int
    binary_params: int
    fp_params: int


class Complexity(_Frozen):
    """The cost of one network; see the module docstring for the conventions."""

    name: str
    input_shape: Shape
    x2: bool
    bops: int
    flops: int
    ops: float
    params: int
    binary_params: int
    fp_params: int
    bn_params: int
    packed_bytes: int
    bn_ops: int
    scale_ops: int
    pool_ops: int
    add_ops: int
    layers: tuple[LayerCost, ...]

    def groups(self) -> list[GroupCost]:
        """Totals per stem / stage / downsample / head, in network order."""
        return [_group(g, rs) for g, rs in self._runs()]

    def _runs(self) -> list[tuple[str, list[LayerCost]]]:
        runs: list[tuple[str, list[LayerCost]]] = []
        part = None
        for r in self.layers:
            if not runs or r.part != part:
                runs.append((r.group, []))
                part = r.part
            runs[-1][1].append(r)
        return runs

    def summary(self) -> str:
        """The headline numbers and a table per stage (stem, stages, downsamples, head)."""
        conv = "2xMAC" if self.x2 else "MAC"
        c, h, w = self.input_shape
        lines = [
            f"{self.name}  input {c}x{h}x{w}  ({conv} convention)",
            f"  BOPs   {format_count(self.bops):>9}    FLOPs {format_count(self.flops):>9}    OPs {format_count(self.ops):>9}",
            f"  params {format_count(self.params):>9}    binary {format_count(self.binary_params):>8}    "
            f"FP {format_count(self.fp_params):>9}    packed {format_bytes(self.packed_bytes)}",
            f"  separate: BN {format_count(self.bn_ops)}  scale {format_count(self.scale_ops)}  "
            f"pool {format_count(self.pool_ops)}  add {format_count(self.add_ops)}",
            "",
        ]
        head = f"{'part':<10} {'cells':>5} {'output':>12} {'BOPs':>9} {'FLOPs':>9} {'params':>9} {'binary':>9} {'FP':>9}"
        lines += [head, "-" * len(head)]
        for g in self.groups():
            lines.append(
                f"{g.group:<10} {g.cells or '':>5} {format_shape(g.out_shape):>12} {format_count(g.bops):>9} "
                f"{format_count(g.flops):>9} {format_count(g.params):>9} {format_count(g.binary_params):>9} {format_count(g.fp_params):>9}"
            )
        lines.append("-" * len(head))
        lines.append(
            f"{'total':<10} {sum(g.cells for g in self.groups()):>5} {'':>12} {format_count(self.bops):>9} "
            f"{format_count(self.flops):>9} {format_count(self.params):>9} {format_count(self.binary_params):>9} "
            f"{format_count(self.fp_params):>9}"
        )
        return "\n".join(lines)

    def table(self) -> str:
        """:meth:`summary` followed by every layer row, grouped by stage, with subtotals."""
        lines = [self.summary(), ""]
        head = f"{'layer':<34} {'kind':<6} {'op':<14} {'in':>12} {'out':>12} {'MACs':>9} {'params':>9} {'elem ops':>9}"
        lines += [head, "=" * len(head)]
        for name, rs in self._runs():
            g = _group(name, rs)
            lines.append(f"[{g.group}]")
            for r in rs:
                lines.append(
                    f"{r.name:<34} {r.kind:<6} {r.op:<14} {format_shape(r.in_shape):>12} "
                    f"{format_shape(r.out_shape):>12} {format_count(r.macs) if r.macs else '':>9} "
                    f"{format_count(r.params) if r.params else '':>9} {format_count(r.elem_ops) if r.elem_ops else '':>9}"
                )
            lines.append(
                f"{'  subtotal ' + g.group:<34} {'':<6} {'':<14} {'':>12} {'':>12} "
                f"{format_count(g.bops + g.flops):>9} {format_count(g.params):>9}"
            )
        lines.append("=" * len(head))
        return "\n".join(line.rstrip() for line in lines)

    def to_dict(self, *, layers: bool = True) -> dict[str, Any]:
        """Plain JSON-ready data (``layers=False`` leaves the per-layer rows out)."""
        return self.model_dump(mode="json", exclude=None if layers else {"layers"})

    def __str__(self) -> str:
        return self.summary()


def _group(name: str, rs: list[LayerCost]) -> GroupCost:
    cells = {r.name.replace(":", ".").split(".")[1] for r in rs if r.name.startswith("cells.")}
    b = sum(r.params for r in rs if r.kind == "binary")
    f = sum(r.params for r in rs if r.kind != "binary")
    return GroupCost(
        group=name,
        cells=len(cells),
        out_shape=rs[-1].out_shape,
        bops=sum(r.macs for r in rs if r.kind == "binary"),
        flops=sum(r.macs for r in rs if r.kind == "fp"),
        params=b + f,
        binary_params=b,
        fp_params=f,
    )


# --------------------------------------------------------------------------- counting


class _Counter:
    """Collects :class:`LayerCost` rows while walking the network in build order."""

    def __init__(self) -> None:
        self.rows: list[LayerCost] = []
        self.group, self.part = "stem", 0

    def start(self, group: str) -> None:
        """The rows added from now on belong to the next part of the network, named ``group``."""
        self.group, self.part = group, self.part + 1

    def add(self, name: str, kind: Kind, op: str, i: Shape, o: Shape, **kw: int) -> None:
        self.rows.append(
            LayerCost(
                name=name,
                group=self.group,
                part=self.part,
                kind=kind,
                op=op,
                in_shape=i,
                out_shape=o,
                **kw,
            )
        )

    def conv(self, name: str, kind: Kind, k: int, i: Shape, o: Shape, stride: int = 1) -> None:
        """A ``k x k`` conv ``i -> o`` (no bias); binary convs also scale every output by beta."""
        macs = o[0] * o[1] * o[2] * i[0] * k * k
        scale = _n(o) if kind == "binary" else 0
        op = f"{'bconv' if kind == 'binary' else 'conv'}{k}x{k}" + (
            f"/{stride}" if stride > 1 else ""
        )
        self.add(name, kind, op, i, o, macs=macs, params=o[0] * i[0] * k * k, elem_ops=scale)

    def bn(self, name: str, s: Shape) -> None:
        self.add(name, "bn", "batchnorm", s, s, params=2 * s[0], elem_ops=_n(s))

    def avgpool(self, name: str, i: Shape, o: Shape) -> None:
        """2x2/s2 average pool, counted on all input channels (before any channel adaptation)."""
        self.add(name, "pool", "avgpool2x2", i, (i[0], o[1], o[2]), elem_ops=4 * i[0] * o[1] * o[2])

    def addition(self, name: str, s: Shape, times: int = 1) -> None:
        if times > 0:
            op = "add" if times == 1 else f"add x{times}"
            self.add(name, "add", op, s, s, elem_ops=times * _n(s))


def _n(s: Shape) -> int:
    return s[0] * s[1] * s[2]


def _cell_op(cnt: _Counter, name: str, op: str, i: Shape, o: Shape, stride: int) -> None:
    """A preprocess / cell-shortcut op ``i -> o`` (see ``bars_zoo.ops.CELL_OPS``)."""
    if op in ("bconv3x3", "bconv1x1"):
        cnt.conv(f"{name}.conv", "binary", 3 if op == "bconv3x3" else 1, i, o, stride)
        cnt.bn(f"{name}.bn", o)
    elif op == "bfr":
        half = (o[0] // 2, o[1], o[2])
        for part in ("a", "b"):
            cnt.conv(f"{name}.conv_{part}", "binary", 3, i, half, stride)
            cnt.bn(f"{name}.bn_{part}", half)
            cnt.avgpool(f"{name}:pool_{part}", i, half)
            cnt.addition(f"{name}:add_{part}", half)
    elif op == "identity":
        if stride == 2:
            cnt.avgpool(name, i, o)
    elif op == "conv1x1":
        x = i
        if stride == 2:
            cnt.avgpool(f"{name}:pool", i, o)
            x = (i[0], o[1], o[2])
        cnt.conv(f"{name}.conv", "fp", 1, x, o)
        cnt.bn(f"{name}.bn", o)
    # "none" costs nothing


def _cell(cnt: _Counter, p: CellPlacement) -> None:
    before = len(cnt.rows)
    _cell_costs(cnt, p)
    if len(cnt.rows) == before:  # a cell that costs nothing still is a cell of its stage
        i: Shape = (p.c_in, *p.in_hw)
        cnt.add(f"cells.{p.index}:identity", "identity", "identity", i, (p.c_out, *p.out_hw))


def _cell_costs(cnt: _Counter, p: CellPlacement) -> None:
    base = f"cells.{p.index}"
    i: Shape = (p.c_in, *p.in_hw)
    o: Shape = (p.c_out, *p.out_hw)
    cell = p.cell
    if uses_input(cell):
        _cell_op(cnt, f"{base}.preprocess", cell.preprocess, i, o, p.stride)
    fan_in: dict[str, int] = {}
    for node, e in live_edges(cell):
        fan_in[node] = fan_in.get(node, 0) + 1
        if e.op in ("bconv3x3", "bconv1x1"):
            ename = f"{base}.edges.{node}_{e.source}"
            cnt.conv(f"{ename}.conv", "binary", 3 if e.op == "bconv3x3" else 1, o, o)
            cnt.bn(f"{ename}.bn", o)
            if cell.op_shortcut:
                cnt.addition(f"{ename}:op_shortcut", o)
    for node, k in fan_in.items():
        cnt.addition(f"{base}:{node}", o, k - 1)
    if cell.shortcut != "none":
        _cell_op(cnt, f"{base}.shortcut", cell.shortcut, i, o, p.stride)
        if cell.nodes[-1].name in fan_in:
            cnt.addition(f"{base}:output", o)


def count(spec: NetworkSpec, *, x2: bool = False) -> Complexity:
    """The complexity of a spec (validated first: an invalid spec raises ``SpecError``)."""
    ensure_valid(spec)
    cnt = _Counter()
    c0, h0, w0 = spec.input_shape
    stem_k = 3 if spec.stem.op == "conv3x3" else 7
    conv_hw = (-(-h0 // spec.stem.stride), -(-w0 // spec.stem.stride))
    conv_out: Shape = (spec.stem.channels, *conv_hw)
    cnt.conv("stem.conv", "fp", stem_k, (c0, h0, w0), conv_out, spec.stem.stride)
    cnt.bn("stem.bn", conv_out)
    s = stem_output(spec)
    if spec.stem.pool == "maxpool":
        cnt.add("stem.pool", "pool", "maxpool3x3", conv_out, s, elem_ops=9 * _n(s))
    downs, stage = 0, None
    for p in placements(spec):
        if p.stage is None:  # every downsample cell is a part of its own
            downs += 1
            cnt.start(f"ds{downs}")
        elif p.stage != stage:  # the first cell of a stage (stage names are unique)
            cnt.start(p.stage)
        stage = p.stage
        _cell(cnt, p)
    cnt.start("head")
    last = placements(spec)[-1]
    f: Shape = (feature_channels(spec), *last.out_hw)
    cnt.bn("head.bn", f)
    cnt.add("head:avgpool", "pool", "global_avgpool", f, (f[0], 1, 1), elem_ops=_n(f))
    k = spec.num_classes
    cnt.add("head.fc", "fp", "linear", (f[0], 1, 1), (k, 1, 1), macs=f[0] * k, params=f[0] * k + k)

    mult = 2 if x2 else 1
    rows = [r.model_copy(update={"macs": r.macs * mult}) if r.macs else r for r in cnt.rows]
    bops = sum(r.macs for r in rows if r.kind == "binary")
    flops = sum(r.macs for r in rows if r.kind == "fp")
    binary = sum(r.params for r in rows if r.kind == "binary")
    fp = sum(r.params for r in rows if r.kind != "binary")
    return Complexity(
        name=spec.name,
        input_shape=spec.input_shape,
        x2=x2,
        bops=bops,
        flops=flops,
        ops=flops + bops / 64,
        params=binary + fp,
        binary_params=binary,
        fp_params=fp,
        bn_params=sum(r.params for r in rows if r.kind == "bn"),
        packed_bytes=math.ceil(binary / 8) + 4 * fp,
        bn_ops=sum(r.elem_ops for r in rows if r.kind == "bn"),
        scale_ops=sum(r.elem_ops for r in rows if r.kind == "binary"),
        pool_ops=sum(r.elem_ops for r in rows if r.kind == "pool"),
        add_ops=sum(r.elem_ops for r in rows if r.kind == "add"),
        layers=tuple(rows),
    )


def complexity(
    spec_or_name: NetworkSpec | str | os.PathLike[str] | Any, *, x2: bool = False
) -> Complexity:
    """The complexity of a spec, a zoo name (``"bars-b"``), a ``.geno`` path or a model (a
    ``BarsNet``, a wrapper of one or a deployed net: the complexity of its ``.spec``).
    ``x2`` (a ``bool``): count a multiply-accumulate as two operations.

    >>> complexity("xnor-resnet18-cifar10").bops  # doctest: +SKIP
    547356672
    """
    check_flag(x2, "x2")
    if isinstance(spec_or_name, str | os.PathLike):
        from bars_zoo.zoo import load_genotype  # zoo sits to the right of complexity

        spec_or_name = load_genotype(spec_or_name)
    elif isinstance(inner := getattr(spec_or_name, "spec", None), NetworkSpec):
        spec_or_name = inner  # a model: timm-like, complexity(model) works
    return count(spec_or_name, x2=x2)


# --------------------------------------------------------------------------- formatting


def format_count(x: float) -> str:
    """``547.4M``-style short numbers with four significant digits."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= div:
            v = x / div
            return f"{v:.{3 if v < 10 else 2 if v < 100 else 1}f}{unit}"
    return f"{x:g}" if isinstance(x, float) else str(x)


def format_bytes(n: int) -> str:
    """``67.12 KiB``-style sizes (binary units)."""
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


def format_shape(s: tuple[int, ...]) -> str:
    """``1x28x28``: a shape as the genotype's ``input`` line and the tables write it."""
    return "x".join(map(str, s))


__all__ = [
    "Complexity",
    "GroupCost",
    "LayerCost",
    "complexity",
    "count",
    "format_bytes",
    "format_count",
    "format_shape",
]
