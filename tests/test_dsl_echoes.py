"""One mistake, one finding: a hand edit of a zoo genotype is not echoed by later nodes or cells.

Each test makes the edit a user would make to ``genotypes/bars-fmnist-m.geno`` (a line repeated,
deleted, inserted or renumbered; a downsample pointed at the wrong cell) and checks that exactly
the one finding that says what to fix is reported.  The rendered text is in the golden file
``tests/golden/dsl/errors/node-numbering.txt``.
"""

from __future__ import annotations

from pathlib import Path

from tiny_net import EDIT_BASE

from bars_zoo.dsl import check
from bars_zoo.spec import NetworkSpec, check_spec

ZOO = (Path(__file__).parents[1] / "genotypes" / "bars-fmnist-m.geno").read_text(encoding="utf-8")
N2 = "  n2 <- in: bconv3x3\n"
N3 = "  n3 <- in: bconv3x3, n1: shortcut\n"
assert ZOO.count(N2) == 1 and ZOO.count(N3) == 1


def _errors(text: str) -> list[str]:
    doc = check(text, "m.geno")
    return [f"{d.line}: {d.message}" for d in doc.errors]


def test_a_repeated_node_line_is_one_error_saying_it_is_defined_twice() -> None:
    doc = check(ZOO.replace(N2, N2 + N2), "m.geno")
    assert [(d.line, d.message) for d in doc.errors] == [
        (21, "node 'n2' is defined twice (first on line 20)")
    ]
    assert "remove one of them" in (doc.errors[0].hint or "")


def test_a_deleted_node_line_is_one_error_naming_the_missing_node() -> None:
    assert _errors(ZOO.replace(N2, "")) == [
        "20: node 'n2' is missing (the node after 'n1' is 'n3')"
    ]


def test_a_deleted_node_used_by_a_later_edge_is_not_echoed_as_an_undefined_source() -> None:
    # n4 takes an edge from n2: that edge is part of the one mistake
    assert "n2: bconv3x3" in ZOO
    assert _errors(ZOO.replace(N2, "")) == [
        "20: node 'n2' is missing (the node after 'n1' is 'n3')"
    ]


def test_an_inserted_node_line_is_one_error_at_the_inserted_line() -> None:
    extra = "  n9 <- in: shortcut\n"
    assert _errors(ZOO.replace(N2, N2 + extra)) == ["21: node 'n9' out of order: expected 'n3'"]


def test_a_misnumbered_node_is_one_error_and_its_name_may_be_used_below_it() -> None:
    assert _errors(ZOO.replace(N3, N3.replace("n3", "n5"))) == [
        "21: node 'n5' out of order: expected 'n3'"
    ]


def test_a_swapped_node_is_one_error_and_its_edge_from_the_node_below_is_not_echoed() -> None:
    # n3 put above n2 and taking an edge from it: moving n3 below n2 fixes both
    swapped = "  n3 <- in: bconv3x3, n2: shortcut\n  n2 <- n1: bconv3x3\n"
    assert _errors(ZOO.replace(N2 + N3, swapped)) == ["20: node 'n3' out of order: expected 'n2'"]


def test_a_node_moved_up_is_not_reported_missing_where_it_belongs() -> None:
    assert _errors(ZOO.replace(N2 + N3, N3 + N2)) == ["20: node 'n3' out of order: expected 'n2'"]


def test_a_swapped_node_still_refuses_an_edge_from_a_node_below_its_place() -> None:
    # n3 may take n2 (it belongs below n2) but not n4, which comes after it wherever it goes
    swapped = "  n3 <- in: bconv3x3, n4: shortcut\n  n2 <- n1: bconv3x3\n"
    assert _errors(ZOO.replace(N2 + N3, swapped)) == [
        "20: node 'n3' out of order: expected 'n2'",
        "20: edge from 'n4', which comes after 'n3'",
    ]


def test_a_copied_node_line_left_unrenamed_asks_for_the_name_no_node_has() -> None:
    doc = check(ZOO.replace("  n4 <- ", "  n3 <- "), "m.geno")
    assert [d.message for d in doc.errors] == ["node 'n3' is defined twice (first on line 21)"]
    assert "is it 'n4', which no node defines?" in (doc.errors[0].hint or "")


def test_check_spec_reports_one_numbering_finding_for_a_duplicated_node() -> None:
    spec = check(ZOO).spec
    assert isinstance(spec, NetworkSpec)
    ci = spec.cell_names().index("normal3")
    nodes = list(spec.cells[ci].nodes)
    bad = spec.cells[ci].model_copy(update={"nodes": [nodes[0], nodes[1], *nodes[1:]]})
    probs = check_spec(
        spec.model_copy(update={"cells": [*spec.cells[:ci], bad, *spec.cells[ci + 1 :]]})
    )
    assert [(p.code, p.message, p.path, p.first) for p in probs if p.severity == "error"] == [
        (
            "node-order",
            "node 'n2' is defined twice",
            ("cells", ci, "nodes", 2, "name"),
            ("cells", ci, "nodes", 1, "name"),
        )
    ]


