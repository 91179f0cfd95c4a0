"""Why a statement does not parse: a lark exception -> one located diagnostic with a hint.

The LALR parser knows which token it wanted; a person needs more.  Besides "unexpected X;
expected Y" and an example of the statement, the usual slips of hand-editing are said in their
own words: a character that only looks like ASCII (``×``, ``–``, ``“``, a no-break space) is
named, a shape written with spaces, an option without a value, ``,`` between options, a cell or
stage without a name, a trailing ``,`` or an op-less edge in a node, a word missing its ``=``, a
statement put inside a cell, a cell closed before its nodes and a file cut short inside a cell.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from bars_zoo.dsl._source import KEYWORDS, Chunk, Source, first_word, suggest
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

_DESCRIBE = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "SHAPE": "a shape like 3x32x32",
    "_NL": "end of line",
    "$END": "end of file",
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


def describe_expected(
    expected: set[str] | frozenset[str], literals: Mapping[str, str]
) -> str | None:
    """``{'COLON', 'NAME'}`` -> ``"':' or a name"`` (``literals``: terminal -> its text)."""
    keywords = {n for n in expected if literals.get(n) in KEYWORDS}
    rest = set(expected) - keywords if len(keywords) > 2 else set(expected)
    if "_NL" in rest:  # inside one statement, the end of the file is the end of its line
        rest.discard("$END")
    parts = ["a statement keyword"] if len(keywords) > 2 else []
    parts += sorted(f"'{literals[n]}'" for n in rest if n in literals)
    parts += sorted(_DESCRIBE.get(n, n.lower()) for n in rest if n not in literals)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _accepted(exc: UnexpectedInput) -> set[str]:
    """The terminals the parser could have taken here.  LALR's own list merges the lookaheads
    of every statement that shares a parser state (a '{' after a stage option); the interactive
    parser tries each terminal, so it lists only what this statement can really take."""
    ip = getattr(exc, "interactive_parser", None)
    if ip is not None:
        return set(ip.accepts())
    return set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())


def diag(src: Source, code: str, msg: str, pos: Pos, hint: str | None) -> Diagnostic:
    line, col, end = pos
    text = src.lines[line - 1] if 0 < line <= len(src.lines) else None
    return Diagnostic(code, msg, "error", src.filename, line, col, end, text, hint)


def unknown_statement(src: Source, chunk: Chunk) -> Diagnostic:
    """A statement whose first word is not a keyword (or a node line outside any cell)."""
    code = src.scanned[chunk.first].code
    word = chunk.keyword
    col = len(code) - len(code.lstrip()) + 1
    line = chunk.first + 1
    if not word:
        ch = code.strip()[0]
        pos = (line, col, col + 1)
        if ch == "}":
            return diag(src, "syntax", "unmatched '}'", pos, "no cell is open here; remove it")
        return diag(
            src,
            "syntax",
            f"unexpected {char_name(ch)} at the start of a statement",
            pos,
            lookalike_hint(ch) or "a statement starts with one of: " + ", ".join(KEYWORDS),
        )
    pos = (line, col, col + len(word))
    if "<-" in code:
        return diag(
            src,
            "syntax",
            f"node '{word}' is outside a cell",
            pos,
            "node lines go inside a cell's { ... } (is a '}' too early?)",
        )
    close = word.lower() if word.lower() in KEYWORDS else suggest(word, KEYWORDS)
    hint = (
        f"did you mean '{close}'?"
        if close
        else lookalike_hint(word) or "a statement starts with one of: " + ", ".join(KEYWORDS)
    )
    return diag(src, "unknown-statement", f"unknown statement '{word}'", pos, hint)


def syntax_error(
    src: Source, chunk: Chunk, exc: UnexpectedInput, literals: Mapping[str, str]
) -> Diagnostic:
    """One diagnostic for a statement the grammar refuses."""
    line = (getattr(exc, "line", 1) or 1) + chunk.first
    col = getattr(exc, "column", 1) or 1
    line = min(max(line, chunk.first + 1), chunk.last + 1)
    text = src.lines[line - 1]
    code = src.scanned[line - 1].code
    word = first_word(code)
    if (
        chunk.keyword == "cell"
        and line != chunk.first + 1
        and word in KEYWORDS
        and "<-" not in code
    ):
        # a statement put inside a cell (the scanner kept it there: the cell's '}' follows it)
        head = src.scanned[chunk.first].code.split()
        cell = f"cell '{head[1]}'" if len(head) > 1 else "a cell"
        start = len(code) - len(code.lstrip()) + 1
        return diag(
            src,
            "syntax",
            f"a '{word}' statement inside {cell}",
            (line, start, start + len(word)),
            "a cell holds node lines only: move this line below the cell's closing '}'",
        )
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        return unclosed(src, chunk)
    in_node = line != chunk.first + 1 or "<-" in code
    kind = "node" if chunk.keyword == "cell" and in_node else chunk.keyword
    hint: str | None = f"for example: {EXAMPLES[kind]}"
    at_eof = all(s.blank for s in src.scanned[chunk.last + 1 :])
    accepted = _accepted(exc)
    if not chunk.closed and at_eof and line >= _last_code_line(src, chunk):
        hint = "the file ends inside this cell: is it truncated?"  # that is the story, not a slip
    elif (slip := _slip(src, chunk, line, col, exc, accepted, in_node)) is not None:
        return slip
    expected = describe_expected(accepted, literals)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "_NL":
            col = len(code.rstrip()) + 1
            pos = (line, col, col + 1)
            what = "end of line"
            if "RBRACE" not in accepted and "LBRACE" in accepted and not in_node:
                hint = "the '{' goes at the end of the 'cell' line"
        else:
            pos = (line, col, tok.end_column or col + len(tok))
            what = f"'{tok}'"
        if accepted == {"EQUAL"}:
            return _missing_equals(src, chunk, code, pos, what, tok, hint)
        if tok.type in ("NAME", "NUMBER") and kind == "name" and "STRING" in accepted:
            hint = f'the name is a "string": name "{tok}"'
        elif tok.type in ("NAME", "NUMBER") and kind == "meta" and "_NL" in accepted:
            hint = f'a value with spaces goes in "quotes"; for example: {EXAMPLES["meta"]}'
        msg = f"unexpected {what}" + (f"; expected {expected}" if expected else "")
        return diag(src, "syntax", msg, pos, hint)
    if not isinstance(exc, UnexpectedCharacters):  # pragma: no cover - LALR raises only the two
        return diag(src, "syntax", "this statement is incomplete", (line, col, col + 1), hint)
    ch = text[col - 1] if 0 < col <= len(text) else "?"
    pos = (line, col, col + 1)
    if ch == '"':
        return diag(
            src,
            "syntax",
            "unterminated string",
            (line, col, len(text) + 1),
            'a string ends with " on the same line',
        )
    if ch in ")]" and chunk.keyword == "cell":
        hint = "a cell ends with '}' on a line of its own"
    elif ch == "'":
        hint = 'strings are written in double quotes: "..."'
    elif ch == "+" and in_node:
        hint = "a node sums its edges by itself: separate them with ','"
    hint = lookalike_hint(ch) or hint
    msg = f"unexpected character {char_name(ch)}" + (f"; expected {expected}" if expected else "")
    return diag(src, "syntax", msg, pos, hint)


def _slip(
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


def _missing_equals(
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


def _last_code_line(src: Source, chunk: Chunk) -> int:
    """1-based number of the chunk's last line that holds code."""
    for i in range(chunk.last, chunk.first, -1):
        if not src.scanned[i].blank:
            return i + 1
    return chunk.first + 1


