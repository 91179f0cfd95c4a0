"""``bars-zoo draw``: every cell and the macro layout end up in the picture, coloured by op kind."""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from bars_zoo import draw as drawing
from bars_zoo import drawstyle
from bars_zoo._resources import resource_dir
from bars_zoo.cli import main
from bars_zoo.commands import draw as draw_command
from bars_zoo.dsl import parse, read
from bars_zoo.errors import ConfigError, MissingDependencyError
from bars_zoo.spec import StageSpec, live_edges
from bars_zoo.zoo import load_genotype

GENOTYPES = sorted(resource_dir("genotypes").glob("*.geno"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")

SMALL = """\
bars 1
name "small"
input 1x8x8 classes=3
stem conv3x3 channels=8 stride=1 pool=none
cell normal stride=1 preprocess=bconv1x1 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- n1: bconv3x3
  n3 <- n1: shortcut
}
cell reduce stride=2 preprocess=conv1x1 shortcut=conv1x1 op_shortcut=false {
  n1 <- in: shortcut
}
stage s1: channels=8 depth=2 cell=normal
downsample cell=reduce
stage s2: channels=16 depth=1 cell=normal
head avgpool linear
"""


def svg_text(path: Path) -> str:
    return html.unescape(path.read_text(encoding="utf-8"))


@needs_dot
@pytest.mark.parametrize("path", GENOTYPES, ids=[p.stem for p in GENOTYPES])
def test_svg_shows_every_cell_node_op_and_stage(path: Path, tmp_path: Path) -> None:
    spec = read(path)
    out = drawing.render(spec, tmp_path / "cells.svg")
    svg = svg_text(out)
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for cell in spec.cells:
        assert f"cell {cell.name}" in svg
        for node in ("x", "in", "out", *(n.name for n in cell.nodes)):
            assert f">{node}</text>" in svg, (cell.name, node)
        for _, edge in live_edges(cell):
            assert f">{edge.op}" in svg
        if cell.shortcut != "none":
            assert f"cell shortcut: {cell.shortcut}" in svg
        if cell.preprocess != "none":
            assert f"preprocess: {cell.preprocess}" in svg
    for item in spec.layout:
        if isinstance(item, StageSpec):
            assert f"stage {item.name}: {item.cell}" in svg
            assert f"{item.channels} ch x {item.depth}" in svg
    assert "stem (FP)" in svg and f"-> {spec.num_classes} classes" in svg


def test_draw_makes_one_cluster_per_cell_and_one_for_the_layout() -> None:
    spec = parse(SMALL)
    source = drawing.draw(spec).source
    assert "subgraph cluster_layout" in source
    assert "subgraph cluster_cell_normal" in source and "subgraph cluster_cell_reduce" in source
    assert "used by: s1 x2, s2 x1" in source and "used by: downsample x1" in source
    assert "downsample: reduce\n8 -> 16 ch\n4x4" in source  # width from the next stage, ceil(8/2)


def _edge_line(source: str, label: str) -> str:
    pattern = re.compile(r'label=("?)' + re.escape(label) + r"\1[ \]]")
    lines = [line for line in source.splitlines() if "->" in line and pattern.search(line)]
    assert lines, label
    return lines[0]


def test_edges_are_coloured_by_op_kind_and_dead_edges_are_grey() -> None:
    source = drawing.draw(parse(SMALL)).source
    assert drawstyle.BINARY_COLOUR in _edge_line(source, "bconv3x3 (+x)")
    assert drawstyle.SHORTCUT_COLOUR in _edge_line(source, "cell shortcut: identity")
    assert drawstyle.FP_COLOUR in _edge_line(source, "preprocess: conv1x1")
    # n2 does not reach the last node n3: its edge never runs
    dead = _edge_line(source, "bconv3x3")
    assert drawstyle.DEAD_COLOUR in dead and "dotted" in dead


def test_op_colours_follow_the_op_kind() -> None:
    assert drawstyle.op_colour("bfr") == drawstyle.BINARY_COLOUR
    assert drawstyle.op_colour("bconv1x1") == drawstyle.BINARY_COLOUR
    assert drawstyle.op_colour("identity") == drawstyle.SHORTCUT_COLOUR
    assert drawstyle.op_colour("conv1x1") == drawstyle.FP_COLOUR


def test_names_that_need_quoting_survive(tmp_path: Path) -> None:
    spec = parse(SMALL.replace('name "small"', 'name "odd \\"name\\" <b>"'))
    source = drawing.draw(spec).source
    assert "odd" in source
    out = drawing.render(spec, tmp_path / "g.dot")
    assert out.read_text(encoding="utf-8") == source


@needs_dot
@pytest.mark.parametrize("name", [r"ends in \\", r"a \\\" b", r"back\\slash"])
def test_a_name_with_backslashes_renders(name: str, tmp_path: Path) -> None:
    # a trailing backslash once escaped the closing quote of the graph's DOT id
    spec = parse(SMALL.replace('name "small"', f'name "{name}"'))
    out = drawing.render(spec, tmp_path / "g.svg")
    assert out.read_text(encoding="utf-8").lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("path", "fmt", "expected"),
    [
        ("a.svg", None, "svg"),
        ("a.PNG", None, "png"),
        ("a.gv", None, "dot"),
        ("a.out", "pdf", "pdf"),
    ],
)
def test_format_comes_from_the_suffix_unless_given(
    path: str, fmt: str | None, expected: str
) -> None:
    assert drawing.format_of(path, fmt) == expected


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown format 'jpg'[\s\S]*\.svg, \.png"):
        drawing.format_of("cells.jpg")


def test_missing_dot_says_to_install_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on PATH
    with pytest.raises(
        MissingDependencyError, match=r"needs Graphviz's `dot`[\s\S]*install Graphviz"
    ):
        drawing.render(parse(SMALL), tmp_path / "cells.svg")
    assert not (tmp_path / "cells.svg").exists()
    assert drawing.render(parse(SMALL), tmp_path / "cells.dot").is_file()  # source needs no dot


@needs_dot
def test_cli_draw_writes_png_for_a_zoo_name(tmp_path: Path) -> None:
    out = tmp_path / "cells.png"
    assert main(["draw", "example", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


@needs_dot
def test_cli_draw_accepts_a_file_and_a_format(tmp_path: Path) -> None:
    geno = tmp_path / "small.geno"
    geno.write_text(SMALL)
    out = tmp_path / "drawing"
    assert main(["draw", str(geno), "-o", str(out), "--format", "svg"]) == 0
    assert "cell reduce" in svg_text(out)


def test_cli_draw_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", "no-such-model", "-o", str(tmp_path / "a.svg")]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["draw", "example", "-o", str(tmp_path / "a.jpg")]) == 2
    assert "unknown format 'jpg'" in capsys.readouterr().err


def test_cli_draw_to_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["draw", "example", "-o", "-", "--format", "dot"]) == 0
    out = capsysbinary.readouterr().out.decode("utf-8")
    assert out == drawing.draw(load_genotype("example")).source
    assert main(["draw", "example", "-o", "-"]) == 2  # no suffix to take the format from
    assert "add --format svg" in capsysbinary.readouterr().err.decode()
    assert list(tmp_path.iterdir()) == []  # no file named '-'


@needs_dot
def test_cli_draw_onto_a_folder_or_under_a_file_says_so_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.svg").mkdir()
    assert main(["draw", "example", "-o", str(tmp_path / "d.svg")]) == 2  # -o cannot be used
    assert f"error: is a folder, not a file: {tmp_path / 'd.svg'}" in capsys.readouterr().err
    (tmp_path / "f.geno").write_text("x")
    assert main(["draw", "example", "-o", str(tmp_path / "f.geno" / "x.svg")]) == 2
    assert f"error: not a folder: {tmp_path / 'f.geno'}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.svg", "f.geno"]  # no temp files


@needs_dot
def test_cli_draw_gives_new_files_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert main(["draw", "example", "-o", str(tmp_path / "a.svg")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.svg").stat().st_mode) == 0o640


def test_cli_formats_and_cell_views_match_the_library() -> None:
    assert draw_command.FORMATS == drawing.FORMATS
    assert draw_command.CELL_VIEWS == drawing.CELL_VIEWS
    parser = argparse.ArgumentParser()
    draw_command.add_arguments(parser)
    assert f"more than {drawing.GRAPH_MAX_EDGES} edges" in " ".join(parser.format_help().split())


def test_cli_draw_cells_option_picks_the_view(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["draw", "example", "-o", "-", "--format", "dot", "--cells", "table"]) == 0
    assert "<TABLE" in capsysbinary.readouterr().out.decode("utf-8")
    geno = tmp_path / "dense.geno"
    geno.write_text(dense_network(9))
    assert main(["draw", str(geno), "-o", "-", "--format", "dot", "--cells", "graph"]) == 0
    assert "<TABLE" not in capsysbinary.readouterr().out.decode("utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["draw", "example", "-o", "-", "--format", "dot", "--cells", "tables"])
    assert exc.value.code == 2


def dense_cell(name: str, nodes: int) -> str:
    """A cell whose node ``nK`` takes an edge from ``in`` and from every earlier node."""
    lines = [f"cell {name} stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {{"]
    for k in range(1, nodes + 1):
        sources = ["in", *(f"n{j}" for j in range(1, k))]
        ops = ("bconv3x3", "shortcut", "bconv1x1")
        lines.append(f"  n{k} <- " + ", ".join(f"{s}: {ops[i % 3]}" for i, s in enumerate(sources)))
    return "\n".join([*lines, "}"]) + "\n"


def dense_network(*nodes: int) -> str:
    """A legal network with one stage per dense cell of ``nodes[i]`` nodes."""
    cells = "".join(dense_cell(f"c{i}", n) for i, n in enumerate(nodes))
    stages = "".join(f"stage s{i}: channels=8 depth=2 cell=c{i}\n" for i in range(len(nodes)))
    head = (
        'bars 1\nname "dense"\ninput 1x8x8 classes=3\nstem conv3x3 channels=8 stride=1 pool=none\n'
    )
    return head + cells + stages + "head avgpool linear\n"


def test_a_cell_over_the_edge_limit_is_drawn_as_a_table_and_smaller_ones_as_graphs() -> None:
    # 8 nodes: 36 edges (the limit, a graph); 9 nodes: 45 edges (a table)
    spec = parse(dense_network(8, 9))
    assert sum(len(n.edges) for n in spec.cells[0].nodes) == drawing.GRAPH_MAX_EDGES
    assert [drawing.cell_view(c) for c in spec.cells] == ["graph", "table"]
    _, graph, table, _ = (p.source for p in drawing.parts(spec))
    assert "<TABLE" not in graph and '"c0/n8" -> "c0/out"' in graph
    assert "45 edges, drawn as a table" in table and "<TABLE" in table
    assert '"c1/n1"' not in table  # no node per cell node: one table
    assert table.count("<TR>") == 1 + 9  # a header row, a row per node
    assert '"c1/x" -> "c1/table"' in table and '"c1/table":out:e -> "c1/out"' in table


def test_cells_option_forces_one_view() -> None:
    spec = parse(dense_network(9))
    assert "<TABLE" not in drawing.draw(spec, "graph").source
    assert "<TABLE" in drawing.draw(parse(SMALL), "table").source
    for cell in parse(SMALL).cells:
        assert drawing.cell_view(cell, "table") == "table"


def test_unknown_cell_view_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown cell view 'tables'[\s\S]*auto, graph, table"):
        drawing.draw(parse(SMALL), "tables")


def test_table_view_marks_ops_by_kind_and_dead_edges_grey() -> None:
    source = drawing.draw(parse(SMALL), "table").source
    table = source.split("subgraph cluster_cell_normal")[1]
    # row n2 <- n1: bconv3x3 never runs (n2 does not reach n3): grey and in italics
    row_n2 = next(r for r in table.split("<TR>") if "n2</" in r.split("</TD>")[0])
    assert f'<FONT COLOR="{drawstyle.DEAD_COLOUR}"><I>bconv3x3</I></FONT>' in row_n2
    row_n3 = next(r for r in table.split("<TR>") if "n3</" in r.split("</TD>")[0])
    assert f'<FONT COLOR="{drawstyle.SHORTCUT_COLOUR}">shortcut</FONT>' in row_n3
    row_n1 = next(r for r in table.split("<TR>") if "n1</" in r.split("</TD>")[0])
    assert f'<FONT COLOR="{drawstyle.BINARY_COLOUR}">bconv3x3 (+x)</FONT>' in row_n1


def test_parts_are_the_layout_each_cell_and_the_legend_as_graphs_of_their_own() -> None:
    spec = parse(SMALL)
    sources = [p.source for p in drawing.parts(spec)]
    assert len(sources) == len(spec.cells) + 2
    clusters = [re.findall(r"subgraph (cluster_\w+)", s) for s in sources]
    assert clusters == [
        ["cluster_layout"],
        ["cluster_cell_normal"],
        ["cluster_cell_reduce"],
        ["cluster_legend"],
    ]
    assert all(s.startswith("digraph part") and "rankdir=LR" in s for s in sources)


def _text_y(svg: str, starts: str) -> float:
    found = re.search(r'<text[^>]* y="([-\d.]+)"[^>]*>' + re.escape(starts), svg)
    assert found, starts
    return float(found.group(1))


@needs_dot
@pytest.mark.parametrize("packing", [True, False], ids=["gvpack", "one-graph"])
def test_svg_stacks_layout_cells_in_file_order_then_legend(
    packing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if packing and shutil.which("gvpack") is None:
        pytest.skip("graphviz `gvpack` not installed")
    monkeypatch.setattr("bars_zoo._dot.packing_available", lambda: packing)
    spec = load_genotype("bars-b")
    svg = html.unescape(drawing.drawing_bytes(spec, "svg").decode("utf-8"))
    titles = ["bars-b: layout", *(f"cell {c.name} " for c in spec.cells), "legend"]
    ys = [_text_y(svg, t) for t in titles]
    assert ys == sorted(ys), list(zip(titles, ys, strict=True))
    assert "preprocess: bconv3x3" in svg and "bconv3x3 (+x)" in svg  # edge labels kept


@needs_dot
def test_a_file_at_the_hard_bounds_draws_every_cell(tmp_path: Path) -> None:
    # 32 cells of 16 fully connected nodes: each is a table, every cell is in the picture
    nodes = [16] * 32
    text = dense_network(*nodes).replace("depth=2", "depth=1")
    spec = parse(text)
    out = drawing.render(spec, tmp_path / "dense.svg")
    svg = svg_text(out)
    for cell in spec.cells:
        assert f"cell {cell.name} " in svg
    assert svg.count("136 edges, drawn as a table") == 32


def test_a_long_layout_wraps_into_rows_and_a_short_one_does_not() -> None:
    # 3 + 32 layout lines = 35 boxes: rows of 12, so the edges into box 12 and box 24 wrap
    spec = parse(dense_network(*[2] * 32))
    source = drawing.layout_graph(spec).source
    wrapped = [line for line in source.splitlines() if "constraint=false" in line]
    assert wrapped == [
        '\t"layout/9" -> "layout/10" [constraint=false]',
        '\t"layout/21" -> "layout/22" [constraint=false]',
    ]
    assert "constraint" not in drawing.layout_graph(load_genotype("xnor-resnet18-cifar10")).source


def test_table_view_marks_the_op_shortcut_like_the_graph_view() -> None:
    spec = parse(SMALL)
    graph = drawing.draw(spec, "graph").source.split("subgraph cluster_cell_normal")[1]
    table = drawing.draw(spec, "table").source.split("subgraph cluster_cell_normal")[1]
    assert graph.split("subgraph")[0].count("(+x)") > 0
    live_binary = [
        (n, e.source) for n, e in live_edges(spec.cells[0]) if e.op in ("bconv3x3", "bconv1x1")
    ]
    assert spec.cells[0].name == "normal" and spec.cells[0].op_shortcut
    assert table.split("subgraph")[0].count("(+x)") == len(live_binary) > 0
    off = spec.model_copy(
        update={"cells": [spec.cells[0].model_copy(update={"op_shortcut": False}), *spec.cells[1:]]}
    )
    assert "(+x)" not in drawing.draw(off, "table").source.split("subgraph cluster_cell_normal")[1]


def test_cli_draw_refuses_an_output_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing" / "deeper" / "x.svg"
    assert main(["draw", "example", "-o", str(out), "--format", "dot"]) == 2
    err = capsys.readouterr().err
    assert f"the folder '{out.parent}' does not exist" in err
    assert "hint: create the folder first" in err
    assert list(tmp_path.iterdir()) == []  # no folder made


def test_cli_draw_into_a_folder_that_takes_no_files_gets_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["draw", "example", "-o", "/proc/x.svg", "--format", "dot"]) == 2
    err = capsys.readouterr().err
    assert "no new file can be written in '/proc'" in err
    assert "hint: choose a file in a folder you can write to" in err


def test_cli_draw_reads_a_genotype_from_standard_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SMALL.encode("utf-8"))))
    out = tmp_path / "x.dot"
    assert main(["draw", "-", "-o", str(out)]) == 0
    assert "cluster_cell_normal" in out.read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"bars 2\n")))
    assert main(["draw", "-", "-o", str(out)]) == 1
    assert "<stdin>:1:6: error[version]" in capsys.readouterr().err
