"""Common slips of hand-editing, recognised in the line where the grammar gave up.

A genotype is typed by people, so the usual mistakes are said in their own words instead of as
"unexpected X; expected Y": a character that only looks like ASCII (``×``, ``–``, ``“``, a
Cyrillic ``х``, a no-break space, the dash of a ``<–``) is named with the one to type, a shape
written with spaces gets the shape to write, an option without a value, ``,`` between options, a
cell or stage without a name, a word missing its ``=``, a trailing ``,``, an op-less edge or a
``:`` missing in a node each say so.
:mod:`bars_zoo.dsl._explain` asks :func:`slip` first and falls back to the parser's view.

Also here: the example of each statement that messages show, and :func:`diag`.
"""

from __future__ import annotations

import re
import unicodedata

from lark.exceptions import UnexpectedInput, UnexpectedToken

from bars_zoo.dsl._source import KEYWORDS, Chunk, Source
from bars_zoo.errors import Diagnostic
from bars_zoo.spec import CELL_OPS, EDGE_OPS, STEM_OPS

Pos = tuple[int, int, int]  # (line, column, end column), 1-based, end exclusive

#: An example of each statement, shown with a syntax error in it.
EXAMPLES: dict[str, str] = {
    "bars": "bars 1",
    "name": 'name "my-net"',
    "input": "input 3x32x32 classes=10",
    "stem": "stem conv3x3 channels=64 stride=1 pool=none",
    "cell": "cell normal1 stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {",
    "node": "n2 <- in: shortcut, n1: bconv3x3",
    "stage": "stage s1: channels=48 depth=4 cell=normal1",
    "downsample": "downsample cell=reduce",
    "head": "head avgpool linear",
    "meta": 'meta searched_on="cifar10"',
}

#: Characters that editors, word processors and keyboards put where ASCII was meant.
_LOOKALIKES = {
    "\u00d7": "x",  # multiplication sign
    "\u2010": "-",
    "\u2011": "-",
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\u2190": "<-",  # leftwards arrow
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\uff1a": ":",  # fullwidth forms
    "\uff1d": "=",
    "\uff0c": ",",
    "\uff5b": "{",
    "\uff5d": "}",
    "\u00a0": " ",  # no-break and other spaces
    "\u2009": " ",
    "\u202f": " ",
    "\u3000": " ",
}

#: Cyrillic and Greek letters that look like Latin ones (a Cyrillic or Greek keyboard layout left
#: on, a name pasted from a document), lower and upper case.
_LETTERS = dict(
    zip(
        "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0455\u0456\u0458\u04bb\u0501"  # Cyrillic
        "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0405\u0406\u0408"
        "\u03bf"  # Greek
        "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7",
        "aeopcyxsijhdABEKMHOPCTXSIJoABEZHIKMNOPTYX",
        strict=True,
    )
)
_LOOKALIKES.update(_LETTERS)

#: The words of the language, which a word holding look-alike letters most likely meant.
VOCABULARY = frozenset(
    (
        *(KEYWORDS + EDGE_OPS + CELL_OPS + STEM_OPS),
        *("in", "true", "false", "maxpool", "avgpool", "linear", "stride", "preprocess"),
        *("shortcut", "op_shortcut", "channels", "pool", "depth", "cell", "classes"),
    )
)

