"""The table view of a cell: one graphviz HTML-like label with a header row of sources (``in``,
``n1`` ..) and one row per node, the op of the edge ``nK <- SOURCE`` in row ``nK``, column
``SOURCE`` (coloured by :mod:`bars_zoo.drawstyle`, grey and italic where it never runs).  Used for
cells too dense to read as a graph (:func:`bars_zoo.draw.cell_graph`).
"""

from __future__ import annotations

import html

from bars_zoo.drawstyle import DEAD_COLOUR, op_colour
from bars_zoo.spec import BINARY_OPS, CellSpec, live_edges, uses_input


def html_table(cell: CellSpec) -> str:
    """The table view's HTML-like label: a header row of sources, one row per node."""
    live = live_edges(cell)
    live_keys = {(n, e.source) for n, e in live}
    live_nodes = {n for n, _ in live}
    sources = ["in", *(node.name for node in cell.nodes[:-1])]

    def head(name: str, on: bool, fill: str) -> str:
        if on:
            return f'<TD BGCOLOR="{fill}"><B>{name}</B></TD>'
        return f'<TD><FONT COLOR="{DEAD_COLOUR}">{name}</FONT></TD>'

    rows = ['<TD BGCOLOR="#eeeeee">node &lt;- source</TD>']
    rows.append(head("in", uses_input(cell), "#dde8f6"))
    rows += [head(name, name in live_nodes, "#fff2cc") for name in sources[1:]]
    lines = ["<TR>" + "".join(rows) + "</TR>"]
    for k, node in enumerate(cell.nodes):
        ops = {e.source: e.op for e in node.edges if e.op != "none"}
        tds = [head(node.name, node.name in live_nodes, "#fff2cc")]
        for j, source in enumerate(sources):
            op = ops.get(source)
            if j > k:  # a node takes edges only from in and earlier nodes
                tds.append('<TD BGCOLOR="#f4f4f4"></TD>')
            elif op is None:
                tds.append("<TD></TD>")
            else:
                on = (node.name, source) in live_keys
                label = op + (" (+x)" if on and cell.op_shortcut and op in BINARY_OPS else "")
                text = html.escape(label) if on else f"<I>{html.escape(op)}</I>"
                tds.append(
                    f'<TD><FONT COLOR="{op_colour(op) if on else DEAD_COLOUR}">{text}</FONT></TD>'
                )
        if k == len(cell.nodes) - 1:  # the last node is the cell's output: its row's end feeds out
            tds[-1] = tds[-1].replace("<TD", '<TD PORT="out"', 1)
        lines.append("<TR>" + "".join(tds) + "</TR>")
    table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
    return f"<{table}{''.join(lines)}</TABLE>>"


__all__ = ["html_table"]
