"""A cell as a torch module (BARS Fig. 2, single input)::

    in   = preprocess(x)                               C_in -> C_out, stride s (s = 2: downsample cell)
    nK   = sum over the edges (src, op) of nK of op(src)        C_out -> C_out, stride 1
    out  = n_last + shortcut(x)                        the cell shortcut, C_in -> C_out, stride s

Only the edges in :func:`bars_zoo.spec.live_edges` are built and run, so a dead or unused node costs
nothing, exactly as the complexity counter counts it; ``preprocess`` is built only when ``in`` reaches
the output (:func:`bars_zoo.spec.uses_input`) and ``shortcut`` only when it is not ``none``.
Module names: ``preprocess``, ``edges.{node}_{source}`` (e.g. ``edges.n3_in``), ``shortcut``.
"""

from __future__ import annotations

from torch import Tensor, nn

from bars_zoo.ops import Zero, make_cell_op, make_edge_op
from bars_zoo.spec import CellSpec, live_edges, uses_input


def edge_key(node: str, source: str) -> str:
    """Module name of the edge ``source -> node`` (``n3_in``, ``n4_n2``)."""
    return f"{node}_{source}"


class Cell(nn.Module):
    """One cell instance: ``(B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))``, ``s = stride``.

    ``plan`` lists the live edges in execution (file) order as ``(node, source, edge key)``.
    """

    def __init__(self, spec: CellSpec, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.spec = spec
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        live = live_edges(spec)
        self.preprocess: nn.Module | None = (
            make_cell_op(spec.preprocess, c_in, c_out, stride) if uses_input(spec) else None
        )
        self.edges = nn.ModuleDict(
            {edge_key(n, e.source): make_edge_op(e.op, c_out, spec.op_shortcut) for n, e in live}
        )
        self.plan: list[tuple[str, str, str]] = [
            (n, e.source, edge_key(n, e.source)) for n, e in live
        ]
        self.shortcut: nn.Module | None = (
            make_cell_op(spec.shortcut, c_in, c_out, stride) if spec.shortcut != "none" else None
        )
        self.last = spec.nodes[-1].name
        # A cell with no live edge and shortcut=none is identically zero (BARS keeps 'none').
        self.zero: Zero | None = (
            Zero(c_in, c_out, stride) if not live and self.shortcut is None else None
        )

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))
        states: dict[str, Tensor] = {}
        if self.preprocess is not None:
            states["in"] = self.preprocess(x)
        for node, source, key in self.plan:
            y = self.edges[key](states[source])
            states[node] = states[node] + y if node in states else y
        out = states.get(self.last)
        if self.shortcut is not None:
            s = self.shortcut(x)
            out = s if out is None else out + s
        if out is None:
            assert self.zero is not None
            return self.zero(x)
        return out

    def extra_repr(self) -> str:
        return f"{self.spec.name}: {self.c_in} -> {self.c_out}, stride={self.stride}"
