"""Pictures of a genotype: every cell as a graph, and the macro layout, in one graphviz drawing.

    import bars_zoo.draw
    bars_zoo.draw.render(bars_zoo.load_genotype("bars-b"), "bars-b.svg")   # or .png/.pdf/.dot

The drawing reads left to right (like the DARTS cell plots, Liu et al. 2019):

* one row, ``layout``: input -> full-precision stem -> stages (cell name, ``channels x depth``,
  resolution) and downsample cells -> full-precision head;
* one cluster per cell topology (BARS Fig. 2): ``x`` (the cell input) -> ``preprocess`` -> ``in`` ->
  nodes ``n1 .. nK`` -> ``out``, every edge labelled with its op, and the cell shortcut ``x -> out``.

Edge colours: binary convolutions blue, shortcuts / identity / average-pool green, the
full-precision ``conv1x1`` orange.  Edges and nodes that never run (:func:`bars_zoo.spec.live_edges`)
are grey and dotted; ``none`` edges are not drawn.  ``(+x)`` marks a binary edge that carries the
op-level shortcut.  Needs the ``graphviz`` Python package, and Graphviz's ``dot`` program for every
format but ``dot`` (the graph's source text).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bars_zoo._io import atomic_write_bytes
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

#: Output formats ``render`` knows (``dot`` writes the graph's source and needs no Graphviz install).
FORMATS: tuple[str, ...] = ("svg", "png", "pdf", "dot")

BINARY_COLOUR = "#1f5fa8"
SHORTCUT_COLOUR = "#2e8b3a"
FP_COLOUR = "#d9730d"
DEAD_COLOUR = "#a0a0a0"

_INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: apt install graphviz; macOS: brew install graphviz; "
    "conda: conda install graphviz) so that `dot` is on PATH, or write the source with --format dot"
)


def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "drawing needs the 'graphviz' Python package", hint="pip install graphviz"
        ) from exc
    return graphviz


def op_colour(op: str) -> str:
    """The colour of an edge that runs ``op``."""
    if op in BINARY_OPS:
        return BINARY_COLOUR
    if op == "conv1x1":
        return FP_COLOUR
    return SHORTCUT_COLOUR


def _esc(text: str) -> str:
    return str(_graphviz().escape(text))


def _edge_attrs(op: str, live: bool, label: str | None = None) -> dict[str, str]:
    colour = op_colour(op) if live else DEAD_COLOUR
    attrs = {"label": label or op, "color": colour, "fontcolor": colour}
    if not live:
        attrs["style"] = "dotted"
    elif op in BINARY_OPS or op == "conv1x1":
        attrs["penwidth"] = "2"
    else:
        attrs["style"] = "dashed"
    return attrs


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


def cell_graph(spec: NetworkSpec, cell: CellSpec) -> graphviz.Digraph:
    """The cluster of one cell topology (subgraph ``cluster_cell_<name>``)."""
    gv = _graphviz()
    g = gv.Digraph(name=f"cluster_cell_{cell.name}")
    head = f"cell {cell.name}  (stride={cell.stride}, op_shortcut={str(cell.op_shortcut).lower()})"
    g.attr(label=_esc(f"{head}\nused by: {_usage(spec, cell)}"), style="rounded", color="#606060")
    live = live_edges(cell)
    live_keys = {(n, e.source) for n, e in live}
    live_nodes = {n for n, _ in live}
    has_in = uses_input(cell)
    sink = _node_id(cell, "out")

    g.node(_node_id(cell, "x"), "x", shape="box", style="filled", fillcolor="#eeeeee")
    in_attrs = {"style": "filled", "fillcolor": "#dde8f6"} if has_in else {"color": DEAD_COLOUR}
    g.node(_node_id(cell, "in"), "in", shape="box", **in_attrs)
    for node in cell.nodes:
        on = node.name in live_nodes
        attrs = {"style": "filled", "fillcolor": "#fff2cc"} if on else {"color": DEAD_COLOUR}
        g.node(_node_id(cell, node.name), node.name, shape="circle", **attrs)
    g.node(sink, "out", shape="box", style="filled", fillcolor="#eeeeee")

    if cell.preprocess != "none":
        g.edge(
            _node_id(cell, "x"),
            _node_id(cell, "in"),
            **_edge_attrs(cell.preprocess, has_in, f"preprocess: {cell.preprocess}"),
        )
    for node in cell.nodes:
        for e in node.edges:
            on = (node.name, e.source) in live_keys
            label: str = e.op
            if on and cell.op_shortcut and e.op in BINARY_OPS:
                label += " (+x)"
            g.edge(
                _node_id(cell, e.source), _node_id(cell, node.name), **_edge_attrs(e.op, on, label)
            )
    last = cell.nodes[-1].name
    if last in live_nodes:
        g.edge(_node_id(cell, last), sink, color="#404040")
    else:
        g.edge(_node_id(cell, last), sink, color=DEAD_COLOUR, style="dotted")
    if cell.shortcut != "none":
        g.edge(
            _node_id(cell, "x"),
            sink,
            **_edge_attrs(cell.shortcut, True, f"cell shortcut: {cell.shortcut}"),
            constraint="false",
        )
    return g


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
        g.edge(prev, node)
        prev = node
    head = f"head (FP)\nBN, avgpool, linear\n-> {spec.num_classes} classes"
    g.node("layout/head", head, shape="box", style="filled", fillcolor="#fde3cf")
    g.edge(prev, "layout/head")
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


def draw(spec: NetworkSpec) -> graphviz.Digraph:
    """A graphviz drawing of ``spec``: the macro layout, then one cluster per cell topology."""
    gv = _graphviz()
    # the name is free text: a trailing backslash would escape the closing quote of the DOT id
    g = gv.Digraph(name=_esc(spec.name), comment=f"bars-zoo genotype {spec.name}")
    g.attr(rankdir="LR", fontname="Helvetica", labeljust="l", nodesep="0.3", ranksep="0.5")
    g.attr("node", fontname="Helvetica", fontsize="11")
    g.attr("edge", fontname="Helvetica", fontsize="10")
    # dot stacks disconnected rows bottom-up in insertion order: add them last-first so that the
    # layout comes out on top, then the cells in file order, then the legend.
    g.subgraph(_legend())
    for cell in reversed(spec.cells):
        g.subgraph(cell_graph(spec, cell))
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


def render(spec: NetworkSpec, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
    """Draw ``spec`` to ``path`` (format from the suffix unless given); the file is written atomically.

    Raises :class:`~bars_zoo.errors.MissingDependencyError` when Graphviz's ``dot`` is not installed
    (except for the ``dot`` format) and :class:`~bars_zoo.errors.ConfigError` for an unknown format.
    """
    out = Path(path)
    atomic_write_bytes(out, drawing_bytes(spec, format_of(path, format)))
    return out


def drawing_bytes(spec: NetworkSpec, format: str) -> bytes:
    """The drawing of ``spec`` as the bytes of a ``format`` file (svg, png, pdf or dot)."""
    fmt = format_of("", format)
    graph = draw(spec)
    if fmt == "dot":
        return graph.source.encode("utf-8")
    gv = _graphviz()
    try:
        data: bytes = graph.pipe(format=fmt)
    except gv.ExecutableNotFound as exc:
        raise MissingDependencyError(
            f"drawing to {fmt} needs Graphviz's `dot` program, which is not installed",
            hint=_INSTALL_HINT,
        ) from exc
    return data


__all__ = [
    "FORMATS",
    "cell_graph",
    "draw",
    "drawing_bytes",
    "format_of",
    "layout_graph",
    "op_colour",
    "render",
]