# A statement line may be a 256 KiB hostile one: everything below is anchored or scans once.
_NAMELESS = re.compile(r"(\s*(?:cell|stage)\s*)([A-Za-z_][A-Za-z0-9_.\-]*(?=\s*=)|[:{])")
_SHAPE_LIKE = re.compile(r"[0-9][0-9xX\u00d7*,\-\u2013\s]*[0-9]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _word_before(text: str) -> tuple[str, int] | None:
    """The name that ``text`` ends with (trailing spaces ignored) and its 0-based start."""
    end = len(text.rstrip())
    i = end
    while i > 0 and text[i - 1].isascii() and (text[i - 1].isalnum() or text[i - 1] in "_.-"):
        i -= 1
    word = text[i:end]
    return (word, i) if _NAME.fullmatch(word) else None


def _spaced_shape(code: str) -> tuple[str, int] | None:
    """``input 3 x 32 x 32 classes=10`` -> ``('3 x 32 x 32', 6)``: a shape with spaces in it."""
    head = code.lstrip()
    if not head.startswith("input"):
        return None
    start = len(code) - len(head) + len("input")
    rest = code[start:]
    eq = rest.find("=")
    if eq >= 0:  # drop the option key before the first '='
        key = _word_before(rest[:eq])
        rest = rest[: key[1]] if key else rest[:eq]
    shape = rest.strip()
    if not re.search(r"\s", shape) or not _SHAPE_LIKE.fullmatch(shape):
        return None
    return shape, start + rest.index(shape)


def shape_fix(text: str) -> str | None:
    """``'3,32,32'`` -> ``'3x32x32'``: the shape a mistyped one most likely meant, if any."""
    numbers = re.findall(r"[0-9]+", text)
    fixed = "x".join(numbers)
    return fixed if len(numbers) == 3 and fixed != text else None


def char_name(ch: str) -> str:
    """``'×'`` -> ``"'×' (U+00D7 MULTIPLICATION SIGN)"``; a character that does not show is
    given by its code point and name only."""
    if ch.isascii():
        return repr(ch)
    label = f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip()
    return f"{ch!r} ({label})" if ch.isprintable() else label


def looks_ascii(ch: str) -> bool:
    """Whether ``ch`` is a character that only looks like an ASCII one."""
    return ch in _LOOKALIKES


def word_at(text: str, i: int) -> str:
    """The word around ``text[i]``: ASCII name characters and look-alike letters."""

    def part(c: str) -> bool:
        return c in _LETTERS or (c.isascii() and (c.isalnum() or c in "_.-"))

    start, end = i, i
    while start > 0 and part(text[start - 1]):
        start -= 1
    while end < len(text) and part(text[end]):
        end += 1
    return text[start:end]


def _meant(word: str, vocabulary: frozenset[str] | set[str]) -> str | None:
    """``'Ѕtage'`` -> ``'stage'``: the ASCII word that ``word``, written with look-alike letters,
    most likely meant, where that is more than swapping each letter for the one it looks like (an
    upper-case look-alike in a lower-case word, like a Cyrillic 'О' in 'nОrmal1')."""
    swapped = "".join(_LETTERS.get(c, c) for c in word)
    lowered = "".join(_LETTERS[c].lower() if c in _LETTERS else c for c in word)
    known = vocabulary | VOCABULARY
    if not swapped.isascii() or swapped in known:
        return None
    for guess in (lowered, swapped.lower()):
        if guess in known:
            return guess
    rest = [c for c in word if c not in _LETTERS and c.isalpha()]
    return lowered if rest and all(c.islower() for c in rest) and lowered != swapped else None


def lookalike_hint(
    text: str, word: str = "", vocabulary: frozenset[str] | set[str] = frozenset()
) -> str | None:
    """A hint for the first non-ASCII character of ``text``, or ``None`` if it is all ASCII.

    ``word`` is the word the character stands in, ``vocabulary`` the names the file defines:
    when the word was meant to be one of those (or a word of the language) in other case, the
    hint gives the whole word to write."""
    ch = next((c for c in text if not c.isascii()), None)
    if ch is None:
        return None
    meant = _LOOKALIKES.get(ch)
    if meant == " ":
        return f"{char_name(ch)} looks like a space but is not one: type a plain space"
    if meant is not None:
        whole = _meant(word, vocabulary) if ch in word else None
        if whole is not None:
            return f"{char_name(ch)} looks like '{meant}' but is not: write '{whole}'"
        return f"{char_name(ch)} looks like '{meant}' but is not: type '{meant}'"
    return 'outside "strings" and comments a genotype is plain ASCII'


def arrow_hint(pair: str) -> str | None:
    """``'<–'`` -> a hint naming the dash: a node's ``<-`` typed with a dash that only looks like
    ``-`` (an editor's en dash, say); ``None`` for any other two characters."""
    if len(pair) == 2 and pair[0] == "<" and _LOOKALIKES.get(pair[1]) == "-":
        return f"{char_name(pair[1])} looks like '-' but is not: type '<-'"
    return None


def diag(src: Source, code: str, msg: str, pos: Pos, hint: str | None) -> Diagnostic:
    line, col, end = pos
    text = src.lines[line - 1] if 0 < line <= len(src.lines) else None
    return Diagnostic(code, msg, "error", src.filename, line, col, end, text, hint)


def slip(
    src: Source,
    chunk: Chunk,
    line: int,
    col: int,
    exc: UnexpectedInput,
    accepted: set[str],
    in_node: bool,
) -> Diagnostic | None:
    """A common slip said in its own words, or ``None``."""
    code = src.scanned[line - 1].code
    before = code[: col - 1]
    tok = exc.token if isinstance(exc, UnexpectedToken) else None
    bad = tok.type if tok is not None else code[col - 1 : col]
    at_end = bad == "_NL"
    first_line = line == chunk.first + 1
    kind = chunk.keyword
    if code[col - 1 : col] == ";" and not in_node:  # in a node it separates edges (below)
        rest = code[col:].strip()
        return diag(
            src,
            "syntax",
            "';' does not end or separate statements: one statement per line",
            (line, col, col + 1),
            "put what follows the ';' on a line of its own, and delete the ';'"
            if rest
            else "delete the ';': a statement ends at the end of its line",
        )
    if first_line and kind in ("cell", "stage") and (m := _NAMELESS.match(code)):
        start = m.start(2) + 1
        return diag(
            src,
            "syntax",
            f"the {kind} has no name",
            (line, start, start + len(m.group(2))),
            f"write its name after '{kind}', for example: {EXAMPLES[kind]}",
        )
    spaced = _spaced_shape(code) if first_line and kind == "input" else None
    if spaced is not None:
        shape, at = spaced
        fixed = shape_fix(shape)
        return diag(
            src,
            "syntax",
            f"the input shape is one word, like 3x32x32; got '{shape}'",
            (line, at + 1, at + 1 + len(shape)),
            f"write '{fixed}'" if fixed else f"for example: {EXAMPLES['input']}",
        )
    key = None
    stripped = code.rstrip()
    if at_end and stripped.endswith("="):  # 'depth=' at the end of the line
        key = _word_before(stripped[:-1])
    elif bad == "EQUAL":  # 'depth= cell=normal': the next key was read as depth's value
        value = _word_before(before)
        left = before[: value[1]] if value else ""
        if left != left.rstrip() and left.rstrip().endswith("="):
            key = _word_before(left.rstrip()[:-1])
    if key is not None:
        name, start = key
        eq = code.index("=", start + len(name)) + 1
        return diag(
            src,
            "syntax",
            f"option '{name}' has no value",
            (line, start + 1, eq + 1),
            f"write {name}=VALUE with no space after '='; for example: {EXAMPLES[kind]}",
        )
    if in_node and at_end:
        if stripped.endswith(","):
            return diag(
                src,
                "syntax",
                "a ',' with no edge after it",
                (line, len(stripped), len(stripped) + 1),
                "remove the ',' (or write the edge it announces)",
            )
        source = _word_before(stripped[:-1]) if stripped.endswith(":") else None
        if source is not None:
            name, start = source
            return diag(
                src,
                "syntax",
                f"the edge from '{name}' has no op",
                (line, start + 1, len(stripped) + 1),
                f"write '{name}: OP', for example '{name}: bconv3x3'",
            )
    if (
        in_node
        and bad in ("NAME", "EQUAL")
        and "COLON" in accepted
        and (source := _word_before(before))
    ):
        # 'n1 bconv3x3', 'n1=bconv3x3': the ':' between an edge's source and its op
        after = _NAME.match(code[col:].lstrip())  # the word after a '='
        op = str(tok) if bad == "NAME" else after.group() if after else "OP"
        return diag(
            src,
            "syntax",
            f"unexpected '{tok}'; expected ':' between the source '{source[0]}' and its op",
            (line, col, col + len(str(tok))),
            f"write '{source[0]}: {op}'",
        )
    edge_end = _word_before(before) if in_node and "COMMA" in accepted else None
    if edge_end is not None and bad == "NAME" and "COLON" not in accepted:
        # 'in: bconv3x3 n1: shortcut': a ',' left out between two edges
        end = col - 1 + len(str(tok))
        if code[end:].lstrip().startswith(":"):
            return diag(
                src,
                "syntax",
                f"unexpected '{tok}'; expected ',' between two edges",
                (line, col, end + 1),
                f"separate the edges with ',': write '{edge_end[0]}, {tok}'",
            )
    if edge_end is not None and bad in (";", "|", "&", "/"):
        return diag(
            src,
            "syntax",
            f"unexpected character '{bad}'; the edges of a node are separated by ','",
            (line, col, col + 1),
            f"write ',' instead of '{bad}'",
        )
    if bad in (",", "COMMA") and not in_node and "COMMA" not in accepted:
        return diag(
            src,
            "syntax",
            "unexpected ','; the words of a statement are separated by spaces",
            (line, col, col + 1),
            f"remove the ','; for example: {EXAMPLES[kind]}",
        )
    return None


def missing_equals(
    src: Source, chunk: Chunk, code: str, pos: Pos, what: str, tok: object, hint: str | None
) -> Diagnostic:
    """``classes 10``, ``downsample reduce``: a word where only ``=`` may follow."""
    _, col, _ = pos
    found = _word_before(code[: col - 1])
    if found is None:  # pragma: no cover - '=' is only ever expected right after a name
        return diag(src, "syntax", f"unexpected {what}; expected '='", pos, hint)
    word = found[0]
    kind = getattr(tok, "type", "")
    value = str(tok) if kind in ("NAME", "NUMBER", "STRING") else None
    end = getattr(tok, "end_column", None) or col
    if kind == "NAME" and code[end - 1 :].lstrip().startswith("="):  # 'meta pre set="x"'
        hint = f"a name cannot hold a space: write '{word}_{value}'"
    elif chunk.keyword in ("stage", "downsample") and word not in ("cell", "channels", "depth"):
        hint = f"did you mean 'cell={word}'?"
    elif value is not None:
        hint = f"options are written key=value: '{word}={value}'"
    return diag(src, "syntax", f"unexpected {what}; expected '=' after '{word}'", pos, hint)