def test_a_downsample_of_a_wrong_cell_is_not_also_warned_as_a_different_reduction() -> None:
    doc = check(ZOO.replace("downsample cell=reduce", "downsample cell=normal1", 1), "m.geno")
    assert [d.code for d in doc.errors] == ["bad-stride"]
    assert [d.code for d in doc.warnings] == []


def test_a_downsample_cell_with_an_error_of_its_own_is_not_compared_with_the_others() -> None:
    reduce2 = (
        "cell reduce2 stride=2 preprocess=bfr shortcut=bconv3x3 op_shortcut=true {\n"
        "  n1 <- in: shortcut\n  n2 <- in: bconv3x3, n1: bogus\n}\n"
    )
    text = ZOO.replace("stage s1:", reduce2 + "stage s1:")
    second = text.rindex("downsample cell=reduce")
    text = (
        text[:second] + "downsample cell=reduce2" + text[second + len("downsample cell=reduce") :]
    )
    doc = check(text, "m.geno")
    assert [d.code for d in doc.errors] == ["unknown-op"]
    assert [d.code for d in doc.warnings] == []


def test_a_broken_first_downsample_is_not_named_as_the_first_in_the_warning() -> None:
    # the first downsample's cell is a normal cell (an error); the second and third differ
    reduce3 = (
        "cell reduce3 stride=2 preprocess=bfr shortcut=bconv3x3 op_shortcut=true {\n"
        "  n1 <- in: shortcut\n}\n"
    )
    text = ZOO.replace("stage s1:", reduce3 + "stage s1:")
    text = text.replace(
        "head ", "downsample cell=reduce\nstage s4: channels=144 depth=1 cell=normal3\nhead "
    )  # a third downsample, of cell 'reduce'
    text = text.replace("downsample cell=reduce", "downsample cell=normal1", 1)  # 1st: an error
    text = text.replace("downsample cell=reduce\n", "downsample cell=reduce3\n", 1)  # 2nd
    doc = check(text, "m.geno")
    assert [d.code for d in doc.errors] == ["bad-stride"]
    assert [d.message for d in doc.warnings if d.code == "unusual-layout"] == [
        "downsample cell 'reduce' differs from 'reduce3', the cell of an earlier downsample; "
        "BARS shares one reduction cell between all downsamples"
    ]


def test_a_swapped_node_in_a_cycle_reports_the_cycle_edge_in_the_same_pass() -> None:
    # n3 above n2 takes an edge from n2, and n2 one from n3: no move or renumbering fixes that
    swapped = "  n3 <- in: bconv3x3, n2: shortcut\n  n2 <- n3: bconv3x3\n"
    assert _errors(ZOO.replace(N2 + N3, swapped)) == [
        "20: node 'n3' out of order: expected 'n2'",
        "21: edge from 'n3', which belongs after 'n2' and takes an edge from it: a cycle",
    ]


def test_a_swapped_node_without_a_cycle_stays_one_error() -> None:
    # n2 takes an edge from n3 but n3 not from n2: renumbering fixes it, so no edge error
    swapped = "  n3 <- in: bconv3x3\n  n2 <- n3: bconv3x3\n"
    assert _errors(ZOO.replace(N2 + N3, swapped)) == ["20: node 'n3' out of order: expected 'n2'"]


def test_a_reduction_cell_declared_stride_1_is_one_error_at_its_stride() -> None:
    # 'reduce' has preprocess=bfr and two downsamples use it: the stride is the one mistake,
    # not the bfr (a stride-2 op) and not each downsample
    doc = check(ZOO.replace("cell reduce stride=2", "cell reduce stride=1"), "m.geno")
    assert [(d.code, d.line, d.column, d.message) for d in doc.errors] == [
        (
            "bad-stride",
            25,
            20,
            "cell 'reduce' has stride=1, but downsamples use it: a downsample cell must have "
            "stride=2",
        )
    ], [d.render() for d in doc.errors]
    assert doc.errors[0].hint == "declare it with stride=2: a downsample halves the resolution"


def test_a_reduction_cell_without_its_stride_option_is_one_error_at_its_name() -> None:
    doc = check(ZOO.replace("cell reduce stride=2 ", "cell reduce "), "m.geno")
    assert [(d.code, d.line, d.column) for d in doc.errors] == [("bad-stride", 25, 6)]


def test_a_normal_cell_declared_stride_2_for_several_stages_is_one_error_at_its_stride() -> None:
    text = ZOO.replace("cell normal1 stride=1", "cell normal1 stride=2").replace(
        "cell=normal2", "cell=normal1"
    )
    doc = check(text, "m.geno")
    assert [(d.code, d.line, d.message) for d in doc.errors] == [
        (
            "bad-stride",
            10,
            "cell 'normal1' has stride=2, but stages use it: a stage cell must have stride=1",
        )
    ], [d.render() for d in doc.errors]


