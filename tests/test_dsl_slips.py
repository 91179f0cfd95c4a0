"""Hand-editing slips: each mistyped line is one error, at the culprit, saying what to change.

Every case here used to get a message that pointed elsewhere or asked for the wrong thing
(``input 3x-32x32`` was "expected '='", ``stage channels=16 ...`` was "expected ':'", a stage
line was offered a ``'{'``).  Each case edits :data:`BASE` once and names the text the caret must
sit under.
"""

from __future__ import annotations

import re

import pytest
from tiny_net import EDIT_BASE as BASE

from bars_zoo.dsl import check

# (id, old, new, line, caret under, message regex, hint regex)
SLIPS = [
    (
        "nodes-numbered-from-zero",
        "  n1 <- in: bconv3x3\n  n2 <- in: shortcut, n1: bconv3x3",
        "  n0 <- in: bconv3x3\n  n1 <- in: shortcut, n0: bconv3x3",
        6,
        "n0",
        "^cell 'normal' numbers its nodes from n0; nodes start at n1$",
        "the edges from them: n0 -> n1, n1 -> n2$",
    ),
    (
        "semicolon-between-two-statements",
        "cell=normal\ndownsample",
        "cell=normal; downsample",
        12,
        ";",
        "^';' does not end or separate statements: one statement per line$",
        "^put what follows the ';' on a line of its own",
    ),
    (
        "semicolon-at-the-end-of-a-statement",
        "avgpool linear",
        "avgpool linear;",
        15,
        ";",
        "one statement per line$",
        "^delete the ';'",
    ),
    (
        "unit-suffix-on-channels",
        "channels=32",
        "channels=96k",
        14,
        "96k",
        "^'channels' takes a whole number, got '96k'$",
        "^numbers here take no unit suffix: write a whole number such as 96 \\(at most 8192\\)$",
    ),
    (
        "unit-suffix-on-classes-within-bounds",
        "classes=10",
        "classes=1k",
        3,
        "1k",
        "^'classes' takes a whole number, got '1k'$",
        "^numbers here take no unit suffix: write 1000$",
    ),
    (
        "negative-size-in-shape",
        "3x32x32",
        "3x-32x32",
        3,
        "-32",
        "'input height' must be at least 1, got -32",
        None,
    ),
    (
        "commas-in-shape",
        "3x32x32",
        "3,32,32",
        3,
        "3,32,32",
        "channels x height x width.*got '3,32,32'",
        "^write '3x32x32'$",
    ),
    (
        "multiplication-sign-in-shape",
        "3x32x32",
        "3\u00d732\u00d732",
        3,
        "3\u00d7",
        "channels x height x width",
        "write '3x32x32'; .*U\\+00D7 MULTIPLICATION SIGN.* looks like 'x'",
    ),
    (
        "spaces-in-shape",
        "3x32x32",
        "3 x 32 x 32",
        3,
        "3 x",
        "the input shape is one word, like 3x32x32; got '3 x 32 x 32'",
        "^write '3x32x32'$",
    ),
    (
        "shape-without-channels",
        "3x32x32",
        "32x32",
        3,
        "32x32",
        "channels x height x width",
        "put the channels first: 1x32x32 \\(grey\\) or 3x32x32 \\(colour\\)",
    ),
    (
        "space-in-a-meta-key",
        "searched_on=",
        "searched on=",
        16,
        "on=",
        "unexpected 'on'; expected '=' after 'searched'",
        "^a name cannot hold a space: write 'searched_on'$",  # was: write 'searched=on'
    ),
    (
        "option-without-equals",
        "classes=10",
        "classes 10",
        3,
        "10",
        "unexpected '10'; expected '=' after 'classes'",
        "'classes=10'",
    ),
    (
        "downsample-without-cell-key",
        "downsample cell=reduce",
        "downsample reduce",
        13,
        "$",
        "expected '=' after 'reduce'",
        "did you mean 'cell=reduce'",
    ),
    (
        "option-without-value",
        "depth=2 cell=normal\ndownsample",
        "depth= cell=normal\ndownsample",
        12,
        "depth",
        "option 'depth' has no value",
        "depth=VALUE",
    ),
    (
        "option-without-value-at-end",
        "cell=normal\ndownsample",
        "cell=\ndownsample",
        12,
        "cell=",
        "option 'cell' has no value",
        None,
    ),
    (
        "stage-without-name",
        "stage s1: channels",
        "stage channels",
        12,
        "channels",
        "the stage has no name",
        "stage s1: channels=48",
    ),
    (
        "stage-colon-without-name",
        "stage s1:",
        "stage :",
        12,
        ":",
        "the stage has no name",
        None,
    ),
    (
        "cell-without-name",
        "cell reduce stride=2",
        "cell stride=2",
        9,
        "stride",
        "the cell has no name",
        "write its name after 'cell'",
    ),
    (
        "comma-between-options",
        "channels=16 depth=2",
        "channels=16, depth=2",
        12,
        ",",
        "unexpected ','; the words of a statement are separated by spaces",
        "remove the ','",
    ),
    (
        "meta-value-with-a-space",
        'searched_on="cifar10"',
        "searched_on=cifar 10",
        16,
        "10",
        "^unexpected '10'; expected a name or end of line$",  # no '{' offered on a meta line
        'goes in "quotes"',
    ),
    (
        "en-dash-in-a-name",
        "depth=2 cell=normal\ndownsample",
        "depth=2 cell=nor\u2013mal\ndownsample",
        12,
        "\u2013",
        "^unexpected character '\u2013' \\(U\\+2013 EN DASH\\); expected a name or end of line$",
        "looks like '-' but is not: type '-'",
    ),
    (
        "curly-quotes",
        'name "t"',
        "name \u201ct\u201d",
        2,
        "\u201c",
        "U\\+201C LEFT DOUBLE QUOTATION MARK",
        "looks like '\"'",
    ),
    (
        "no-break-space",
        "stage s1: channels",
        "stage s1:\u00a0channels",
        12,
        "\u00a0",
        "unexpected character U\\+00A0 NO-BREAK SPACE",
        "looks like a space but is not one",
    ),
    (
        "unicode-arrow",
        "n2 <- in: shortcut",
        "n2 \u2190 in: shortcut",
        7,
        "\u2190",
        "U\\+2190 LEFTWARDS ARROW",
        "type '<-'",
    ),
    (
        "unquoted-name",
        'name "t"',
        "name t",
        2,
        "t",
        'expected a "string"',
        'name "t"',
    ),
    (
        "single-quoted-name",
        'name "t"',
        "name 't'",
        2,
        "'",
        'expected a "string"',
        "double quotes",
    ),
    (
        "equals-for-colon-in-an-edge",
        "n2 <- in: shortcut",
        "n2 <- in=shortcut",
        7,
        "=",
        "unexpected '='; expected ':' between the source 'in' and its op",
        "^write 'in: shortcut'$",
    ),
    (
        "trailing-comma-in-node",
        "n2 <- in: shortcut, n1: bconv3x3",
        "n2 <- in: shortcut,",
        7,
        ",",
        "a ',' with no edge after it",
        "remove the ','",
    ),
    (
        "edge-without-op",
        "n2 <- in: shortcut, n1: bconv3x3",
        "n2 <- in: shortcut, n1:",
        7,
        "n1:",
        "the edge from 'n1' has no op",
        "'n1: bconv3x3'",
    ),
    (
        "misnamed-node",
        "n1 <- in: bconv3x3\n  n2",
        "N1 <- in: bconv3x3\n  n2",
        6,
        "N1",
        "node 'N1' is not a node name: expected 'n1'",  # was "out of order"
        "n1, n2, ... in order",
    ),
    (
        "edge-from-input",
        "n2 <- in: shortcut",
        "n2 <- input: shortcut",
        7,
        "input",
        "edge from 'input', which is neither 'in' nor a node",
        "did you mean 'in'\\?",
    ),
    (
        "plus-between-edges",
        "n2 <- in: shortcut, n1",
        "n2 <- in: shortcut + n1",
        7,
        "+",
        "unexpected character '\\+'",
        "separate them with ','",
    ),
    (
        "en-dash-in-arrow",
        "n1 <- in",
        "n1 <\u2013 in",
        6,
        "<",
        "unexpected character .*\\(U\\+2013 EN DASH\\) after '<'; expected '<-'",
        "\\(U\\+2013 EN DASH\\) looks like '-' but is not: type '<-'$",
    ),
    (
        "em-dash-in-arrow",
        "n1 <- in",
        "n1 <\u2014 in",
        6,
        "<",
        "unexpected character .*\\(U\\+2014 EM DASH\\) after '<'; expected '<-'",
        "\\(U\\+2014 EM DASH\\) looks like '-' but is not: type '<-'$",
    ),
    (
        "minus-sign-in-arrow",
        "n1 <- in",
        "n1 <\u2212 in",
        6,
        "<",
        "unexpected character .*\\(U\\+2212 MINUS SIGN\\) after '<'; expected '<-'",
        "\\(U\\+2212 MINUS SIGN\\) looks like '-' but is not: type '<-'$",
    ),
    (
        "cyrillic-ha-in-an-op-name",
        "n1 <- in: bconv3x3",
        "n1 <- in: bconv3\u04453",
        6,
        "\u0445",
        "unexpected character .*\\(U\\+0445 CYRILLIC SMALL LETTER HA\\)",
        "looks like 'x' but is not: type 'x'$",
    ),
    (
        "cyrillic-o-in-an-op-name",
        "n1 <- in: bconv3x3",
        "n1 <- in: bc\u043env3x3",
        6,
        "\u043e",
        "unexpected character .*\\(U\\+043E CYRILLIC SMALL LETTER O\\)",
        "looks like 'o' but is not: type 'o'$",
    ),
    (
        "greek-omicron-in-an-op-name",
        "n1 <- in: bconv3x3",
        "n1 <- in: bc\u03bfnv3x3",
        6,
        "\u03bf",
        "unexpected character .*\\(U\\+03BF GREEK SMALL LETTER OMICRON\\)",
        "looks like 'o' but is not: type 'o'$",
    ),
    (
        "cyrillic-capital-ve-in-an-op-name",
        "n1 <- in: bconv3x3",
        "n1 <- in: \u0412conv3x3",
        6,
        "\u0412",
        "unexpected character .*\\(U\\+0412 CYRILLIC CAPITAL LETTER VE\\)",
        "looks like 'B' but is not: write 'bconv3x3'$",
    ),
    (
        "greek-capital-omicron-in-a-cell-reference",
        "depth=2 cell=normal\n",
        "depth=2 cell=n\u039frmal\n",
        12,
        "\u039f",
        "unexpected character .*\\(U\\+039F GREEK CAPITAL LETTER OMICRON\\)",
        "looks like 'O' but is not: write 'normal'$",
    ),
    (
        "cyrillic-capital-letters-in-a-name-meant-in-capitals",
        "stage s1:",
        "stage \u0405\u0410:",
        12,
        "\u0405",
        "unexpected character .*\\(U\\+0405 CYRILLIC CAPITAL LETTER DZE\\)",
        "looks like 'S' but is not: type 'S'$",
    ),
    (
        "cyrillic-capital-es-in-a-keyword",
        "stage s1:",
        "\u0405tage s1:",
        12,
        "\u0405",
        "^unknown statement '\u0405tage'$",
        "U\\+0405 CYRILLIC CAPITAL LETTER DZE.* looks like 'S' but is not: write 'stage'$",
    ),
    (
        "cyrillic-small-ie-in-a-keyword-is-named-at-the-letter",
        "head avgpool",
        "h\u0435ad avgpool",
        15,
        "\u0435",
        "^unknown statement 'h\u0435ad'$",
        "U\\+0435 CYRILLIC SMALL LETTER IE.* looks like 'e' but is not: type 'e'$",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "at", "message", "hint"),
    [s[1:] for s in SLIPS],
    ids=[s[0] for s in SLIPS],
)
def test_a_hand_editing_slip_is_one_error_that_says_what_to_change(
    old: str, new: str, line: int, at: str, message: str, hint: str | None
) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    doc = check(text, "t.geno")
    assert len(doc.errors) == 1, "\n".join(d.render() for d in doc.errors)
    d = doc.errors[0]
    src = text.split("\n")[line - 1]
    column = len(src.rstrip()) + 1 if at == "$" else src.index(at) + 1
    assert (d.line, d.column) == (line, column), d.render()
    assert re.search(message, d.message), d.message
    if hint is not None:
        assert d.hint and re.search(hint, d.hint), d.hint


