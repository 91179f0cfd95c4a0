"""Pictures of a genotype: every cell as a graph, and the macro layout, in one graphviz drawing.

    import bars_zoo.draw
    bars_zoo.draw.render(bars_zoo.load_genotype("bars-b"), "bars-b.svg")   # or .png/.pdf/.dot

The drawing reads left to right (like the DARTS cell plots, Liu et al. 2019):

* one row, ``layout`` (wrapped every :data:`LAYOUT_ROW` boxes): input -> full-precision stem ->
  stages (cell name, ``channels x depth``, resolution) and downsample cells -> full-precision head;
* one cluster per cell topology (BARS Fig. 2): ``x`` (the cell input) -> ``preprocess`` -> ``in`` ->
  nodes ``n1 .. nK`` -> ``out``, every edge labelled with its op, and the cell shortcut ``x -> out``.
  A cell with more than :data:`GRAPH_MAX_EDGES` edges is drawn as a table instead (one row per
  node, one column per source, the op where an edge is; ``cells="graph"`` or ``"table"`` forces
  one view): such a graph is unreadable and slow to lay out.

Every cell is drawn once, however many times the layout places it (``used by: s1 x3``); the
parts (layout row, cells, legend) are laid out one by one and stacked (:mod:`bars_zoo._dot`), so
the time grows with the number of cells, not faster.

Edge colours: binary convolutions blue, shortcuts / identity / average-pool green, the
full-precision ``conv1x1`` orange.  Edges and nodes that never run (:func:`bars_zoo.spec.live_edges`)
are grey and dotted; ``none`` edges are not drawn.  ``(+x)`` marks a binary edge that carries the
op-level shortcut.  Needs the ``graphviz`` Python package, and Graphviz's ``dot`` program for every
format but ``dot`` (the graph's source text: every part in one graph, for ``dot`` to lay out).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bars_zoo import _dot
from bars_zoo._io import atomic_write_bytes, check_file_path, written_in_place
from bars_zoo.drawstyle import BINARY_COLOUR, DEAD_COLOUR, FP_COLOUR, SHORTCUT_COLOUR, edge_attrs
from bars_zoo.drawtable import html_table
from bars_zoo.errors import ConfigError, MissingDependencyError
from bars_zoo.spec import (
    BINARY_OPS,
    CellSpec,
    NetworkSpec,
    StageSpec,
    live_edges,
    placements,
    stem_output,
    uses_input,
)

if TYPE_CHECKING:  # pragma: no cover
    import graphviz

log = logging.getLogger(__name__)

#: Output formats ``render`` knows (``dot`` writes the graph's source and needs no Graphviz install).
FORMATS: tuple[str, ...] = ("svg", "png", "pdf", "dot")
#: How cells are drawn: ``auto`` (a graph up to ``GRAPH_MAX_EDGES`` edges, else a table), or always one.
CELL_VIEWS: tuple[str, ...] = ("auto", "graph", "table")
#: The most edges a cell may have to be drawn as a graph under ``cells="auto"`` (a fully connected
#: 8-node cell has 36; the zoo's cells have at most 8).
GRAPH_MAX_EDGES = 36
#: The most boxes (input, stem, stages, downsamples, head) in one row of the macro layout.
LAYOUT_ROW = 12


def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "drawing needs the 'graphviz' Python package", hint="pip install graphviz"
        ) from exc
    return graphviz


def _esc(text: str) -> str:
    return str(_graphviz().escape(text))


def _node_id(cell: CellSpec, node: str) -> str:
    return f"{cell.name}/{node}"


def _usage(spec: NetworkSpec, cell: CellSpec) -> str:
    uses = [
        f"{item.name} x{item.depth}"
        for item in spec.layout
        if isinstance(item, StageSpec) and item.cell == cell.name
    ]
    downs = sum(
        1 for item in spec.layout if not isinstance(item, StageSpec) and item.cell == cell.name
    )
    if downs:
        uses.append(f"downsample x{downs}")
    return ", ".join(uses) or "unused"


def cell_view(cell: CellSpec, cells: str = "auto") -> str:
    """How ``cell`` is drawn under ``cells`` (one of :data:`CELL_VIEWS`): ``graph`` or ``table``."""
    if cells not in CELL_VIEWS:
        raise ConfigError(
            f"unknown cell view {cells!r}", hint=f"use one of {', '.join(CELL_VIEWS)}"
        )
    if cells != "auto":
        return cells
    edges = sum(len(node.edges) for node in cell.nodes)
    return "graph" if edges <= GRAPH_MAX_EDGES else "table"


def cell_graph(spec: NetworkSpec, cell: CellSpec, view: str = "graph") -> graphviz.Digraph:
    """The cluster of one cell topology (subgraph ``cluster_cell_<name>``), as a graph or a table.

    ``view`` is one of :data:`CELL_VIEWS` (:func:`cell_view`).  Both views show ``x -> preprocess -> ... -> out`` and the cell shortcut ``x -> out``; between
    them, ``graph`` draws ``in`` and every node with its edges, ``table`` one HTML table whose row
    ``nK`` and column ``SOURCE`` hold the op of the edge ``nK <- SOURCE``.
    """
    view = cell_view(cell, view)
    gv = _graphviz()
    g = gv.Digraph(name=f"cluster_cell_{cell.name}")
    head = f"cell {cell.name}  (stride={cell.stride}, op_shortcut={str(cell.op_shortcut).lower()})"
    label = f"{head}\nused by: {_usage(spec, cell)}"
    if view == "table":
        edges = sum(len(node.edges) for node in cell.nodes)
        label += f"\n{edges} edges, drawn as a table: row nK, column SOURCE = the edge nK <- SOURCE"
    g.attr(label=_esc(label), style="rounded", color="#606060")
    has_in = uses_input(cell)
    x, sink = _node_id(cell, "x"), _node_id(cell, "out")
    g.node(x, "x", shape="box", style="filled", fillcolor="#eeeeee")
    if view == "table":
        table = _node_id(cell, "table")
        g.node(table, html_table(cell), shape="plain")
        into, last = table, f"{table}:out:e"
    else:
        _graph_nodes(g, cell)
        into, last = _node_id(cell, "in"), _node_id(cell, cell.nodes[-1].name)
    g.node(sink, "out", shape="box", style="filled", fillcolor="#eeeeee")
    if cell.preprocess != "none":
        g.edge(x, into, **edge_attrs(cell.preprocess, has_in, f"preprocess: {cell.preprocess}"))
    if view != "table":
        _graph_edges(g, cell)
    if cell.nodes[-1].name in {n for n, _ in live_edges(cell)}:
        g.edge(last, sink, color="#404040")
    else:
        g.edge(last, sink, color=DEAD_COLOUR, style="dotted")
    shortcut = edge_attrs(cell.shortcut, True, f"cell shortcut: {cell.shortcut}")
    if cell.shortcut != "none" and view == "table":  # under the table, clear of the labels above
        g.edge(f"{x}:s", f"{sink}:s", **shortcut)
    elif cell.shortcut != "none":
        g.edge(x, sink, **shortcut, constraint="false")
    return g


def _graph_nodes(g: graphviz.Digraph, cell: CellSpec) -> None:
    """The graph view's ``in`` and nodes, grey where they never run."""
    live_nodes = {n for n, _ in live_edges(cell)}
    in_attrs = {"style": "filled", "fillcolor": "#dde8f6"} if uses_input(cell) else None
    g.node(_node_id(cell, "in"), "in", shape="box", **(in_attrs or {"color": DEAD_COLOUR}))
    for node in cell.nodes:
        on = node.name in live_nodes
        attrs = {"style": "filled", "fillcolor": "#fff2cc"} if on else {"color": DEAD_COLOUR}
        g.node(_node_id(cell, node.name), node.name, shape="circle", **attrs)


