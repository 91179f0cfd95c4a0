"""How a drawing shows an op: its colour by kind (binary convolutions blue, shortcuts / identity /
average-pool green, the full-precision ``conv1x1`` orange, never-run grey) and a graphviz edge's
attributes (solid and thick for convolutions, dashed for shortcuts, dotted where it never runs).
Shared by the cell's graph view (:mod:`bars_zoo.draw`) and its table view (:mod:`bars_zoo.drawtable`).
"""

from __future__ import annotations

from bars_zoo.spec import BINARY_OPS

BINARY_COLOUR = "#1f5fa8"
SHORTCUT_COLOUR = "#2e8b3a"
FP_COLOUR = "#d9730d"
DEAD_COLOUR = "#a0a0a0"


def op_colour(op: str) -> str:
    """The colour of an edge that runs ``op``."""
    if op in BINARY_OPS:
        return BINARY_COLOUR
    if op == "conv1x1":
        return FP_COLOUR
    return SHORTCUT_COLOUR


def edge_attrs(op: str, live: bool, label: str | None = None) -> dict[str, str]:
    """The graphviz attributes of an edge running ``op`` (``live``: it runs), labelled ``label``
    (default: the op)."""
    colour = op_colour(op) if live else DEAD_COLOUR
    attrs = {"label": label or op, "color": colour, "fontcolor": colour}
    if not live:
        attrs["style"] = "dotted"
    elif op in BINARY_OPS or op == "conv1x1":
        attrs["penwidth"] = "2"
    else:
        attrs["style"] = "dashed"
    return attrs


__all__ = [
    "BINARY_COLOUR",
    "DEAD_COLOUR",
    "FP_COLOUR",
    "SHORTCUT_COLOUR",
    "edge_attrs",
    "op_colour",
]