def test_a_stage_or_meta_line_is_never_offered_a_brace() -> None:
    # LALR's own lookahead lists merge statements: a stage option was "expected '{'"
    for old, new in [("cell=normal\ndownsample", "cell=normal ;\ndownsample"), ('10"', '10" ;')]:
        doc = check(BASE.replace(old, new, 1))
        assert [d.code for d in doc.errors] == ["syntax"]
        assert "'{'" not in doc.errors[0].message, doc.errors[0].message


def test_a_copied_cell_that_kept_its_name_is_one_error_saying_which_name_is_missing() -> None:
    # a copy of cell 'normal' (line 12) was meant to become 'normal2', which stage s2 uses: the
    # stage's reference is part of that one mistake, not an unknown cell of its own
    copy = "cell normal stride=1 preprocess=bconv3x3 shortcut=identity { n1 <- in: bconv3x3 }\n"
    text = BASE.replace("stage s1:", copy + "stage s1:", 1).replace(
        "depth=2 cell=normal\nhead", "depth=2 cell=normal2\nhead"
    )
    doc = check(text)
    assert [(d.code, d.line) for d in doc.errors] == [("duplicate-name", 12)], [
        d.render() for d in doc.errors
    ]
    assert doc.errors[0].hint == (
        "rename one of them; is it 'normal2', which the layout uses but no cell defines?"
    )