def _graph_edges(g: graphviz.Digraph, cell: CellSpec) -> None:
    """The graph view's edges between ``in`` and the nodes, labelled with their ops."""
    live_keys = {(n, e.source) for n, e in live_edges(cell)}
    for node in cell.nodes:
        for e in node.edges:
            on = (node.name, e.source) in live_keys
            label: str = e.op
            if on and cell.op_shortcut and e.op in BINARY_OPS:
                label += " (+x)"
            g.edge(
                _node_id(cell, e.source), _node_id(cell, node.name), **edge_attrs(e.op, on, label)
            )


def layout_graph(spec: NetworkSpec) -> graphviz.Digraph:
    """The macro layout (subgraph ``cluster_layout``): stem -> stages / downsamples -> head."""
    gv = _graphviz()
    g = gv.Digraph(name="cluster_layout")
    g.attr(label=_esc(f"{spec.name}: layout"), style="rounded", color="#606060")
    c_in, h, w = spec.input_shape
    g.node(
        "layout/input", f"input\n{c_in}x{h}x{w}", shape="box", style="filled", fillcolor="#eeeeee"
    )
    sc, sh, sw = stem_output(spec)
    pool = " + maxpool" if spec.stem.pool == "maxpool" else ""
    stem = f"stem (FP)\n{spec.stem.op} s{spec.stem.stride}{pool}\n{sc} ch, {sh}x{sw}"
    g.node("layout/stem", stem, shape="box", style="filled", fillcolor="#fde3cf")
    prev = "layout/stem"
    g.edge("layout/input", prev)
    # a long layout wraps: every LAYOUT_ROW boxes, the next one starts a row below (an edge that
    # does not rank its head after its tail)
    boxes = len(spec.layout) + 3

    def wrap(box: int) -> dict[str, str]:
        return {"constraint": "false"} if boxes > LAYOUT_ROW and box % LAYOUT_ROW == 0 else {}

    cells = placements(spec)
    for pos, item in enumerate(spec.layout):
        node = f"layout/{pos}"
        p = cells[_cells_before(spec, pos)]  # the first cell this layout item places
        if isinstance(item, StageSpec):
            label = (
                f"stage {item.name}: {item.cell}\n{item.channels} ch x {item.depth}\n"
                f"{p.out_hw[0]}x{p.out_hw[1]}"
            )
            g.node(node, _esc(label), shape="box", style="filled", fillcolor="#dde8f6")
        else:
            label = (
                f"downsample: {item.cell}\n{p.c_in} -> {p.c_out} ch\n{p.out_hw[0]}x{p.out_hw[1]}"
            )
            g.node(node, _esc(label), shape="box", style="filled,dashed", fillcolor="#e8f0e0")
        g.edge(prev, node, **wrap(pos + 2))
        prev = node
    head = f"head (FP)\nBN, avgpool, linear\n-> {spec.num_classes} classes"
    g.node("layout/head", head, shape="box", style="filled", fillcolor="#fde3cf")
    g.edge(prev, "layout/head", **wrap(boxes - 1))
    return g


