"""Shape bookkeeping and liveness of a spec, shared by the builder, the complexity counter and the search."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bars_zoo.errors import SpecError
from bars_zoo.spec._model import CellSpec, DownsampleSpec, EdgeSpec, NetworkSpec, StageSpec

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