def test_two_copies_that_kept_their_name_are_paired_with_the_missing_names_in_order() -> None:
    copy = "cell normal stride=1 preprocess=bconv3x3 shortcut=identity { n1 <- in: bconv3x3 }\n"
    text = (
        BASE.replace("stage s1:", copy + copy + "stage s1:", 1)
        .replace("depth=2 cell=normal\ndownsample", "depth=2 cell=normal2\ndownsample")
        .replace("depth=2 cell=normal\nhead", "depth=2 cell=normal3\nhead")
    )
    doc = check(text)
    assert [(d.code, d.line, d.hint) for d in doc.errors] == [
        (
            "duplicate-name",
            12,
            "rename one of them; is it 'normal2', which the layout uses but no cell defines?",
        ),
        (
            "duplicate-name",
            13,
            "rename one of them; is it 'normal3', which the layout uses but no cell defines?",
        ),
    ], [d.render() for d in doc.errors]


def test_a_copied_cell_still_refuses_a_second_undefined_cell_as_its_own_mistake() -> None:
    # one repeated definition explains one missing name; the other is a mistake of its own
    copy = "cell normal stride=1 preprocess=bconv3x3 shortcut=identity { n1 <- in: bconv3x3 }\n"
    text = (
        BASE.replace("stage s1:", copy + "stage s1:", 1)
        .replace("depth=2 cell=normal\ndownsample", "depth=2 cell=normal2\ndownsample")
        .replace("depth=2 cell=normal\nhead", "depth=2 cell=norml\nhead")
    )
    doc = check(text)
    assert [(d.code, d.line) for d in doc.errors] == [
        ("duplicate-name", 12),
        ("unknown-cell", 15),
    ], [d.render() for d in doc.errors]
    assert doc.errors[1].hint == "did you mean 'normal'?"