def _cells_before(spec: NetworkSpec, pos: int) -> int:
    return sum(i.depth if isinstance(i, StageSpec) else 1 for i in spec.layout[:pos])


def _legend() -> graphviz.Digraph:
    gv = _graphviz()
    g = gv.Digraph(name="cluster_legend")
    g.attr(label="legend", style="rounded", color="#c0c0c0")
    rows = [
        ("binary conv (1-bit)", BINARY_COLOUR, "bold"),
        ("shortcut / identity", SHORTCUT_COLOUR, "dashed"),
        ("full-precision conv", FP_COLOUR, "bold"),
        ("never runs (dead)", DEAD_COLOUR, "dotted"),
    ]
    for i, (text, colour, style) in enumerate(rows):
        g.node(f"legend/{i}a", "", shape="point", width="0.05")
        g.node(f"legend/{i}b", "", shape="point", width="0.05")
        g.edge(
            f"legend/{i}a", f"legend/{i}b", label=text, color=colour, fontcolor=colour, style=style
        )
    return g


def _top(name: str, comment: str | None = None) -> graphviz.Digraph:
    g = _graphviz().Digraph(name=name, comment=comment)
    g.attr(rankdir="LR", fontname="Helvetica", labeljust="l", nodesep="0.3", ranksep="0.5")
    g.attr("node", fontname="Helvetica", fontsize="11")
    g.attr("edge", fontname="Helvetica", fontsize="10")
    return g


