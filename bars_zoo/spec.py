"""The architecture as data: frozen pydantic specs of a BARS network, and the rules they obey.

A :class:`NetworkSpec` is what a ``.geno`` file means (see ``docs/genotype-language.md``):
a full-precision stem, a layout of stages (``depth`` normal cells at ``channels`` width) and stride-2
downsample cells, and a full-precision head.  Cells follow BARS Fig. 2 (Zhao et al., "BARS: Joint
Search of Cell Topology and Layout for Accurate and Efficient Binary ARchitectures", 2021): one input
``x`` -> ``preprocess`` -> node ``in``; node ``nK`` = sum over its edges of ``op(source)``; cell output =
last node + cell ``shortcut(x)``.

This module is torch-free.  It owns the op vocabulary (names and kinds; the torch modules live in
``bars_zoo.ops``), the hard size bounds, the shape bookkeeping (:func:`placements`) and the liveness
analysis (:func:`live_edges`) that the builder, the complexity counter and the search all share, and
the semantic checks (:func:`check_spec`) whose findings the DSL turns into located diagnostics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from bars_zoo.errors import SpecError

# --------------------------------------------------------------------------- vocabulary

#: Ops allowed on a cell edge.  ``bconv*`` carry the op-level shortcut when the cell enables it.
EDGE_OPS: tuple[str, ...] = ("bconv3x3", "bconv1x1", "shortcut", "none")
#: Ops allowed as a cell's ``preprocess`` or ``shortcut`` (no op-level shortcut on these).
CELL_OPS: tuple[str, ...] = ("bconv3x3", "bconv1x1", "bfr", "identity", "none", "conv1x1")
#: Full-precision stem convolutions.
STEM_OPS: tuple[str, ...] = ("conv3x3", "conv7x7")
#: Ops whose weights are binary (1-bit) and that count as BOPs.
BINARY_OPS: frozenset[str] = frozenset({"bconv3x3", "bconv1x1", "bfr"})
#: Ops without parameters.
PARAM_FREE_OPS: frozenset[str] = frozenset({"shortcut", "identity", "none"})

EdgeOp = Literal["bconv3x3", "bconv1x1", "shortcut", "none"]
CellOp = Literal["bconv3x3", "bconv1x1", "bfr", "identity", "none", "conv1x1"]
StemOp = Literal["conv3x3", "conv7x7"]

FORMAT_VERSION = 1


class Limits:
    """Hard bounds, so that a hostile file cannot exhaust memory or time."""

    MAX_FILE_BYTES = 256 * 1024
    MAX_NAME_LEN = 64
    MAX_NODES = 16
    MAX_CELLS = 32
    MAX_LAYOUT = 32
    MAX_CHANNELS = 8192
    MAX_DEPTH = 64
    MAX_INPUT_CHANNELS = 64
    MAX_INPUT_SIZE = 4096
    MAX_CLASSES = 100_000
    MAX_META = 64
    MAX_META_LEN = 1024
    #: cell instances in the unrolled network (sum of stage depths plus downsamples)
    MAX_TOTAL_CELLS = 256
    #: statements in one file (a valid file has at most about 140)
    MAX_STATEMENTS = 512
    #: errors reported for one file before giving up
    MAX_ERRORS = 50
    #: words (tokens) in one file: bounds parse time (a valid file has a few hundred)
    MAX_WORDS = 20_000


NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"


def _printable(s: str) -> str:
    if not s.isprintable():
        raise ValueError("must not contain control characters")
    return s


#: Free text that a ``.geno`` file can hold in a ``"string"`` (the network name, meta values).
Text = Annotated[str, AfterValidator(_printable)]
#: A name as the language writes it: cells, stages, meta keys.
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=Limits.MAX_NAME_LEN)]

# --------------------------------------------------------------------------- specs


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(_Frozen):
    """Input tensor shape (channels, height, width)."""

    channels: Annotated[int, Field(ge=1, le=Limits.MAX_INPUT_CHANNELS)]
    height: Annotated[int, Field(ge=1, le=Limits.MAX_INPUT_SIZE)]
    width: Annotated[int, Field(ge=1, le=Limits.MAX_INPUT_SIZE)]


class StemSpec(_Frozen):
    """Full-precision stem: conv (padding k//2) -> BN, then an optional 3x3/s2 max pool."""

    op: StemOp
    channels: Annotated[int, Field(ge=1, le=Limits.MAX_CHANNELS)]
    stride: Literal[1, 2]
    pool: Literal["none", "maxpool"]


class EdgeSpec(_Frozen):
    """``source: op`` inside a node; ``source`` is ``in`` or an earlier node ``nK``."""

    source: str
    op: EdgeOp


class NodeSpec(_Frozen):
    """Node ``nK``: the sum of its edges.  ``none`` edges are never stored (they are dropped here)."""

    name: str
    edges: tuple[EdgeSpec, ...]

    @field_validator("edges")
    @classmethod
    def _drop_none(cls, edges: tuple[EdgeSpec, ...]) -> tuple[EdgeSpec, ...]:
        return tuple(e for e in edges if e.op != "none")


class CellSpec(_Frozen):
    """A named cell topology.  ``stride=2`` makes it a downsample (reduction) cell."""

    name: Name
    stride: Literal[1, 2]
    preprocess: CellOp
    shortcut: CellOp
    op_shortcut: bool
    nodes: Annotated[tuple[NodeSpec, ...], Field(min_length=1, max_length=Limits.MAX_NODES)]


class StageSpec(_Frozen):
    """``depth`` stride-1 cells of one topology at ``channels`` width."""

    kind: Literal["stage"]
    name: Name
    channels: Annotated[int, Field(ge=1, le=Limits.MAX_CHANNELS)]
    depth: Annotated[int, Field(ge=1, le=Limits.MAX_DEPTH)]
    cell: str


class DownsampleSpec(_Frozen):
    """A stride-2 cell whose output width is the width of the stage that follows it."""

    kind: Literal["downsample"]
    cell: str


LayoutItem = Annotated[StageSpec | DownsampleSpec, Field(discriminator="kind")]


class HeadSpec(_Frozen):
    """Full-precision head: BN -> global average pool -> linear classifier."""

    pool: Literal["avgpool"]
    classifier: Literal["linear"]


class NetworkSpec(_Frozen):
    """One network: what a ``.geno`` file means.  Build it with :func:`bars_zoo.build`."""

    version: Literal[1]
    name: Annotated[Text, Field(min_length=1, max_length=Limits.MAX_NAME_LEN)]
    input: InputSpec
    num_classes: Annotated[int, Field(ge=1, le=Limits.MAX_CLASSES)]
    stem: StemSpec
    cells: Annotated[tuple[CellSpec, ...], Field(min_length=1, max_length=Limits.MAX_CELLS)]
    layout: Annotated[tuple[LayoutItem, ...], Field(min_length=1, max_length=Limits.MAX_LAYOUT)]
    head: HeadSpec
    meta: Annotated[
        dict[Name, Annotated[Text, Field(max_length=Limits.MAX_META_LEN)]],
        Field(max_length=Limits.MAX_META),
    ]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input image."""
        return (self.input.channels, self.input.height, self.input.width)

    def cell(self, name: str) -> CellSpec:
        """The cell called ``name`` (raises :class:`SpecError` if there is none)."""
        for c in self.cells:
            if c.name == name:
                return c
        raise SpecError(f"no cell named {name!r}", hint=f"defined cells: {self.cell_names()}")

    def cell_names(self) -> list[str]:
        return [c.name for c in self.cells]

    @property
    def stages(self) -> tuple[StageSpec, ...]:
        return tuple(item for item in self.layout if isinstance(item, StageSpec))


# --------------------------------------------------------------------------- shapes


def halve(size: int) -> int:
    """Spatial size after any stride-2 op in bars-zoo (conv k3/p1, bfr, 2x2 avg pool ceil mode)."""
    return (size + 1) // 2


def conv_out(size: int, stride: int) -> int:
    """Output size of a 'same'-padded convolution (padding k//2) with this stride."""
    return math.ceil(size / stride)


def stem_output(spec: NetworkSpec) -> tuple[int, int, int]:
    """(C, H, W) leaving the stem."""
    h = conv_out(spec.input.height, spec.stem.stride)
    w = conv_out(spec.input.width, spec.stem.stride)
    if spec.stem.pool == "maxpool":
        h, w = halve(h), halve(w)
    return (spec.stem.channels, h, w)


@dataclass(frozen=True)
class CellPlacement:
    """One cell instance in the unrolled network, with its resolved shapes."""

    index: int
    stage: str | None  # stage name, or None for a downsample cell
    cell: CellSpec
    c_in: int
    c_out: int
    stride: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]


def placements(spec: NetworkSpec) -> list[CellPlacement]:
    """Unroll the layout into cell instances with input/output channels and sizes.

    A downsample cell's output width is the ``channels`` of the stage that follows it.
    """
    c, h, w = stem_output(spec)
    out: list[CellPlacement] = []
    for pos, item in enumerate(spec.layout):
        if isinstance(item, StageSpec):
            cell = spec.cell(item.cell)
            for _ in range(item.depth):
                out.append(
                    CellPlacement(len(out), item.name, cell, c, item.channels, 1, (h, w), (h, w))
                )
                c = item.channels
        else:
            nxt = _next_stage(spec, pos)
            if nxt is None:
                raise SpecError("a downsample must be followed by a stage")
            cell = spec.cell(item.cell)
            oh, ow = halve(h), halve(w)
            out.append(CellPlacement(len(out), None, cell, c, nxt.channels, 2, (h, w), (oh, ow)))
            c, h, w = nxt.channels, oh, ow
    return out


def _next_is_downsample(spec: NetworkSpec, pos: int) -> bool:
    return pos + 1 < len(spec.layout) and isinstance(spec.layout[pos + 1], DownsampleSpec)


def _next_stage(spec: NetworkSpec, pos: int) -> StageSpec | None:
    nxt = spec.layout[pos + 1] if pos + 1 < len(spec.layout) else None
    return nxt if isinstance(nxt, StageSpec) else None


def feature_channels(spec: NetworkSpec) -> int:
    """Channels entering the head."""
    cells = placements(spec)
    return cells[-1].c_out if cells else spec.stem.channels


# --------------------------------------------------------------------------- liveness


def _active_sources(cell: CellSpec) -> set[str]:
    """Nodes (and ``in``) whose value is not identically zero."""
    active = {"in"} if cell.preprocess != "none" else set()
    for node in cell.nodes:
        if any(e.op != "none" and e.source in active for e in node.edges):
            active.add(node.name)
    return active


def live_edges(cell: CellSpec) -> tuple[tuple[str, EdgeSpec], ...]:
    """The (node name, edge) pairs that contribute to the cell output, in file order.

    An edge from a node that is identically zero (all its inputs are ``none`` or dead) contributes
    nothing, and a node that does not reach the last node is never computed.  The builder, the
    complexity counter and packed inference all use exactly this set.
    """
    active = _active_sources(cell)
    useful = {cell.nodes[-1].name}
    for node in reversed(cell.nodes):
        if node.name in useful and node.name in active:
            for e in node.edges:
                if e.op != "none" and e.source in active:
                    useful.add(e.source)
    return tuple(
        (node.name, e)
        for node in cell.nodes
        if node.name in useful and node.name in active
        for e in node.edges
        if e.op != "none" and e.source in active
    )


def uses_input(cell: CellSpec) -> bool:
    """Whether the preprocessed input ``in`` reaches the cell output."""
    return any(e.source == "in" for _, e in live_edges(cell))


# --------------------------------------------------------------------------- semantic checks


@dataclass(frozen=True)
class Problem:
    """A semantic finding; ``path`` names the offending field like a pydantic ``loc``."""

    code: str
    message: str
    path: tuple[str | int, ...]
    severity: Literal["error", "warning"] = "error"
    hint: str | None = None


def check_spec(spec: NetworkSpec) -> list[Problem]:
    """Cross-field rules that pydantic field types cannot express.  Errors first, then warnings."""
    probs: list[Problem] = []
    names: dict[str, int] = {}
    for ci, cell in enumerate(spec.cells):
        if cell.name in names:
            probs.append(
                Problem(
                    "duplicate-name", f"cell {cell.name!r} is defined twice", ("cells", ci, "name")
                )
            )
        names.setdefault(cell.name, ci)
        probs.extend(_check_cell(cell, ci))

    used: set[str] = set()
    stage_names: set[str] = set()
    prev_stage_ch: int | None = None
    last_was_down = False
    for li, item in enumerate(spec.layout):
        if isinstance(item, StageSpec):
            last_was_down = False
            if item.name in stage_names:
                probs.append(
                    Problem(
                        "duplicate-name",
                        f"stage {item.name!r} is defined twice",
                        ("layout", li, "stage", "name"),
                    )
                )
            stage_names.add(item.name)
            if prev_stage_ch is not None and item.channels < prev_stage_ch:
                probs.append(
                    Problem(
                        "unusual-layout",
                        f"stage {item.name!r} is narrower ({item.channels}) than the stage before it "
                        f"({prev_stage_ch})",
                        ("layout", li, "stage", "channels"),
                        severity="warning",
                    )
                )
            prev_stage_ch = item.channels
            probs.extend(
                _check_cell_ref(spec, names, item.cell, 1, ("layout", li, "stage", "cell"))
            )
        else:
            loc: tuple[str | int, ...] = ("layout", li, "downsample", "cell")
            if last_was_down:
                probs.append(
                    Problem(
                        "layout",
                        "two downsamples in a row",
                        loc,
                        hint="put a stage between them: a downsample takes its width from the next stage",
                    )
                )
            elif _next_stage(spec, li) is None and not _next_is_downsample(spec, li):
                probs.append(
                    Problem(
                        "layout",
                        "a downsample must be followed by a stage",
                        loc,
                        hint="its output width is the 'channels' of the stage after it; add one",
                    )
                )
            last_was_down = True
            probs.extend(_check_cell_ref(spec, names, item.cell, 2, loc))
        used.add(item.cell)

    if not any(isinstance(i, StageSpec) for i in spec.layout):
        probs.append(
            Problem(
                "missing-section",
                "the network has no stage",
                ("layout",),
                hint="add a 'stage' line",
            )
        )

    total = 0
    for li, item in enumerate(spec.layout):
        total += item.depth if isinstance(item, StageSpec) else 1
        if total > Limits.MAX_TOTAL_CELLS:
            field = "depth" if isinstance(item, StageSpec) else "cell"
            probs.append(
                Problem(
                    "too-large",
                    f"the network has more than {Limits.MAX_TOTAL_CELLS} cells",
                    ("layout", li, item.kind, field),
                    hint="reduce the stage depths",
                )
            )
            break

    if not any(p.severity == "error" for p in probs):
        probs.extend(_check_sizes(spec))

    for ci, cell in enumerate(spec.cells):
        if cell.name not in used:
            probs.append(
                Problem(
                    "unused-cell",
                    f"cell {cell.name!r} is defined but never used",
                    ("cells", ci, "name"),
                    severity="warning",
                )
            )
    probs.sort(key=lambda p: p.severity != "error")
    return probs


def _check_cell_ref(
    spec: NetworkSpec, names: dict[str, int], ref: str, stride: int, loc: tuple[str | int, ...]
) -> list[Problem]:
    if ref not in names:
        from difflib import get_close_matches

        close = get_close_matches(ref, list(names), n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"defined cells: {', '.join(names) or 'none'}"
        )
        return [Problem("unknown-cell", f"no cell named {ref!r}", loc, hint=hint)]
    cell = spec.cells[names[ref]]
    if cell.stride != stride:
        where = "a downsample" if stride == 2 else "a stage"
        want = "stride=2" if stride == 2 else "stride=1"
        return [
            Problem(
                "bad-stride",
                f"cell {ref!r} has stride={cell.stride} but {where} needs {want}",
                loc,
                hint=f"use a cell declared with {want} here",
            )
        ]
    return []


def _check_cell(cell: CellSpec, ci: int) -> list[Problem]:
    probs: list[Problem] = []
    base: tuple[str | int, ...] = ("cells", ci)
    seen: list[str] = []
    for ni, node in enumerate(cell.nodes):
        expected = f"n{ni + 1}"
        if node.name != expected:
            probs.append(
                Problem(
                    "node-order",
                    f"node {node.name!r} out of order: expected {expected!r}",
                    (*base, "nodes", ni, "name"),
                    hint="nodes are named n1, n2, ... in order",
                )
            )
        sources: set[str] = set()
        for ei, e in enumerate(node.edges):
            loc = (*base, "nodes", ni, "edges", ei, "source")
            if e.source in sources:
                probs.append(
                    Problem(
                        "duplicate-edge",
                        f"node {node.name!r} lists an edge from {e.source!r} twice",
                        loc,
                        hint="keep one edge per source; a node sums its inputs",
                    )
                )
            sources.add(e.source)
            if e.source != "in" and e.source not in seen:
                if e.source == node.name:
                    msg = f"node {node.name!r} takes an edge from itself"
                elif _is_node_name(e.source) and any(n.name == e.source for n in cell.nodes):
                    msg = f"edge from {e.source!r}, which comes after {node.name!r}"
                else:
                    msg = f"edge from undefined node {e.source!r}"
                probs.append(
                    Problem(
                        "bad-edge",
                        msg,
                        loc,
                        hint=f"edges come from 'in' or an earlier node ({', '.join(['in', *seen])})",
                    )
                )
        seen.append(node.name)
        if node.name != expected:  # later edges may use the name this node should have had
            seen.append(expected)
    if cell.stride == 1 and "bfr" in (cell.preprocess, cell.shortcut):
        field = "preprocess" if cell.preprocess == "bfr" else "shortcut"
        probs.append(
            Problem(
                "bad-op",
                "'bfr' (binary factorized reduce) only works in a stride=2 cell",
                (*base, field),
                hint="use bconv3x3 or bconv1x1, or declare the cell with stride=2",
            )
        )
    if probs:
        return probs
    active = _active_sources(cell)
    live_nodes = {n for n, _ in live_edges(cell)}
    for ni, node in enumerate(cell.nodes):
        if node.name not in active:
            probs.append(
                Problem(
                    "dead-node",
                    f"node {node.name!r} has no live input and is always zero",
                    (*base, "nodes", ni, "name"),
                    severity="warning",
                    hint="BARS keeps 'none' on purpose, but edges leaving this node do nothing",
                )
            )
        elif ni < len(cell.nodes) - 1 and node.name not in live_nodes:
            probs.append(
                Problem(
                    "unused-node",
                    f"node {node.name!r} does not reach the cell output and is never computed",
                    (*base, "nodes", ni, "name"),
                    severity="warning",
                )
            )
    if cell.nodes[-1].name not in active and cell.shortcut == "none":
        probs.append(
            Problem(
                "dead-cell",
                f"cell {cell.name!r} always outputs zero (dead last node and shortcut=none)",
                (*base, "name"),
                severity="warning",
            )
        )
    return probs


def _is_node_name(s: str) -> bool:
    return len(s) > 1 and s[0] == "n" and s[1:].isdigit()


def _check_sizes(spec: NetworkSpec) -> list[Problem]:
    probs: list[Problem] = []
    _, h, w = stem_output(spec)
    for li, item in enumerate(spec.layout):
        if isinstance(item, DownsampleSpec):
            if h <= 1 and w <= 1:
                probs.append(
                    Problem(
                        "spatial-size",
                        f"downsample at 1x1 resolution: the input {spec.input.height}x"
                        f"{spec.input.width} is too small for this many downsamples",
                        ("layout", li, "downsample", "cell"),
                        hint="remove a downsample or use a larger input",
                    )
                )
                return probs
            h, w = halve(h), halve(w)
    for p in placements(spec):
        for op, field in ((p.cell.preprocess, "preprocess"), (p.cell.shortcut, "shortcut")):
            if op == "bfr" and p.c_out % 2:
                ci = spec.cell_names().index(p.cell.name)
                probs.append(
                    Problem(
                        "bad-channels",
                        f"'bfr' in cell {p.cell.name!r} needs an even output width, got {p.c_out}",
                        ("cells", ci, field),
                        hint="make the stage after this downsample an even number of channels",
                    )
                )
                return probs
    return probs


def ensure_valid(spec: NetworkSpec) -> NetworkSpec:
    """Raise :class:`SpecError` listing every error of ``check_spec``; return the spec otherwise."""
    errors = [p for p in check_spec(spec) if p.severity == "error"]
    if errors:
        lines = [f"{'.'.join(map(str, p.path))}: error[{p.code}]: {p.message}" for p in errors]
        raise SpecError(
            "invalid network spec:\n  " + "\n  ".join(lines),
            hint=errors[0].hint or "fix the fields named above",
        )
    return spec


__all__ = [
    "BINARY_OPS",
    "CELL_OPS",
    "EDGE_OPS",
    "FORMAT_VERSION",
    "PARAM_FREE_OPS",
    "STEM_OPS",
    "CellOp",
    "CellPlacement",
    "CellSpec",
    "DownsampleSpec",
    "EdgeOp",
    "EdgeSpec",
    "HeadSpec",
    "InputSpec",
    "Limits",
    "NetworkSpec",
    "NodeSpec",
    "Problem",
    "StageSpec",
    "StemOp",
    "StemSpec",
    "check_spec",
    "conv_out",
    "ensure_valid",
    "feature_channels",
    "halve",
    "live_edges",
    "placements",
    "stem_output",
    "uses_input",
]
