"""The canonical printer: golden files, purity, headers and comments; the language reference.

Golden files live in ``tests/golden/dsl``: ``NAME.geno`` (input) -> ``NAME.formatted`` (what
``format_text`` must print), and ``errors/NAME.geno`` -> ``errors/NAME.txt`` (every diagnostic,
rendered).  After an intended change, regenerate them with ``BARS_UPDATE_GOLDEN=1 pytest
tests/test_dsl_format.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bars_zoo.dsl import Comments, check, format, format_text, parse
from bars_zoo.spec import Limits

ROOT = Path(__file__).parents[1]
GOLDEN = Path(__file__).parent / "golden" / "dsl"
PRINTER_CASES = sorted(GOLDEN.glob("*.geno"))
ERROR_CASES = sorted((GOLDEN / "errors").glob("*.geno"))
UPDATE = os.environ.get("BARS_UPDATE_GOLDEN") == "1"
DOC = (ROOT / "docs" / "genotype-language.md").read_text(encoding="utf-8")


def _golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with BARS_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", PRINTER_CASES, ids=[p.stem for p in PRINTER_CASES])
def test_printer_matches_its_golden_file(path: Path) -> None:
    out = format_text(path.read_text(encoding="utf-8"), str(path))
    _golden(path.with_suffix(".formatted"), out)
    assert format_text(out) == out
    assert parse(out) == parse(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", ERROR_CASES, ids=[p.stem for p in ERROR_CASES])
def test_rendered_diagnostics_match_their_golden_file(path: Path) -> None:
    doc = check(path.read_bytes(), f"errors/{path.name}")
    rendered = "\n".join(d.render() for d in doc.errors + doc.warnings) + "\n"
    _golden(path.with_suffix(".txt"), rendered)


def test_format_is_a_pure_function_of_the_spec() -> None:
    messy = (GOLDEN / "messy.geno").read_text(encoding="utf-8")
    spec = parse(messy)
    canonical = format(spec)
    assert format(spec) == canonical
    assert "#" not in canonical  # comments come only from the caller
    assert format(parse(canonical)) == canonical
    assert format(spec, comments=Comments()) == canonical


def test_fmt_output_differs_from_the_bare_printer_only_by_comments() -> None:
    messy = (GOLDEN / "messy.geno").read_text(encoding="utf-8")
    kept = format_text(messy)
    bare = [ln.split("  #")[0] for ln in kept.splitlines() if not ln.strip().startswith("#")]
    assert [ln for ln in bare if ln] == [ln for ln in format(parse(messy)).splitlines() if ln]


def test_header_argument_replaces_the_header_and_becomes_comments() -> None:
    spec = parse((GOLDEN / "minimal.geno").read_text(encoding="utf-8"))
    text = format(spec, header=["found by a search", "# already a comment", "", "two\nlines"])
    assert text.startswith("# found by a search\n# already a comment\n\n# two\n# lines\n\nbars 1\n")
    assert check(text).header == [
        "# found by a search",
        "# already a comment",
        "",
        "# two",
        "# lines",
    ]
    assert parse(text) == spec


@pytest.mark.parametrize("eol", ["\r", "\r\n"])
def test_a_header_line_with_a_carriage_return_becomes_two_comment_lines(eol: str) -> None:
    spec = parse((GOLDEN / "minimal.geno").read_text(encoding="utf-8"))
    text = format(spec, header=[f"first{eol}second"])
    assert text.startswith("# first\n# second\n\nbars 1\n")
    assert parse(text) == spec


def test_a_header_with_a_control_character_is_refused_before_printing() -> None:
    spec = parse((GOLDEN / "minimal.geno").read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=r"U\+0001, a control character"):
        format(spec, header=["bad\x01header"])


def test_comments_follow_their_statement_when_the_printer_reorders() -> None:
    text = (GOLDEN / "messy.geno").read_text(encoding="utf-8")
    out = format_text(text)
    assert "# the reduction cell, defined after it is used\ndownsample cell=reduce\n" in out
    assert "head avgpool linear  # FP head\n" in out
    assert "  # n2 sums a shortcut and a conv\n  n2 <- " in out
    assert "  # before the closing brace\n}\n" in out
    assert out.endswith("\n# a footer comment\n")


def test_comments_of_things_that_no_longer_exist_are_dropped() -> None:
    text = (GOLDEN / "messy.geno").read_text(encoding="utf-8")
    doc = check(text)
    assert doc.spec is not None
    smaller = doc.spec.model_copy(update={"layout": doc.spec.layout[:1], "meta": {}})
    out = format(smaller, comments=doc.comments)
    assert "# the reduction cell" not in out and "# FP head" in out


DOWNSAMPLES = """\
bars 1
name "t"
input 3x32x32 classes=10
stem conv3x3 channels=16 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true { n1 <- in: bconv3x3 }
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=true { n1 <- in: bconv3x3 }
stage s1: channels=16 depth=1 cell=normal
# first downsample, 32 -> 16
downsample cell=reduce  # after s1
stage s2: channels=32 depth=1 cell=normal
# second downsample, 16 -> 8
downsample cell=reduce  # after s2
stage s3: channels=64 depth=1 cell=normal
head avgpool linear
"""


@pytest.mark.parametrize(
    ("keep", "kept", "dropped"),
    [
        # the first stage and its downsample removed: the second downsample keeps its own comments
        (slice(2, None), ["# second downsample", "# after s2"], ["# first", "# after s1"]),
        # the second stage and the downsample after it removed: the first downsample now leads
        # into s3, a place no comment was written for; its comments are dropped, not moved
        ([0, 1, 4], [], ["downsample, ", "# after s"]),
    ],
)
def test_a_downsample_comment_never_moves_to_another_downsample_when_the_layout_is_edited(
    keep: slice | list[int], kept: list[str], dropped: list[str]
) -> None:
    doc = check(DOWNSAMPLES)
    assert doc.spec is not None
    layout = doc.spec.layout
    new = layout[keep] if isinstance(keep, slice) else tuple(layout[i] for i in keep)
    out = format(doc.spec.model_copy(update={"layout": new}), comments=doc.comments)
    assert parse(out).layout == new
    for text in kept:
        assert text in out, out
    for text in dropped:
        assert text not in out, out
    if kept:  # and the comments sit where they were written: on the downsample before s3
        assert "# second downsample, 16 -> 8\ndownsample cell=reduce  # after s2\nstage s3" in out


def test_format_text_refuses_a_file_with_errors() -> None:
    with pytest.raises(Exception, match=r"error\[unknown-op\]"):
        format_text((GOLDEN / "minimal.geno").read_text().replace("in: bconv3x3", "in: conv"))


# --------------------------------------------------------------------------- the reference page


def test_the_reference_example_is_valid_and_canonical() -> None:
    example = re.search(r"```geno\n(.*?)```", DOC, re.S)
    assert example is not None
    text = example.group(1)
    assert check(text).warnings == []
    assert format_text(text) == text


def test_the_reference_lists_every_hard_bound_with_its_value() -> None:
    bounds = {k: v for k, v in vars(Limits).items() if k.startswith("MAX_")}
    for name, value in bounds.items():
        assert re.search(rf"\| `{name}` \| {value} \|", DOC), name


def test_the_grammar_file_parses_every_zoo_genotype_as_a_whole() -> None:
    from bars_zoo.dsl._syntax import parser

    for path in sorted((ROOT / "genotypes").glob("*.geno")):
        parser().parse(path.read_text(encoding="utf-8"), start="start")


def test_the_documented_alternative_spellings_are_accepted_and_printed_canonically() -> None:
    from tiny_net import EDIT_BASE

    text = EDIT_BASE.replace("classes=10", "classes = 10") + (
        'meta preset=fmnist search-preset="fmnist" seed=0\n'
    )
    out = format_text(text)
    assert "input 3x32x32 classes=10\n" in out
    assert 'meta preset="fmnist"\nmeta search-preset="fmnist"\nmeta seed="0"\n' in out