def parts(spec: NetworkSpec, cells: str = "auto") -> list[graphviz.Digraph]:
    """The drawing's parts as graphs of their own, top to bottom: layout, each cell, legend."""
    clusters = [
        layout_graph(spec),
        *(cell_graph(spec, cell, cells) for cell in spec.cells),
        _legend(),
    ]
    out = []
    for i, cluster in enumerate(clusters):
        g = _top(f"part{i}")
        g.subgraph(cluster)
        out.append(g)
    return out


def draw(spec: NetworkSpec, cells: str = "auto") -> graphviz.Digraph:
    """A graphviz drawing of ``spec`` as one graph: the macro layout, then one cluster per cell.

    ``cells`` picks each cell's view (:func:`cell_view`).  This is the ``dot`` format's source;
    the other formats lay out the same clusters one by one (:func:`parts`).
    """
    # the name is free text: a trailing backslash would escape the closing quote of the DOT id
    g = _top(_esc(spec.name), comment=f"bars-zoo genotype {spec.name}")
    # dot stacks disconnected rows bottom-up in insertion order: add them last-first so that the
    # layout comes out on top, then the cells in file order, then the legend.
    g.subgraph(_legend())
    for cell in reversed(spec.cells):
        g.subgraph(cell_graph(spec, cell, cells))
    g.subgraph(layout_graph(spec))
    return g


def format_of(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else the file suffix (``.gv`` means ``dot``)."""
    name = (fmt or Path(path).suffix.lstrip(".")).lower()
    name = "dot" if name == "gv" else name
    if name not in FORMATS:
        raise ConfigError(
            f"cannot draw to {os.fspath(path)!r}: unknown format {name or '(none)'!r}",
            hint=f"use a file ending in {', '.join('.' + f for f in FORMATS)}, or pass --format",
        )
    return name


def render(
    spec: NetworkSpec,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    cells: str = "auto",
) -> Path:
    """Draw ``spec`` to ``path`` (format from the suffix unless given); the file is written atomically.

    ``cells`` is ``auto``, ``graph`` or ``table`` (:func:`cell_view`).  Raises
    :class:`~bars_zoo.errors.MissingDependencyError` when Graphviz's ``dot`` is not installed
    (except for the ``dot`` format) and :class:`~bars_zoo.errors.ConfigError` for an unknown format
    or cell view.
    """
    out = Path(path)
    _check_output(out)
    atomic_write_bytes(out, drawing_bytes(spec, format_of(path, format), cells=cells))
    return out


def _check_output(out: Path) -> None:
    """Refuse, before drawing, a path whose folder does not exist or cannot take a new file: a
    drawing is one file, and a typo in its folder should not create folders (even at ``/``)."""
    check_file_path(out.expanduser())  # a folder at out, or a file above it: named as such
    if written_in_place(out.expanduser()):  # /dev/null, a FIFO: written into, no new file
        return
    folder = out.expanduser().parent
    if not folder.exists():
        raise ConfigError(
            f"cannot draw to {os.fspath(out)!r}: the folder {os.fspath(folder)!r} does not exist",
            hint="create the folder first, or choose a file in a folder that exists",
        )
    if not os.access(folder, os.W_OK | os.X_OK) or folder.resolve().parts[:2] in (
        ("/", "proc"),
        ("/", "sys"),
    ):
        raise ConfigError(
            f"cannot draw to {os.fspath(out)!r}: no new file can be written in "
            f"{os.fspath(folder)!r}",
            hint="choose a file in a folder you can write to",
        )


def drawing_bytes(spec: NetworkSpec, format: str, *, cells: str = "auto") -> bytes:
    """The drawing of ``spec`` as the bytes of a ``format`` file (svg, png, pdf or dot)."""
    fmt = format_of("", format)
    if fmt == "dot":
        return draw(spec, cells).source.encode("utf-8")
    if not _dot.packing_available():
        log.info("gvpack not found: laying the drawing out as one graph (slow for large files)")
        return _dot.render_one(draw(spec, cells).source, fmt)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name)
    return _dot.render_parts([p.source for p in parts(spec, cells)], fmt, name)


__all__ = [
    "CELL_VIEWS",
    "FORMATS",
    "GRAPH_MAX_EDGES",
    "LAYOUT_ROW",
    "cell_graph",
    "cell_view",
    "draw",
    "drawing_bytes",
    "format_of",
    "layout_graph",
    "parts",
    "render",
]
