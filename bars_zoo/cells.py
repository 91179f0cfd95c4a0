"""A cell as a torch module (BARS Fig. 2): ``x -> preprocess -> in``, nodes sum their edges, output =
last node + ``shortcut(x)``.

Only the edges in :func:`bars_zoo.spec.live_edges` are built and run, so a dead or unused node costs
nothing, exactly as the complexity counter counts it.
"""

from __future__ import annotations

from torch import Tensor, nn

from bars_zoo.ops import Zero, make_cell_op, make_edge_op
from bars_zoo.spec import CellSpec, live_edges, uses_input


def edge_key(node: str, source: str) -> str:
    """Module name of the edge ``source -> node`` (``n3_in``, ``n4_n2``)."""
    return f"{node}_{source}"


class Cell(nn.Module):
    """One cell instance: ``C_in -> C_out`` at ``stride`` (1 for normal cells, 2 for downsample)."""

    def __init__(self, spec: CellSpec, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.spec = spec
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        live = live_edges(spec)
        self.preprocess = (
            make_cell_op(spec.preprocess, c_in, c_out, stride) if uses_input(spec) else None
        )
        self.edges = nn.ModuleDict(
            {edge_key(n, e.source): make_edge_op(e.op, c_out, spec.op_shortcut) for n, e in live}
        )
        self.plan: list[tuple[str, str, str]] = [
            (n, e.source, edge_key(n, e.source)) for n, e in live
        ]
        self.shortcut = (
            make_cell_op(spec.shortcut, c_in, c_out, stride) if spec.shortcut != "none" else None
        )
        self.zero = Zero(c_in, c_out, stride)
        self.last = spec.nodes[-1].name

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, H/s, W/s)
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
        return out if out is not None else self.zero(x)

    def extra_repr(self) -> str:
        return f"{self.spec.name}: {self.c_in} -> {self.c_out}, stride={self.stride}"