def test_a_shape_that_lost_an_x_is_not_told_to_add_channels() -> None:
    # 332x32 is 3x32x32 with an x lost, not a 332x32 image without its channels
    doc = check(BASE.replace("3x32x32", "332x32", 1))
    assert [d.code for d in doc.errors] == ["bad-value"]
    assert doc.errors[0].hint is None


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("True", "true"),
        ("False", "false"),
        ("yes", "true"),
        ("no", "false"),
        ("1", "true"),
        ("0", "false"),
        ("ON", "true"),
        ('"false"', "false"),
    ],
)
def test_a_boolean_of_another_language_is_refused_with_the_word_to_write(
    written: str, meant: str
) -> None:
    text = BASE.replace("op_shortcut=true", f"op_shortcut={written}", 1)
    doc = check(text)
    assert [(d.code, d.line, d.message) for d in doc.errors] == [
        ("bad-value", 5, f"'op_shortcut' takes true or false, got '{written}'")
    ], [d.render() for d in doc.errors]
    assert doc.errors[0].hint == f"write '{meant}'"
    assert doc.errors[0].column == text.split("\n")[4].index(f"op_shortcut={written}") + 13


def test_a_boolean_that_means_nothing_is_refused_with_both_words() -> None:
    doc = check(BASE.replace("op_shortcut=true", "op_shortcut=maybe", 1))
    assert [d.hint for d in doc.errors] == ["write 'true' or 'false'"]


@pytest.mark.parametrize(
    ("old", "new", "line", "meant"),
    [
        ("preprocess=bfr", "preprocess=BFR", 9, "bfr"),
        ("shortcut=identity", "shortcut=Identity", 5, "identity"),
        ("n1 <- in: bconv3x3", "n1 <- in: BConv3x3", 6, "bconv3x3"),
        ("n2 <- in: shortcut", "n2 <- in: Shortcut", 7, "shortcut"),
        ("pool=none", "pool=None", 4, "none"),
    ],
)
def test_an_op_in_the_wrong_case_is_refused_with_its_lower_case_spelling(
    old: str, new: str, line: int, meant: str
) -> None:
    doc = check(BASE.replace(old, new, 1))
    assert [(d.line, d.message.split()[-1]) for d in doc.errors] == [
        (line, f"'{new.split('=')[-1].split()[-1]}'")
    ], [d.render() for d in doc.errors]
    assert doc.errors[0].hint == f"did you mean '{meant}'? (lower case)"


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        (
            "n2 <- in: shortcut",
            "n2 <- in: Identity",
            "did you mean 'shortcut'? an identity edge is written 'shortcut'",
        ),
        (
            "shortcut=identity",
            "shortcut=shortcut",
            "did you mean 'identity'? a parameter-free cell op is written 'identity'",
        ),
    ],
)
def test_the_identity_op_of_the_other_place_is_refused_with_this_places_name_for_it(
    old: str, new: str, hint: str
) -> None:
    doc = check(BASE.replace(old, new, 1))
    assert [(d.code, d.hint) for d in doc.errors] == [("unknown-op", hint)]


