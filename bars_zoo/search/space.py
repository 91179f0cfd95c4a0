"""The BARS search space: its shape, one point in it (:class:`Choice`), that point as a
:class:`~bars_zoo.spec.NetworkSpec`, and the exact, differentiable expected OPs of a distribution over it.

Space (Zhao et al., "BARS", 2021, Sec. 4.1-4.2 and 5.1): full-precision stem -> stage 1 -> reduction ->
stage 2 -> ... -> head.  Stage ``s`` has one mandatory normal cell and up to ``max(depth_choices)``
optional ones; its width is ``ratio * base_channels[s]`` for a ratio in ``width_ratios``.  All normal
cells of a stage share one topology (``normal<s>``), all reduction cells share one (``reduce``).  A
cell has ``nodes`` intermediate nodes ``n1..nK``; node ``nk`` sums one edge from each of ``in, n1 ..
n(k-1)``, each edge an op of ``edge_ops``.

**Expected OPs.**  The derived network's OPs (``bars_zoo.complexity``: FLOPs + BOPs/64, MAC
convention) is a sum of terms, each a product of functions of *independent* decisions (the width of a
stage, the width of the next stage, a stage's depth, a cell type's topology), so its expectation under
the product of the categorical distributions is the same sum with every factor replaced by its mean.
The only non-trivial mean is the topology's: an edge costs only when it is *live*
(:func:`bars_zoo.spec.live_edges`: not ``none`` and on a path ``in -> ... -> last node`` of non-``none``
edges), and the preprocess costs only when such a path leaves ``in``.  For an edge ``j -> k``,
"``in`` reaches ``j``" depends only on edges into nodes ``<= j`` and "``k`` reaches the last node" only on
edges out of nodes ``>= k``: disjoint sets, so ``P(live, op) = p(op) * P(in ~> j) * P(k ~> last)``.  The
two reachability marginals come from a dynamic programme over reachable sets (``2^K`` states,
vectorised).  For one-hot distributions the result equals ``complexity(derived spec).ops`` exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from bars_zoo.search.config import SearchConfig, resolve_channels
from bars_zoo.spec import (
    CellSpec,
    DownsampleSpec,
    EdgeSpec,
    HeadSpec,
    InputSpec,
    NetworkSpec,
    NodeSpec,
    StageSpec,
    StemSpec,
    halve,
    live_edges,
)

_KERNEL_AREA = {"bconv3x3": 9, "bconv1x1": 1, "bfr": 9, "identity": 0, "shortcut": 0, "none": 0}


def node_name(index: int) -> str:
    """``0 -> "in"``, ``k -> "nk"``."""
    return "in" if index == 0 else f"n{index}"


@dataclass(frozen=True)
class Choice:
    """One architecture of the space: op index per edge of each cell type, width index and depth
    index per stage (indices into ``edge_ops``, ``width_ratios``, ``depth_choices``)."""

    edges: tuple[tuple[int, ...], ...]
    width: tuple[int, ...]
    depth: tuple[int, ...]


@dataclass(frozen=True)
class SearchSpace:
    """The shape of the supernet for one config and one input size."""

    config: SearchConfig
    input_shape: tuple[int, int, int]
    num_classes: int

    # ------------------------------------------------------------------ structure

    @property
    def num_stages(self) -> int:
        return len(self.config.base_channels)

    @cached_property
    def cell_types(self) -> tuple[str, ...]:
        """``normal1 .. normalS`` then ``reduce`` (only when there is more than one stage)."""
        names = tuple(f"normal{s + 1}" for s in range(self.num_stages))
        return (*names, "reduce") if self.num_stages > 1 else names

    @cached_property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """``(node, source)`` index pairs in file order: ``(1,0), (2,0), (2,1), (3,0), ...``."""
        k = self.config.nodes
        return tuple((n, s) for n in range(1, k + 1) for s in range(n))

    def edge_index(self, node: int, source: int) -> int:
        return self.edges.index((node, source))

    @cached_property
    def channels(self) -> tuple[tuple[int, ...], ...]:
        """Resolved channels per stage and width choice."""
        return tuple(
            tuple(resolve_channels(b, r) for r in self.config.width_ratios)
            for b in self.config.base_channels
        )

    @cached_property
    def max_channels(self) -> tuple[int, ...]:
        return tuple(max(c) for c in self.channels)

    @cached_property
    def resolutions(self) -> tuple[tuple[int, int], ...]:
        """(H, W) of each stage (the stem keeps the input size: conv3x3, stride 1, no pool)."""
        _, h, w = self.input_shape
        out = []
        for _ in range(self.num_stages):
            out.append((h, w))
            h, w = halve(h), halve(w)
        return tuple(out)

    @property
    def max_optional(self) -> int:
        return max(self.config.depth_choices)

    @property
    def num_cells(self) -> int:
        """Cells in the supernet: (1 + max optional) per stage plus the reductions."""
        return self.num_stages * (1 + self.max_optional) + (self.num_stages - 1)

    # ------------------------------------------------------------------ derive

    def argmax_choice(self, edge_p: Tensor, width_p: Tensor, depth_p: Tensor) -> Choice:
        """The most likely architecture (per decision)."""
        return Choice(
            edges=tuple(tuple(int(i) for i in row) for row in edge_p.argmax(-1).tolist()),
            width=tuple(int(i) for i in width_p.argmax(-1).tolist()),
            depth=tuple(int(i) for i in depth_p.argmax(-1).tolist()),
        )

    def cell_spec(self, ctype: str, ops: tuple[int, ...], *, prune: bool = True) -> CellSpec:
        """The cell of type ``ctype`` with these edge ops; ``prune`` keeps only its live edges (nodes
        renumbered, see :func:`prune_cell`)."""
        cfg = self.config
        reduce = ctype == "reduce"
        nodes = []
        for k in range(1, cfg.nodes + 1):
            edges = [
                EdgeSpec(source=node_name(s), op=cfg.edge_ops[ops[self.edge_index(k, s)]])
                for s in range(k)
                if cfg.edge_ops[ops[self.edge_index(k, s)]] != "none"
            ]
            nodes.append(NodeSpec(name=node_name(k), edges=tuple(edges)))
        raw = CellSpec(
            name=ctype,
            stride=2 if reduce else 1,
            preprocess=cfg.reduce_preprocess if reduce else cfg.preprocess,
            shortcut=cfg.reduce_shortcut if reduce else cfg.normal_shortcut,
            op_shortcut=cfg.op_shortcut,
            nodes=tuple(nodes),
        )
        return prune_cell(raw) if prune else raw

    def to_spec(
        self, choice: Choice, *, name: str, meta: dict[str, str] | None = None, prune: bool = True
    ) -> NetworkSpec:
        """The network of ``choice``: resolved channels, ``1 + optional`` cells per stage."""
        c, h, w = self.input_shape
        cells = tuple(
            self.cell_spec(t, ops, prune=prune)
            for t, ops in zip(self.cell_types, choice.edges, strict=True)
        )
        layout: list[StageSpec | DownsampleSpec] = []
        for s in range(self.num_stages):
            if s:
                layout.append(DownsampleSpec(kind="downsample", cell="reduce"))
            layout.append(
                StageSpec(
                    kind="stage",
                    name=f"s{s + 1}",
                    channels=self.channels[s][choice.width[s]],
                    depth=1 + self.config.depth_choices[choice.depth[s]],
                    cell=f"normal{s + 1}",
                )
            )
        return NetworkSpec(
            version=1,
            name=name,
            input=InputSpec(channels=c, height=h, width=w),
            num_classes=self.num_classes,
            stem=StemSpec(op="conv3x3", channels=self.config.stem_channels, stride=1, pool="none"),
            cells=cells,
            layout=tuple(layout),
            head=HeadSpec(pool="avgpool", classifier="linear"),
            meta=dict(meta or {}),
        )

    # ------------------------------------------------------------------ expected complexity

    @cached_property
    def _bitmasks(self) -> list[Tensor]:
        """``_bitmasks[m]``: (2^m, m) bool, row ``i`` = the bits of ``i``."""
        out = []
        for m in range(self.config.nodes + 1):
            rows = list(itertools.product([False, True], repeat=m))
            out.append(torch.tensor([r[::-1] for r in rows], dtype=torch.bool).reshape(2**m, m))
        return out

    @cached_property
    def _consts(self) -> dict[tuple[str, torch.device, torch.dtype], Any]:
        return {}

    def _const(self, name: str, like: Tensor) -> Any:
        """Constant tensors of the expected-OPs computation on ``like``'s device (made once)."""
        key = (name, like.device, like.dtype)
        if key not in self._consts:
            cfg, dev, dt = self.config, like.device, like.dtype
            if name == "bits":
                value: Any = [b.to(dev) for b in self._bitmasks]
            elif name == "area":
                value = torch.tensor(
                    [float(_KERNEL_AREA[o]) for o in cfg.edge_ops], dtype=dt, device=dev
                )
            elif name in ("src", "dst"):
                pick = 1 if name == "src" else 0
                value = torch.tensor([e[pick] for e in self.edges], device=dev)
            elif name == "chans":
                value = torch.tensor(self.channels, dtype=dt, device=dev)
            else:  # depths
                value = torch.tensor([float(d) for d in cfg.depth_choices], dtype=dt, device=dev)
            self._consts[key] = value
        return self._consts[key]

    def reachability(self, p_none: Tensor) -> tuple[Tensor, Tensor]:
        """``P(in ~> node)`` and ``P(node ~> last)`` for nodes ``0..K`` (``0`` = ``in``), per cell type.

        ``p_none``: (T, E) probability that each edge is ``none``.  Returns two (T, K + 1) tensors.
        """
        k_nodes = self.config.nodes
        t = p_none.shape[0]
        one = p_none.new_ones(t)
        fwd = [one]
        probs = p_none.new_ones(t, 1)  # (T, 2^m): distribution over the reachable subsets so far
        for k in range(1, k_nodes + 1):
            srcs = [self.edge_index(k, j) for j in range(1, k)]
            q = self._none_prob(
                p_none,
                self._index(srcs, p_none),
                self.edge_index(k, 0),
                self._const("bits", p_none)[k - 1],
            )
            active = probs * (1 - q)
            fwd.append(active.sum(-1))
            probs = torch.cat([probs * q, active], dim=1)
        bwd = [one]  # node K reaches itself
        probs = p_none.new_ones(t, 1)
        for j in range(k_nodes - 1, -1, -1):
            dsts = [self.edge_index(n, j) for n in range(k_nodes - 1, j, -1)]
            q = self._none_prob(
                p_none,
                self._index(dsts, p_none),
                self.edge_index(k_nodes, j),
                self._const("bits", p_none)[len(dsts)],
            )
            useful = probs * (1 - q)
            bwd.append(useful.sum(-1))
            probs = torch.cat([probs * q, useful], dim=1)
        return torch.stack(fwd, 1), torch.stack(bwd[::-1], 1)

    def _index(self, idx: list[int], like: Tensor) -> Tensor:
        """``idx`` as an index tensor on ``like``'s device, made once (no host copy per step)."""
        key = (f"index{tuple(idx)}", like.device, torch.int64)
        if key not in self._consts:
            self._consts[key] = torch.tensor(idx, dtype=torch.int64, device=like.device)
        value: Tensor = self._consts[key]
        return value

    @staticmethod
    def _none_prob(p_none: Tensor, varying: Tensor, fixed: int, bits: Tensor) -> Tensor:
        """(T, 2^m): P(no non-none edge links the node to the set given by each bit pattern).

        The product over the ``m`` edges is a chain of multiplies, not ``prod``: ``prod``'s
        backward reads the number of zeros back to the host (``.item()``), a synchronisation that
        a CUDA graph capture cannot record, so the graphed alpha step never captured.
        """
        pn = p_none[:, varying]  # (T, m)
        factors = torch.where(bits[None], pn[:, None, :], 1.0)  # (T, 2^m, m)
        out = p_none[:, fixed, None].expand(factors.shape[:2])
        for f in factors.unbind(-1):
            out = out * f
        return out

    def topology_costs(self, edge_p: Tensor) -> tuple[Tensor, Tensor]:
        """Per cell type: expected kernel area of live binary edges (``sum P(live, op) * k^2``) and
        ``P(preprocess runs)``.  ``edge_p``: (T, E, O) op probabilities."""
        ops = self.config.edge_ops
        p_none = (
            edge_p[..., ops.index("none")] if "none" in ops else edge_p.new_zeros(edge_p.shape[:2])
        )
        fwd, bwd = self.reachability(p_none)
        area, src, dst = (self._const(k, edge_p) for k in ("area", "src", "dst"))
        live = fwd[:, src] * bwd[:, dst]  # (T, E)
        return ((edge_p @ area) * live).sum(-1), bwd[:, 0]

    def expected_complexity(
        self, edge_p: Tensor, width_p: Tensor, depth_p: Tensor
    ) -> dict[str, Tensor]:
        """Expected ``ops``, ``bops``, ``flops`` and ``binary_params`` of the derived network (0-d
        tensors, differentiable).  A binary conv's BOPs are its weights times its output pixels, so
        ``binary_params`` is the BOPs sum without the resolution factor.

        ``edge_p`` (T, E, O), ``width_p`` (S, R), ``depth_p`` (S, D): probabilities (rows sum to 1).
        """
        cfg = self.config
        conv_area, p_in = self.topology_costs(edge_p)
        chans = self._const("chans", width_p)  # (S, R)
        c1 = (width_p * chans).sum(-1)  # E[C_s]
        c2 = (width_p * chans**2).sum(-1)  # E[C_s^2]
        n_opt = (depth_p * self._const("depths", depth_p)).sum(-1)
        pre_k = _KERNEL_AREA[cfg.preprocess]
        sc_k = _KERNEL_AREA[cfg.normal_shortcut]
        rpre_k = _KERNEL_AREA[cfg.reduce_preprocess]
        rsc_k = _KERNEL_AREA[cfg.reduce_shortcut]
        c0 = float(cfg.stem_channels)
        bops = width_p.new_zeros(())
        params = width_p.new_zeros(())
        for s in range(self.num_stages):
            h, w = self.resolutions[s]
            hw = float(h * w)
            per_cell = conv_area[s] * c2[s] + (p_in[s] * pre_k + sc_k) * c2[s]
            first_in = c0 * c1[s] if s == 0 else c2[s]  # E[C_in * C_out] of the mandatory cell
            first = conv_area[s] * c2[s] + (p_in[s] * pre_k + sc_k) * first_in
            stage = first + n_opt[s] * per_cell
            if s:  # the reduction cell before stage s: C_{s-1} -> C_s at stage s's resolution
                r = self.num_stages
                cross = c1[s - 1] * c1[s]
                stage = stage + conv_area[r] * c2[s] + (p_in[r] * rpre_k + rsc_k) * cross
            bops = bops + hw * stage
            params = params + stage
        c_img, h0, w0 = self.input_shape
        flops = c_img * c0 * 9 * h0 * w0 + c1[-1] * self.num_classes
        return {"ops": flops + bops / 64, "bops": bops, "flops": flops, "binary_params": params}

    def extreme_choices(self) -> tuple[Choice, Choice]:
        """The cheapest network (``none`` everywhere, narrowest, shallowest) and the dearest one
        (the largest-kernel op on every edge, widest, deepest)."""
        cfg = self.config
        t, e, s = len(self.cell_types), len(self.edges), self.num_stages
        # 'none' also spares the preprocess, so it beats 'shortcut' though both cost no BOPs
        order = sorted(
            range(len(cfg.edge_ops)),
            key=lambda i: (_KERNEL_AREA[cfg.edge_ops[i]], cfg.edge_ops[i] != "none"),
        )
        widths = sorted(range(len(cfg.width_ratios)), key=lambda i: cfg.width_ratios[i])
        depths = sorted(range(len(cfg.depth_choices)), key=lambda i: cfg.depth_choices[i])
        cheap = Choice(((order[0],) * e,) * t, (widths[0],) * s, (depths[0],) * s)
        dear = Choice(((order[-1],) * e,) * t, (widths[-1],) * s, (depths[-1],) * s)
        return cheap, dear

    @cached_property
    def _extreme_counts(self) -> tuple[Any, Any]:
        """``complexity()`` of the cheapest and of the most expensive derivable network."""
        from bars_zoo.complexity import count

        cheap, dear = self.extreme_choices()
        return count(self.to_spec(cheap, name="cheapest")), count(
            self.to_spec(dear, name="dearest")
        )

    def ops_range(self) -> tuple[float, float]:
        """OPs of the cheapest and of the most expensive derivable network (``bars_zoo.complexity``)."""
        lo, hi = self._extreme_counts
        return lo.ops, hi.ops

    def params_range(self) -> tuple[float, float]:
        """Parameters of the cheapest and of the most expensive derivable network."""
        lo, hi = self._extreme_counts
        return float(lo.params), float(hi.params)


def prune_cell(cell: CellSpec) -> CellSpec:
    """The same cell keeping only its live edges and the nodes they touch, renumbered ``n1..``.

    The builder and the complexity counter only ever use live edges, so this changes nothing a
    network computes; it keeps derived genotypes free of dead-node warnings.  A cell with no live
    edge keeps a single empty node (its output is the cell shortcut alone).
    """
    live = live_edges(cell)
    keep = [n.name for n in cell.nodes if any(name == n.name for name, _ in live)]
    if not keep:
        return cell.model_copy(update={"nodes": (NodeSpec(name="n1", edges=()),)})
    rename = {"in": "in", **{old: f"n{i + 1}" for i, old in enumerate(keep)}}
    nodes = tuple(
        NodeSpec(
            name=rename[old],
            edges=tuple(
                EdgeSpec(source=rename[e.source], op=e.op) for name, e in live if name == old
            ),
        )
        for old in keep
    )
    return cell.model_copy(update={"nodes": nodes})


__all__ = ["Choice", "SearchSpace", "node_name", "prune_cell", "resolve_channels"]
