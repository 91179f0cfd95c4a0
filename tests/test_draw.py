"""``bars-zoo draw``: every cell and the macro layout end up in the picture, coloured by op kind."""

from __future__ import annotations

import html
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from bars_zoo import draw as drawing
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
    assert drawing.BINARY_COLOUR in _edge_line(source, "bconv3x3 (+x)")
    assert drawing.SHORTCUT_COLOUR in _edge_line(source, "cell shortcut: identity")
    assert drawing.FP_COLOUR in _edge_line(source, "preprocess: conv1x1")
    # n2 does not reach the last node n3: its edge never runs
    dead = _edge_line(source, "bconv3x3")
    assert drawing.DEAD_COLOUR in dead and "dotted" in dead


def test_op_colours_follow_the_op_kind() -> None:
    assert drawing.op_colour("bfr") == drawing.BINARY_COLOUR
    assert drawing.op_colour("bconv1x1") == drawing.BINARY_COLOUR
    assert drawing.op_colour("identity") == drawing.SHORTCUT_COLOUR
    assert drawing.op_colour("conv1x1") == drawing.FP_COLOUR


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


def test_cli_formats_match_the_library() -> None:
    assert draw_command.FORMATS == drawing.FORMATS