def test_edges_without_a_comma_between_them_are_refused_with_a_hint_to_add_one() -> None:
    text = BASE.replace("n2 <- in: shortcut, n1: bconv3x3", "n2 <- in: shortcut n1: bconv3x3", 1)
    doc = check(text)
    assert [(d.code, d.line, d.column, d.message) for d in doc.errors] == [
        ("syntax", 7, 22, "unexpected 'n1'; expected ',' between two edges")
    ], [d.render() for d in doc.errors]
    assert doc.errors[0].hint == "separate the edges with ',': write 'shortcut, n1'"


@pytest.mark.parametrize("sep", [";", "|", "&"])
def test_edges_separated_by_another_character_are_refused_with_a_hint_to_write_a_comma(
    sep: str,
) -> None:
    text = BASE.replace("in: shortcut, n1:", f"in: shortcut{sep} n1:", 1)
    doc = check(text)
    assert [(d.code, d.line, d.column, d.message) for d in doc.errors] == [
        ("syntax", 7, 21, f"unexpected character '{sep}'; the edges of a node are separated by ','")
    ], [d.render() for d in doc.errors]
    assert doc.errors[0].hint == f"write ',' instead of '{sep}'"


def test_two_ops_on_one_edge_are_not_told_to_add_a_comma() -> None:
    # 'in: shortcut bconv3x3' is not two edges: the word after the op is not a source
    doc = check(BASE.replace("n2 <- in: shortcut, n1: bconv3x3", "n2 <- in: shortcut bconv3x3"))
    assert [d.code for d in doc.errors] == ["syntax"]
    assert "','" not in (doc.errors[0].hint or ""), doc.errors[0].render()


@pytest.mark.parametrize(
    ("old", "new", "line", "meant"),
    [
        ("head avgpool linear", "head AvgPool linear", 15, "avgpool"),
        ("head avgpool linear", "head avgpool Linear", 15, "linear"),
        ("stage s2", "Stage s2", 14, "stage"),
        ("cell reduce", "CELL reduce", 9, "cell"),
    ],
)
def test_a_head_word_or_keyword_in_the_wrong_case_is_refused_with_its_lower_case_spelling(
    old: str, new: str, line: int, meant: str
) -> None:
    doc = check(BASE.replace(old, new, 1))
    assert [d.line for d in doc.errors] == [line], [d.render() for d in doc.errors]
    assert (doc.errors[0].hint or "").startswith(f"did you mean '{meant}'? (lower case)")


@pytest.mark.parametrize(
    ("old", "new", "line", "meant"),
    [
        ("stage s2: channels=32", "stage s2: Channels=32", 14, "channels"),
        ("depth=2 cell=normal\ndownsample", "Depth=2 cell=normal\ndownsample", 12, "depth"),
        ("cell reduce stride=2", "cell reduce STRIDE=2", 9, "stride"),
        ("input 3x32x32 classes=10", "input 3x32x32 Classes=10", 3, "classes"),
        ("downsample cell=reduce", "downsample Cell=reduce", 13, "cell"),
        ("shortcut=bfr op_shortcut", "shortcut=bfr Op_Shortcut", 9, "op_shortcut"),
    ],
)
def test_an_option_name_in_the_wrong_case_is_refused_with_its_lower_case_spelling(
    old: str, new: str, line: int, meant: str
) -> None:
    doc = check(BASE.replace(old, new, 1))
    assert [(d.code, d.line) for d in doc.errors] == [("unknown-option", line)], [
        d.render() for d in doc.errors
    ]
    assert doc.errors[0].hint == f"did you mean '{meant}'? (lower case)"


@pytest.mark.parametrize(("value", "whole"), [("96.5", "96"), ("16.0", "16"), ("8.", "8")])
def test_a_decimal_number_is_refused_with_a_whole_number_to_write(value: str, whole: str) -> None:
    doc = check(BASE.replace("channels=32", f"channels={value}", 1))
    assert [(d.line, d.message) for d in doc.errors] == [
        (14, f"'channels' takes a whole number, got '{value}'")
    ], [d.render() for d in doc.errors]
    assert doc.errors[0].hint == f"write a whole number such as {whole}"