def closed_early(src: Source, chunk: Chunk, at: int) -> Diagnostic:
    """A cell whose ``}`` (on line ``at``, 0-based) comes before node lines that belong to it."""
    code = src.scanned[at].code
    col = code.rfind("}")
    name = src.scanned[chunk.first].code.split()
    cell = f"cell '{name[1]}'" if len(name) > 1 and name[1] != "{" else "this cell"
    if src.scanned[chunk.last].code.strip() == "}":
        hint = f"remove this '}}': the cell's nodes run to the '}}' on line {chunk.last + 1}"
    else:
        hint = f"move this '}}' below the cell's last node (line {chunk.last + 1})"
    return diag(
        src,
        "syntax",
        f"{cell} is closed here, before the node lines below it",
        (at + 1, col + 1, col + 2),
        hint,
    )


def unclosed(src: Source, chunk: Chunk) -> Diagnostic:
    """A cell whose ``{`` is never matched."""
    for i in range(chunk.first, chunk.last + 1):
        col = src.scanned[i].code.find("{")
        if col >= 0:
            break
    else:  # pragma: no cover - a chunk is only unclosed when it has a '{'
        i, col = chunk.first, 0
    name = src.scanned[chunk.first].code.split()
    cell = f"cell '{name[1]}'" if len(name) > 1 and name[0] == "cell" else "this cell"
    at_eof = chunk.last + 1 >= len(src.lines) or all(s.blank for s in src.scanned[chunk.last + 1 :])
    hint = (
        "the file ends inside it: is the file truncated? add '}' after its last node"
        if at_eof
        else "add '}' after its last node"
    )
    return diag(
        src, "syntax", f"{cell} is never closed: missing '}}'", (i + 1, col + 1, col + 2), hint
    )
