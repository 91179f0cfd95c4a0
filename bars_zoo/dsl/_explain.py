"""Why a statement does not parse: a lark exception -> one located diagnostic with a hint.

The LALR parser knows which token it wanted; a person needs more.  A common slip of hand-editing
is said in its own words (:mod:`bars_zoo.dsl._slips`); so are a statement put inside a cell, a
cell closed before its nodes, a cell never closed and a file cut short inside a cell.  Anything
else is "unexpected X; expected Y" with an example of the statement, where Y lists only what this
statement can take at that point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from bars_zoo.dsl._slips import (
    EXAMPLES,
    arrow_hint,
    char_name,
    diag,
    lookalike_hint,
    looks_ascii,
    missing_equals,
    slip,
    word_at,
)
from bars_zoo.dsl._source import KEYWORDS, Chunk, Source, first_word, suggest
from bars_zoo.errors import Diagnostic

_WORD = re.compile(r"(?<![^\x00-\x7f])[A-Za-z_][A-Za-z0-9_.\-]*(?![^\x00-\x7f])")

_DESCRIBE = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "SHAPE": "a shape like 3x32x32",
    "_NL": "end of line",
    "$END": "end of file",
}


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
    odd = next((i for i, c in enumerate(word) if not c.isascii()), None)
    if odd is not None and looks_ascii(word[odd]):
        # 'Ѕtage', 'hеad': a keyword with a look-alike letter in it, at that letter
        at = (line, col + odd, col + odd + 1)
        hint = lookalike_hint(word[odd], word, names(src))
        return diag(src, "unknown-statement", f"unknown statement '{word}'", at, hint)
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
        f"did you mean '{close}'?" + (" (lower case)" if close == word.lower() else "")
        if close
        else lookalike_hint(word) or "a statement starts with one of: " + ", ".join(KEYWORDS)
    )
    return diag(src, "unknown-statement", f"unknown statement '{word}'", pos, hint)


def names(src: Source) -> set[str]:
    """The ASCII words of the file: the names a word with a look-alike letter may have meant."""
    return {w for line in src.scanned for w in _WORD.findall(line.code)}


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
    elif (said := slip(src, chunk, line, col, exc, accepted, in_node)) is not None:
        return said
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
            return missing_equals(src, chunk, code, pos, what, tok, hint)
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
    if (arrow := arrow_hint(text[col - 1 : col + 1])) is not None:  # '<–': a look-alike dash
        msg = f"unexpected character {char_name(text[col])} after '<'" + (
            f"; expected {expected}" if expected else ""
        )
        return diag(src, "syntax", msg, (line, col, col + 2), arrow)
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
    hint = lookalike_hint(ch, word_at(text, col - 1), names(src)) or hint
    msg = f"unexpected character {char_name(ch)}" + (f"; expected {expected}" if expected else "")
    return diag(src, "syntax", msg, pos, hint)


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
