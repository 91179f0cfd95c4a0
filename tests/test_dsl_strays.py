"""What is not genotype around a genotype: lines above ``bars 1``, markdown fences, stray
byte-order marks.  Each is one error, at the stray text, saying where ``bars 1`` is or what to
delete; the rest of the file is still checked."""

from __future__ import annotations

import pytest
from tiny_net import EDIT_BASE as BASE

from bars_zoo.dsl import check


def _only(text: str) -> tuple[str, int, int, str, str]:
    doc = check(text, "t.geno")
    assert len(doc.errors) == 1, "\n".join(d.render() for d in doc.errors)
    d = doc.errors[0]
    return d.code, d.line, d.column, d.message, d.hint or ""


@pytest.mark.parametrize("prefix", ["", "\ufeff"], ids=["plain", "after-a-byte-order-mark"])
def test_a_misspelt_line_above_bars_1_is_one_error_that_says_where_bars_1_is(prefix: str) -> None:
    code, line, col, msg, hint = _only(prefix + "stgae s0: x\n" + BASE)
    assert (code, line, col) == ("missing-section", 1, 1)
    assert msg == "the file does not start with 'bars 1' (it is on line 2)"
    assert hint.startswith("delete line 1 above it: 'bars 1' must be the first line")
    assert "misspelt 'stage' line" in hint


def test_stray_lines_above_bars_1_are_one_error_and_the_rest_is_still_checked() -> None:
    doc = check("hello\nworld\n\n" + BASE.replace("in: bconv3x3\n}", "in: bconv33\n}"))
    assert [(d.code, d.line) for d in doc.errors] == [("missing-section", 1), ("unknown-op", 13)]
    assert doc.errors[0].message.endswith("(it is on line 4)")
    assert doc.errors[0].hint is not None and "delete lines 1 and 2" in doc.errors[0].hint


def test_a_file_without_bars_1_anywhere_is_still_asked_whether_it_is_a_genotype() -> None:
    _, _, _, msg, _ = _only("hello\n" + BASE.replace("bars 1\n", ""))
    assert msg.endswith("is it a genotype file?")


@pytest.mark.parametrize("opening", ["```", "```geno"])
def test_a_markdown_fence_around_a_genotype_is_one_error_naming_both_fence_lines(
    opening: str,
) -> None:
    code, line, col, msg, hint = _only(f"{opening}\n{BASE}```\n")
    assert (code, line, col) == ("syntax", 1, 1)
    assert msg == "a markdown code fence ('```') is not part of a genotype"
    assert hint.startswith("delete the fence lines 1 and 18")


def test_a_markdown_fence_does_not_hide_the_errors_between_the_fences() -> None:
    doc = check("```\n" + BASE.replace("in: bconv3x3\n}", "in: bconv33\n}") + "```\n")
    assert [(d.code, d.line) for d in doc.errors] == [("syntax", 1), ("unknown-op", 11)]


def test_a_doubled_byte_order_mark_is_named_as_such() -> None:
    code, line, col, msg, hint = _only("\ufeff\ufeff" + BASE)
    assert (code, line, col) == ("not-text", 1, 1)
    assert msg == "the file contains a second byte order mark (U+FEFF) at the start of the file"
    assert hint.startswith("delete it")


def test_a_byte_order_mark_inside_the_file_is_named_at_its_line() -> None:
    text = BASE.replace("stage s2", "\ufeffstage s2")
    code, line, col, msg, _ = _only(text.encode("utf-8"))
    assert (code, line, col) == ("not-text", 14, 1)
    assert msg == "the file contains a byte order mark (U+FEFF) inside the file"


def test_a_byte_order_mark_inside_the_file_does_not_hide_the_other_errors() -> None:
    text = BASE.replace("stage s1", "\ufeffstage s1").replace("channels=32", "channels=3x2")
    doc = check(text, "t.geno")
    assert [(d.code, d.line, d.column) for d in doc.errors] == [
        ("not-text", 12, 1),
        ("bad-value", 14, 20),
    ], [d.render() for d in doc.errors]


def test_a_run_of_byte_order_marks_is_one_error_and_the_file_is_otherwise_clean() -> None:
    code, line, col, msg, _ = _only(BASE.replace("head", "\ufeff\ufeff\ufeffhead"))
    assert (code, line, col) == ("not-text", 15, 1)
    assert msg == "the file contains a byte order mark (U+FEFF) inside the file"
