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

from bars_zoo.dsl._source import Chunk, Source
from bars_zoo.errors import Diagnostic

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
    "\u0430": "a",  # Cyrillic letters that look Latin (a Cyrillic keyboard layout left on)
    "\u0435": "e",
    "\u043e": "o",
    "\u0440": "p",
    "\u0441": "c",
    "\u0443": "y",
    "\u0445": "x",
    "\u03bf": "o",  # Greek small omicron
    "\u00a0": " ",  # no-break and other spaces
    "\u2009": " ",
    "\u202f": " ",
    "\u3000": " ",
}

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


def lookalike_hint(text: str) -> str | None:
    """A hint for the first non-ASCII character of ``text``, or ``None`` if it is all ASCII."""
    ch = next((c for c in text if not c.isascii()), None)
    if ch is None:
        return None
    meant = _LOOKALIKES.get(ch)
    if meant == " ":
        return f"{char_name(ch)} looks like a space but is not one: type a plain space"
    if meant is not None:
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