def test_a_downsample_of_a_cell_the_stages_use_is_still_the_downsamples_error() -> None:
    # the cell is right for its stages: the downsample names the wrong cell
    doc = check(ZOO.replace("downsample cell=reduce", "downsample cell=normal1"), "m.geno")
    assert [(d.code, d.line) for d in doc.errors] == [("bad-stride", 30), ("bad-stride", 32)]


def test_a_node_moved_above_a_node_that_takes_input_from_it_is_told_to_renumber_not_move() -> None:
    # moving n3 below n2 would leave n2 with an edge from a later node
    swapped = "  n3 <- in: bconv3x3\n  n2 <- n3: bconv3x3\n"
    doc = check(ZOO.replace(N2 + N3, swapped), "m.geno")
    assert [(d.line, d.hint) for d in doc.errors] == [
        (
            20,
            "renumber 'n3' -> 'n2', 'n2' -> 'n3', edges included (moving it would not do: "
            "'n2' takes input from it)",
        )
    ]


def test_a_node_moved_above_a_node_it_takes_input_from_is_told_to_move_not_renumber() -> None:
    # renaming n3 to n2 would leave it with an edge from a later node
    swapped = "  n3 <- in: bconv3x3, n2: shortcut\n  n2 <- in: bconv3x3\n"
    doc = check(ZOO.replace(N2 + N3, swapped), "m.geno")
    assert [(d.line, d.hint) for d in doc.errors] == [
        (20, "move it below 'n2': it takes input from 'n2'")
    ]


def test_a_node_in_a_cycle_is_told_that_no_move_or_renumbering_fixes_it() -> None:
    swapped = "  n3 <- in: bconv3x3, n2: shortcut\n  n2 <- n3: bconv3x3\n"
    doc = check(ZOO.replace(N2 + N3, swapped), "m.geno")
    assert (doc.errors[0].code, doc.errors[0].hint) == (
        "node-order",
        "no move or renumbering fixes it: it and 'n2' take input from each other",
    )


_FROM_ZERO = "cell 'normal' numbers its nodes from n0; nodes start at n1"


def _cell(*lines: str) -> str:
    old = "  n1 <- in: bconv3x3\n  n2 <- in: shortcut, n1: bconv3x3\n"
    return EDIT_BASE.replace(old, "".join(f"  {ln}\n" for ln in lines), 1)


def test_a_cell_from_n0_with_a_gap_is_the_n0_error_and_one_missing_node_as_written() -> None:
    text = _cell("n0 <- in: bconv3x3", "n1 <- in: shortcut, n0: bconv3x3", "n3 <- n1: bconv3x3")
    assert _errors(text) == [
        f"6: {_FROM_ZERO}",
        "8: node 'n2' is missing (the node after 'n1' is 'n3')",
    ]
    hint = check(text).errors[0].hint
    assert hint is not None and hint.endswith("n0 -> n1, n1 -> n2, n3 -> n4")


def test_a_cell_from_n0_that_skips_n1_is_not_told_n0_is_not_a_node_name() -> None:
    text = _cell("n0 <- in: bconv3x3", "n2 <- in: shortcut, n0: bconv3x3")
    assert _errors(text) == [
        f"6: {_FROM_ZERO}",
        "7: node 'n1' is missing (the node after 'n0' is 'n2')",
    ]


def test_a_cell_from_n0_with_a_repeated_line_names_the_repeat_as_written() -> None:
    text = _cell("n0 <- in: bconv3x3", "n1 <- in: shortcut, n0: bconv3x3", "n1 <- n0: bconv3x3")
    doc = check(text)
    assert _errors(text) == [f"6: {_FROM_ZERO}", "8: node 'n1' is defined twice (first on line 7)"]
    assert doc.errors[1].hint == "rename this one: is it 'n2', which no node defines?"


def test_a_cell_from_n0_names_an_undefined_edge_source_as_written() -> None:
    text = _cell("n0 <- in: bconv3x3", "n1 <- in: shortcut, n5: bconv3x3")
    doc = check(text)
    assert _errors(text) == [f"6: {_FROM_ZERO}", "7: edge from undefined node 'n5'"]
    assert doc.errors[1].hint == "edges come from 'in' or an earlier node (in, n0)"


def test_a_quote_that_swallows_a_cells_brace_is_one_error_at_the_string_not_a_closed_cell() -> None:
    # `cell" normal3 ... {`: the '{' is inside an unterminated string, so the line holds no '}'
    # to point at; the node lines below are the cell's own, not nodes outside a cell
    text = ZOO.replace("cell normal3 ", 'cell" normal3 ', 1)
    doc = check(text, "m.geno")
    assert [(d.code, d.message) for d in doc.errors] == [("syntax", "unterminated string")]
    assert all(d.column >= 1 for d in doc.errors)
