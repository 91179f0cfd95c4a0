"""Every diagnostic code, from a small broken file: its message, line and column.

Each case mutates :data:`BASE` (a valid two-cell network) and names the word the caret must sit
under; the expected column is found from that word, so the table stays readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from tiny_net import EDIT_BASE as BASE

from bars_zoo import dsl
from bars_zoo.dsl import ERROR_CODES, WARNING_CODES, check, parse, read
from bars_zoo.errors import GenotypeError
from bars_zoo.spec import Limits

REDUCE_BODY = "op_shortcut=true {\n  n1 <- in: bconv3x3\n}"


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    edits: tuple[tuple[str, str], ...]  # (old, new): replace the first old with new
    line: int
    at: str  # the caret sits under the first occurrence of this text on the line; "$" = end of line
    message: str  # a regular expression the message must match
    hint: str | None = None  # and one the hint must match
    text: str | None = None  # the whole file, instead of edits

    def source(self) -> str:
        if self.text is not None:
            return self.text
        out = BASE
        for old, new in self.edits:
            assert old in out, old
            out = out.replace(old, new, 1)
        return out


def C(id, code, edits, line, at, message, hint=None, text=None) -> Case:
    if edits and isinstance(edits[0], str):
        edits = (edits,)
    return Case(id, code, tuple(edits), line, at, message, hint, text)


CASES = [
    # the file as a whole
    C("empty-file", "empty", (), 1, "", "holds no genotype", "bars 1", text=""),
    C("comments-only", "empty", (), 1, "", "holds no genotype", text="# just a note\n"),
    C(
        "control-char",
        "not-text",
        ('name "t"', 'name "t\x01"'),
        2,
        "\x01",
        "control character U\\+0001",
    ),
    C("nul-byte", "not-text", ("head avgpool", "head\x00avgpool"), 15, "\x00", "U\\+0000"),
    C(
        "file-too-large",
        "too-large",
        (),
        1,
        "",
        f"more than {Limits.MAX_FILE_BYTES} bytes",
        text="#" * (Limits.MAX_FILE_BYTES + 1),
    ),
    C(
        "number-too-large",
        "too-large",
        ("channels=32", "channels=9000"),
        14,
        "9000",
        "'channels' is 9000; the limit is 8192",
    ),
    C(
        "absurd-number",
        "too-large",
        ("channels=32", f"channels={10**100}"),
        14,
        "1000",
        "'channels' is a 101-digit number; the limit is 8192",
    ),
    C(
        "input-too-large",
        "too-large",
        ("3x32x32", "3x32x5000"),
        3,
        "5000",
        "'input width' is 5000; the limit is 4096",
    ),
    C(
        "name-too-long",
        "too-large",
        ("stage s1:", f"stage {'s' * 65}:"),
        12,
        "sss",
        "the stage name has 65 characters; the limit is 64",
    ),
    C(
        "too-many-nodes",
        "too-large",
        (
            "  n1 <- in: bconv3x3\n}",
            "".join(f"  n{i} <- in: bconv3x3\n" for i in range(1, 18)) + "}",
        ),
        26,
        "n17",
        "cell 'reduce' has 17 nodes; the limit is 16",
    ),
    # syntax and sections
    C(
        "missing-colon",
        "syntax",
        ("stage s1:", "stage s1"),
        12,
        "channels",
        "unexpected 'channels'; expected ':'",
        "for example: stage s1: channels=48",
    ),
    C(
        "missing-equals",
        "syntax",
        ("depth=2 cell=normal\ndownsample", "depth 2 cell=normal\ndownsample"),
        12,
        "2 cell",
        "unexpected '2'; expected '='",
    ),
    C(
        "edge-without-colon",
        "syntax",
        ("n2 <- in: shortcut", "n2 <- in shortcut"),
        7,
        "shortcut",
        "unexpected 'shortcut'; expected ':' between the source 'in' and its op",
        "write 'in: shortcut'",
    ),
    C(
        "edge-without-op",
        "syntax",
        ("n2 <- in: shortcut, n1: bconv3x3", "n2 <- in: shortcut, n1"),
        7,
        "n1",
        "edge 'n1' needs an op",
        "SOURCE: OP",
    ),
    C(
        "truncated-line",
        "syntax",
        (),
        7,
        "$",
        "unexpected end of line; expected a name",
        "truncated",
        text=BASE[: BASE.index("n1: bconv3x3")],
    ),
    C(
        "unclosed-cell",
        "syntax",
        ("bconv3x3\n}\ncell reduce", "bconv3x3\ncell reduce"),
        5,
        "{",
        "cell 'normal' is never closed: missing '}'",
        "add '}' after its last node",
    ),
    C(
        "brace-on-next-line",
        "syntax",
        (
            "op_shortcut=true {\n  n1 <- in: bconv3x3\n  n2",
            "op_shortcut=true\n{\n  n1 <- in: bconv3x3\n  n2",
        ),
        5,
        "$",
        "unexpected end of line; expected '{' or a name",
        "the '{' goes at the end of the 'cell' line",
    ),
    C("stray-brace", "syntax", ("stage s1:", "}\nstage s1:"), 12, "}", "unmatched '}'"),
    C(
        "node-outside-cell",
        "syntax",
        ("downsample", "n3 <- in: bconv3x3\ndownsample"),
        13,
        "n3",
        "node 'n3' is outside a cell",
    ),
    C("unterminated-string", "syntax", ('name "t"', 'name "t'), 2, '"', "unterminated string"),
    C(
        "unexpected-character",
        "syntax",
        ("depth=2 cell=normal\ndownsample", "depth=2 cell=normal!\ndownsample"),
        12,
        "!",
        "unexpected character '!'",
    ),
    C(
        "misspelt-keyword",
        "unknown-statement",
        ("stage s1:", "stgae s1:"),
        12,
        "stgae",
        "unknown statement 'stgae'",
        "did you mean 'stage'",
    ),
    C(
        "capitalised-keyword",
        "unknown-statement",
        ("head avgpool", "Head avgpool"),
        15,
        "Head",
        "unknown statement 'Head'",
        "did you mean 'head'",
    ),
    C(
        "future-version",
        "version",
        ("bars 1", "bars 2"),
        1,
        "2",
        "unsupported format version 2",
        "bars 1",
    ),
    C("fractional-version", "version", ("bars 1", "bars 1.5"), 1, "1.5", "whole number, got '1.5'"),
    C(
        "no-stem",
        "missing-section",
        ("stem conv3x3 channels=16 stride=1 pool=none\n", ""),
        1,
        "bars",
        "the file has no 'stem' line",
        "add 'stem conv3x3 channels=64 stride=1 pool=none'",
    ),
    C("no-head", "missing-section", ("head avgpool linear\n", ""), 1, "bars", "no 'head' line"),
    C(
        "no-version",
        "missing-section",
        ("bars 1\n", ""),
        1,
        "name",
        "does not start with 'bars 1'",
        "put 'bars 1' on the first line",
    ),
    C(
        "version-late",
        "missing-section",
        ('bars 1\nname "t"', 'name "t"\nbars 1'),
        1,
        "name",
        "does not start with 'bars 1' \\(it is on line 2\\)",
    ),
    C(
        "not-a-genotype",
        "missing-section",
        (),
        1,
        "Dear",
        "is it a genotype file",
        text="Dear diary\n",
    ),
    C(
        "two-heads",
        "duplicate-section",
        ("head avgpool linear", "head avgpool linear\nhead avgpool linear"),
        16,
        "head",
        "'head' appears twice \\(first on line 15\\)",
    ),
    C(
        "two-version-lines",
        "duplicate-section",
        ('name "t"', 'bars 1\nname "t"'),
        2,
        "bars",
        "'bars' appears twice",
    ),
    # options and values
    C(
        "misspelt-option",
        "unknown-option",
        ("depth=2 cell=normal\ndownsample", "dpeth=2 cell=normal\ndownsample"),
        12,
        "dpeth",
        "unknown option 'dpeth' for 'stage'",
        "did you mean 'depth'",
    ),
    C(
        "option-twice",
        "duplicate-option",
        ("channels=32", "channels=32 channels=48"),
        14,
        "channels=48",
        "option 'channels' is given twice",
    ),
    C(
        "meta-key-twice",
        "duplicate-option",
        ('searched_on="cifar10"', 'searched_on="cifar10" searched_on="x"'),
        16,
        'searched_on="x"',
        "meta key 'searched_on' is given twice",
    ),
    C(
        "option-missing",
        "missing-option",
        (" depth=2 cell=normal\ndownsample", " cell=normal\ndownsample"),
        12,
        "stage",
        "'stage' needs depth=...",
        "for example: stage s1",
    ),
    C(
        "fractional-depth",
        "bad-value",
        ("depth=2 cell=normal\ndownsample", "depth=2.5 cell=normal\ndownsample"),
        12,
        "2.5",
        "'depth' takes a whole number, got '2.5'",
    ),
    C(
        "yes-for-a-bool",
        "bad-value",
        (
            "op_shortcut=true {\n  n1 <- in: bconv3x3\n  n2",
            "op_shortcut=yes {\n  n1 <- in: bconv3x3\n  n2",
        ),
        5,
        "yes",
        "'op_shortcut' takes true or false, got 'yes'",
    ),
    C("two-part-shape", "bad-value", ("3x32x32", "3x32"), 3, "3x32", "channels x height x width"),
    C(
        "zero-classes",
        "bad-value",
        ("classes=10", "classes=0"),
        3,
        "0",
        "'classes' must be at least 1, got 0",
    ),
    C("bad-escape", "bad-value", ('name "t"', 'name "t\\q"'), 2, '"t', "invalid escape in string"),
    C("unknown-pool", "bad-value", ("pool=none", "pool=avg"), 4, "avg", "unknown stem pool 'avg'"),
    C("empty-name", "bad-name", ('name "t"', 'name ""'), 2, '""', "the network name is empty"),
    C(
        "unprintable-name",
        "bad-name",
        ('name "t"', 'name "t\\u0007"'),
        2,
        '"t',
        "unprintable character",
    ),
    C(
        "misspelt-edge-op",
        "unknown-op",
        ("n1: bconv3x3", "n1: bconv33"),
        7,
        "bconv33",
        "unknown edge op 'bconv33'",
        "did you mean 'bconv3x3'",
    ),
    C(
        "misspelt-cell-op",
        "unknown-op",
        ("shortcut=bfr", "shortcut=bfrr"),
        9,
        "bfrr",
        "unknown shortcut op 'bfrr'",
        "did you mean 'bfr'",
    ),
    C(
        "quoted-op",
        "unknown-op",
        ("preprocess=bfr", 'preprocess="bfr"'),
        9,
        '"bfr"',
        "unknown preprocess op",
        "without quotes",
    ),
    C(
        "unknown-stem-op",
        "unknown-op",
        ("stem conv3x3", "stem conv5x5"),
        4,
        "conv5x5",
        "unknown stem op 'conv5x5'",
    ),
    C(
        "bfr-in-a-normal-cell",
        "bad-op",
        ("stride=1 preprocess=bconv3x3", "stride=1 preprocess=bfr"),
        5,
        "bfr",
        "'bfr' \\(binary factorized reduce\\) only works in a stride=2 cell",
    ),
    C(
        "max-pool-head",
        "bad-head",
        ("head avgpool", "head maxpool"),
        15,
        "maxpool",
        "unsupported head layer 'maxpool'",
        "did you mean 'avgpool'",
    ),
    C(
        "head-with-extra",
        "bad-head",
        ("head avgpool linear", "head avgpool linear softmax"),
        15,
        "softmax",
        "unexpected 'softmax' after 'head avgpool linear'",
    ),
    C(
        "head-incomplete",
        "bad-head",
        ("head avgpool linear", "head avgpool"),
        15,
        "$",
        "the head is incomplete",
    ),
    # cells
    C(
        "cell-without-nodes",
        "empty-cell",
        (REDUCE_BODY, "op_shortcut=true {\n}"),
        9,
        "reduce",
        "cell 'reduce' has no nodes",
        "n1 <- in: bconv3x3",
    ),
    C(
        "cell-defined-twice",
        "duplicate-name",
        ("cell reduce", "cell normal"),
        9,
        "normal",
        "cell 'normal' is defined twice",
    ),
    C(
        "stage-defined-twice",
        "duplicate-name",
        ("stage s2", "stage s1"),
        14,
        "s1",
        "stage 's1' is defined twice",
    ),
    C(
        "node-missing-from-the-numbering",
        "node-order",
        ("n2 <- in: shortcut", "n3 <- in: shortcut"),
        7,
        "n3",
        "node 'n2' is missing \\(the node after 'n1' is 'n3'\\)",
        "add it, or rename 'n3'",
    ),
    C(
        "node-defined-twice",
        "node-order",
        ("  n2 <- in: shortcut", "  n1 <- in: shortcut\n  n2 <- in: shortcut"),
        7,
        "n1",
        "node 'n1' is defined twice \\(first on line 6\\)",
        "remove one of them",
    ),
    C(
        "node-out-of-place",
        "node-order",
        ("  n2 <- in: shortcut", "  n3 <- in: shortcut\n  n2 <- in: shortcut"),
        7,
        "n3",
        "node 'n3' out of order: expected 'n2'",
        "move it below 'n2'",
    ),
    C(
        "edge-from-later-node",
        "bad-edge",
        ("n1 <- in: bconv3x3\n  n2", "n1 <- n2: bconv3x3\n  n2"),
        6,
        "n2",
        "edge from 'n2', which comes after 'n1'",
        "earlier node",
    ),
    C(
        "edge-from-undefined-node",
        "bad-edge",
        ("n1: bconv3x3", "n9: bconv3x3"),
        7,
        "n9",
        "edge from undefined node 'n9'",
    ),
    C(
        "edge-from-itself",
        "bad-edge",
        ("n1: bconv3x3", "n2: bconv3x3"),
        7,
        "n2: b",
        "node 'n2' takes an edge from itself",
    ),
    C(
        "edge-twice",
        "duplicate-edge",
        ("n1: bconv3x3", "n1: bconv3x3, n1: shortcut"),
        7,
        "n1: s",
        "node 'n2' lists an edge from 'n1' twice",
    ),
    C(
        "edge-twice-once-none",
        "duplicate-edge",
        ("in: shortcut", "in: none, in: shortcut"),
        7,
        "in: s",
        "lists an edge from 'in' twice",
    ),
    # layout
    C(
        "misspelt-cell",
        "unknown-cell",
        ("depth=2 cell=normal\ndownsample", "depth=2 cell=norml\ndownsample"),
        12,
        "norml",
        "no cell named 'norml'",
        "did you mean 'normal'",
    ),
    C(
        "stride-3",
        "bad-stride",
        ("cell reduce stride=2", "cell reduce stride=3"),
        9,
        "3",
        "'stride' must be 1 or 2",
    ),
    C(
        "normal-cell-downsampling",
        "bad-stride",
        ("downsample cell=reduce", "downsample cell=normal"),
        13,
        "normal",
        "cell 'normal' has stride=1 but a downsample needs stride=2",
    ),
    C(
        "zero-channels",
        "bad-channels",
        ("channels=32", "channels=0"),
        14,
        "0",
        "'channels' must be at least 1, got 0",
    ),
    C(
        "odd-width-after-bfr",
        "bad-channels",
        ("channels=32", "channels=33"),
        9,
        "bfr",
        "'bfr' in cell 'reduce' needs an even output width, got 33",
    ),
    C(
        "zero-depth",
        "bad-depth",
        ("depth=2 cell=normal\ndownsample", "depth=0 cell=normal\ndownsample"),
        12,
        "0",
        "'depth' must be at least 1, got 0",
    ),
    C(
        "downsample-last",
        "layout",
        ("head avgpool", "downsample cell=reduce\nhead avgpool"),
        15,
        "reduce",
        "a downsample must be followed by a stage",
    ),
    C(
        "two-downsamples",
        "layout",
        ("downsample cell=reduce", "downsample cell=reduce\ndownsample cell=reduce"),
        14,
        "reduce",
        "two downsamples in a row",
    ),
    C(
        "downsample-of-1x1",
        "spatial-size",
        ("3x32x32", "3x1x1"),
        13,
        "reduce",
        "downsample at 1x1 resolution",
    ),
    # warnings
    C(
        "dead-node",
        "dead-node",
        ("n2 <- in: shortcut, n1: bconv3x3", "n2 <- none"),
        7,
        "n2",
        "node 'n2' has no live input and is always zero",
    ),
    C(
        "unused-node",
        "unused-node",
        ("n2 <- in: shortcut, n1: bconv3x3", "n2 <- in: shortcut"),
        6,
        "n1",
        "node 'n1' does not reach the cell output",
    ),
    C(
        "dead-cell",
        "dead-cell",
        ("preprocess=bfr shortcut=bfr", "preprocess=none shortcut=none"),
        9,
        "reduce",
        "cell 'reduce' always outputs zero",
    ),
    C(
        "unused-cell",
        "unused-cell",
        (
            "stage s1:",
            "cell spare stride=1 preprocess=none shortcut=identity { n1 <- none }\nstage s1:",
        ),
        12,
        "spare",
        "cell 'spare' is defined but never used",
    ),
    C(
        "narrowing-stage",
        "unusual-layout",
        ("channels=32", "channels=8"),
        14,
        "8",
        "stage 's2' is narrower \\(8\\) than the stage before it \\(16\\)",
    ),
    C(
        "stages-without-a-downsample",
        "unusual-layout",
        ("downsample cell=reduce\n", ""),
        13,
        "s2",
        "stage 's2' follows stage 's1' without a downsample: it runs at the same resolution",
        "put a 'downsample cell=...' line between them",
    ),
    C(
        "downsamples-of-different-cells",
        "unusual-layout",
        (
            (
                "cell reduce stride=2",
                "cell reduce2 stride=2 preprocess=bconv3x3 shortcut=bfr op_shortcut=true {\n"
                "  n1 <- in: bconv3x3\n}\ncell reduce stride=2",
            ),
            (
                "head avgpool linear",
                "downsample cell=reduce2\nstage s3: channels=64 depth=1 cell=normal\n"
                "head avgpool linear",
            ),
        ),
        18,
        "reduce2",
        "downsample cell 'reduce2' differs from 'reduce', the cell of an earlier downsample; "
        "BARS shares one reduction cell",
        "use 'reduce' for every downsample",
    ),
]


def _column(text: str, case: Case) -> int:
    line = text.split("\n")[case.line - 1]
    if case.at == "$":
        return len(line.split("#")[0].rstrip()) + 1
    assert case.at in line, (case.at, line)
    return line.index(case.at) + 1


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_diagnostic_has_its_message_line_and_column(case: Case) -> None:
    text = case.source()
    doc = check(text, "t.geno")
    pool = doc.errors if case.code in ERROR_CODES else doc.warnings
    found = [d for d in pool if d.code == case.code]
    assert found, "\n".join(d.render() for d in doc.errors + doc.warnings)
    d = found[0]
    assert (d.line, d.column) == (case.line, _column(text, case)), d.render()
    assert re.search(case.message, d.message), d.message
    if case.hint:
        assert d.hint and re.search(case.hint, d.hint), d.hint
    rendered = d.render()
    assert rendered.startswith(f"t.geno:{d.line}:{d.column}: {d.severity}[{d.code}]: ")
    if d.source_line is not None:
        caret = rendered.split("\n")[2]
        assert caret.index("^") - caret.index("|") - 2 == d.column - 1, rendered
    if case.code in ERROR_CODES:
        with pytest.raises(GenotypeError, match=case.message):
            parse(text, "t.geno")
    else:
        assert doc.errors == []
        parse(text, "t.geno")  # warnings never fail


def test_downsamples_of_one_topology_under_two_names_are_not_an_unusual_layout() -> None:
    text = BASE.replace(
        "cell reduce stride=2",
        f"cell reduce2 stride=2 preprocess=bfr shortcut=bfr {REDUCE_BODY}\ncell reduce stride=2",
    ).replace(
        "head avgpool linear",
        "downsample cell=reduce2\nstage s3: channels=64 depth=1 cell=normal\nhead avgpool linear",
    )
    doc = check(text, "t.geno")
    assert doc.errors == [] and doc.warnings == []


def test_every_code_has_a_test() -> None:
    tested = {c.code for c in CASES} | {"unreadable", "too-many-errors", "internal"}
    assert tested == set(ERROR_CODES) | set(WARNING_CODES)


def test_every_code_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "genotype-language.md").read_text(encoding="utf-8")
    missing = [c for c in [*ERROR_CODES, *WARNING_CODES] if f"`{c}`" not in doc]
    assert not missing


def test_parse_reports_every_error_at_once_and_warnings_apart() -> None:
    text = (
        BASE.replace("n1: bconv3x3", "n1: bconv33")
        .replace("pool=none", "pool=avg")
        .replace("depth=2 cell=normal\ndownsample", "depth=2 cell=norml\ndownsample")
        .replace(
            "stage s1:",
            "cell spare stride=1 preprocess=none shortcut=identity { n1 <- none }\nstage s1:",
        )
    )
    with pytest.raises(GenotypeError) as info:
        parse(text, "t.geno")
    err = info.value
    assert [(d.code, d.line) for d in err.diagnostics] == [
        ("bad-value", 4),
        ("unknown-op", 7),
        ("unknown-cell", 13),
    ]
    assert err.code == "bad-value"
    assert [d.code for d in err.warnings] == ["unused-cell", "dead-node"]
    assert all(d.severity == "warning" for d in err.warnings)


def test_an_error_in_a_cell_does_not_echo_through_the_rest_of_the_file() -> None:
    text = BASE.replace("preprocess=bfr", "preprocess=brf").replace(
        "n1 <- in: bconv3x3\n}", "n1 <- in: bconv3x3\n  n2 <- x: foo\n}"
    )
    doc = check(text)
    # 'x' is no node and 'foo' no op: both said at once, nothing else
    assert [d.code for d in doc.errors] == ["unknown-op", "bad-edge", "unknown-op"]
    assert doc.warnings == []


def test_a_misspelt_required_option_is_one_error_not_two() -> None:
    doc = check(BASE.replace("depth=2 cell=normal\ndownsample", "dpeth=2 cell=normal\ndownsample"))
    assert [d.code for d in doc.errors] == ["unknown-option"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("stage s2:", "stgae s2:"),  # a misspelt stage keyword: no "two downsamples in a row"
        ("cell reduce", "cel reduce"),  # a misspelt cell keyword: no "no cell named 'reduce'"
        ("cell reduce", "cell r\u00e9duce"),  # a non-ASCII name: no "no cell named 'reduce'"
        ("cell reduce stride=2", "cell reduce stirde=2"),  # no default stride=1 and its echoes
    ],
)
def test_a_broken_statement_is_one_error_not_a_cascade(old: str, new: str) -> None:
    doc = check(BASE.replace(old, new, 1))
    assert len(doc.errors) == 1, [d.render() for d in doc.errors]


def test_a_cell_line_without_its_brace_is_one_error_not_four() -> None:
    doc = check(BASE.replace("shortcut=bfr op_shortcut=true {", "shortcut=bfr op_shortcut=true"))
    assert [d.code for d in doc.errors] == ["syntax"]
    assert doc.errors[0].line == 9


NORMAL_BODY = "op_shortcut=true {\n  n1 <- in: bconv3x3\n  n2 <- in: shortcut, n1: bconv3x3\n}"


@pytest.mark.parametrize(
    ("body", "line", "hint"),
    [
        # an empty cell closed on its own line, its nodes and '}' below
        (
            "op_shortcut=true { }\n  n1 <- in: bconv3x3\n  n2 <- in: shortcut, n1: bconv3x3\n}",
            5,
            "remove this '}': the cell's nodes run to the '}' on line 8",
        ),
        # a one-line cell with more nodes below it
        (
            "op_shortcut=true { n1 <- in: bconv3x3 }\n  n2 <- in: shortcut, n1: bconv3x3\n}",
            5,
            "remove this '}': the cell's nodes run to the '}' on line 7",
        ),
        # a '}' in the middle of the body
        (
            "op_shortcut=true {\n  n1 <- in: bconv3x3\n}\n  n2 <- in: shortcut, n1: bconv3x3\n}",
            7,
            "remove this '}': the cell's nodes run to the '}' on line 9",
        ),
        # a node added below a closed cell
        (
            "op_shortcut=true {\n  n1 <- in: bconv3x3\n}\n  n2 <- in: shortcut, n1: bconv3x3\n",
            7,
            "move this '}' below the cell's last node (line 8)",
        ),
        # no '}' after the nodes: the early one must move
        (
            "op_shortcut=true { }\n  n1 <- in: bconv3x3\n  n2 <- in: shortcut, n1: bconv3x3\n",
            5,
            "move this '}' below the cell's last node (line 7)",
        ),
    ],
)
def test_a_cell_closed_before_its_nodes_is_one_error_at_the_early_brace(
    body: str, line: int, hint: str
) -> None:
    text = BASE.replace(NORMAL_BODY, body)
    column = text.splitlines()[line - 1].rindex("}") + 1
    doc = check(text)
    assert [(d.code, d.line, d.column) for d in doc.errors] == [("syntax", line, column)], [
        d.render() for d in doc.errors
    ]
    assert doc.errors[0].message == "cell 'normal' is closed here, before the node lines below it"
    assert doc.errors[0].hint == hint
    assert doc.warnings == []


@pytest.mark.parametrize(
    "line", ["stage s0: channels=16 depth=1 cell=normal", "downsample cell=reduce", "head avgpool"]
)
def test_a_statement_put_inside_a_cell_is_one_error_on_that_line(line: str) -> None:
    # the cell's '}' follows: the line was misplaced, the brace is not missing
    text = BASE.replace("  n1 <- in: bconv3x3\n  n2", f"  n1 <- in: bconv3x3\n{line}\n  n2", 1)
    doc = check(text)
    word = line.split()[0]
    assert [(d.code, d.line, d.message) for d in doc.errors] == [
        ("syntax", 7, f"a '{word}' statement inside cell 'normal'")
    ]
    assert "below the cell's closing '}'" in (doc.errors[0].hint or "")


def test_a_missing_brace_before_the_layout_is_still_called_missing() -> None:
    # no '}' follows the stage lines before the file ends: the brace is missing
    doc = check(BASE.replace("  n1 <- in: bconv3x3\n}\nstage s1", "  n1 <- in: bconv3x3\nstage s1"))
    assert [d.message for d in doc.errors] == ["cell 'reduce' is never closed: missing '}'"]


def test_a_file_without_stage_lines_says_so_once() -> None:
    text = "".join(line for line in BASE.splitlines(keepends=True) if not line.startswith("stage"))
    doc = check(text)
    assert [(d.code, d.message) for d in doc.errors] == [
        ("missing-section", "the file has no 'stage' line")
    ]


def test_a_parenthesis_for_a_closing_brace_is_not_called_truncation() -> None:
    doc = check(BASE.replace("n1 <- in: bconv3x3\n}", "n1 <- in: bconv3x3\n)", 1))
    assert doc.errors[0].code == "syntax" and "')'" in doc.errors[0].message
    assert "truncated" not in (doc.errors[0].hint or "")
    assert "ends with '}'" in (doc.errors[0].hint or "")


def test_an_upper_case_x_in_the_shape_is_reported_at_the_shape() -> None:
    doc = check(BASE.replace("input 3x32x32", "input 3X32X32"))
    assert [(d.code, d.line, d.column) for d in doc.errors] == [("bad-value", 3, 7)]
    assert doc.errors[0].hint == "write '3x32x32'"


def test_too_many_meta_entries_is_said_once() -> None:
    extra = "".join(f'meta k{i}="v"\n' for i in range(Limits.MAX_META + 8))
    doc = check(BASE.replace('meta searched_on="cifar10"\n', extra))
    assert [d.code for d in doc.errors] == ["too-large"]


def test_escapes_that_decode_to_control_characters_are_refused_and_the_hint_says_so() -> None:
    doc = check(BASE.replace('searched_on="cifar10"', 'searched_on="a\\nb"'))
    assert [d.code for d in doc.errors] == ["bad-value"]
    bad = check(BASE.replace('searched_on="cifar10"', 'searched_on="a\\qb"')).errors[0]
    assert "no \\n or \\t" in (bad.hint or "")


def test_a_misnamed_node_does_not_make_later_edges_undefined() -> None:
    doc = check(
        BASE.replace(
            "n2 <- in: shortcut, n1: bconv3x3",
            "n5 <- in: shortcut, n1: bconv3x3\n  n3 <- n2: bconv3x3",
        )
    )
    assert [d.code for d in doc.errors] == ["node-order"]


def test_a_file_cut_short_inside_a_cell_is_one_error() -> None:
    doc = check(BASE[: BASE.index("n1: bconv3x3")])
    assert [d.code for d in doc.errors] == ["syntax"]
    assert "truncated" in (doc.errors[0].hint or "")


def test_read_reports_a_missing_file_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(GenotypeError, match=r"cannot read .*nope\.geno") as info:
        read(tmp_path / "nope.geno")
    d = info.value.diagnostics[0]
    assert (d.code, d.line, d.column) == ("unreadable", 1, 1)
    with pytest.raises(GenotypeError, match="cannot read"):
        read(tmp_path)
    with pytest.raises(GenotypeError, match="cannot read"):
        read("bad\0name.geno")


def test_an_internal_bug_becomes_a_diagnostic_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: object) -> object:
        raise ZeroDivisionError

    monkeypatch.setattr(dsl, "_check", boom)
    doc = check(BASE, "t.geno")
    assert [(d.code, d.line, d.column) for d in doc.errors] == [("internal", 1, 1)]
    assert "ZeroDivisionError" in doc.errors[0].message
    with pytest.raises(GenotypeError, match="please report it"):
        parse(BASE)


def test_crlf_line_ends_and_a_byte_order_mark_are_accepted() -> None:
    assert parse(("\ufeff" + BASE).replace("\n", "\r\n").encode()) == parse(BASE)


def test_diagnostics_come_in_file_order() -> None:
    text = BASE.replace("pool=none", "pool=avg").replace("bconv3x3\n}", "bconv33\n}")
    lines = [d.line for d in check(text).errors]
    assert lines == [4, 7, 10]


def test_a_misspelt_keyword_does_not_also_make_its_section_missing() -> None:
    doc = check(BASE.replace("head avgpool", "haed avgpool"))
    assert [d.code for d in doc.errors] == ["unknown-statement"]


def test_a_cell_with_a_syntax_error_is_not_reported_again_where_it_is_used() -> None:
    doc = check(BASE.replace("n2 <- in: shortcut, n1:", "n2 <- in shortcut, n1:"))
    assert [(d.code, d.line) for d in doc.errors] == [("syntax", 7)]
