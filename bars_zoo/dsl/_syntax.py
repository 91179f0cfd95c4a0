"""The grammar side: ``grammars/genotype.lark`` (LALR) turns one statement into a :class:`Stmt`.

A :class:`Stmt` is the statement's words with their absolute positions and nothing else: which
options exist, which ops are known and which names are defined is decided later, by the assembler,
which can say more precise things than a parser.  Syntax errors become located diagnostics with a
human "expected ..." list and an example of the statement the writer was typing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from bars_zoo._resources import resource_dir
from bars_zoo.dsl._source import KEYWORDS, Chunk, Source, first_word, suggest
from bars_zoo.errors import Diagnostic

Pos = tuple[int, int, int]  # (line, column, end column), 1-based, end exclusive


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process (about a quarter of a second)."""
    grammar = (resource_dir("grammars") / "genotype.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        start=["start", "chunk"],
    )


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Word:
    """A token with its absolute position."""

    text: str
    kind: str  # the grammar terminal: NAME, NUMBER, STRING, SHAPE, or a keyword
    line: int
    column: int
    end_column: int

    @property
    def pos(self) -> Pos:
        return (self.line, self.column, self.end_column)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Option:
    key: Word
    value: Word


@dataclass(frozen=True)
class Node:
    name: Word
    edges: tuple[tuple[Word, Word | None], ...]  # (source, op); op None for a bare word


@dataclass(frozen=True)
class Stmt:
    """One statement: its keyword, positional words, ``key=value`` options, and a cell's nodes."""

    kind: str  # version | name | input | stem | cell | stage | downsample | head | meta
    keyword: Word
    args: tuple[Word, ...] = ()
    options: tuple[Option, ...] = ()
    nodes: tuple[Node, ...] = ()
    end: Word | None = None  # a cell's closing brace

    @property
    def line(self) -> int:
        return self.keyword.line


class _ToStmt(Transformer[Token, Any]):
    """One method per grammar rule; ``offset`` turns chunk lines into file lines."""

    def __init__(self, offset: int) -> None:
        super().__init__(visit_tokens=False)
        self.offset = offset

    def w(self, tok: Token) -> Word:
        line = (tok.line or 1) + self.offset
        col = tok.column or 1
        end = tok.end_column if tok.end_column is not None else col + len(tok)
        return Word(str(tok), tok.type, line, col, end)

    def number_value(self, items: list[Token]) -> Word:
        return self.w(items[0])

    name_value = string_value = number_value

    def option(self, items: list[Any]) -> Option:
        return Option(self.w(items[0]), items[1])

    def _simple(self, kind: str, items: list[Any], npos: int) -> Stmt:
        words = tuple(self.w(t) for t in items[1 : 1 + npos])
        opts = tuple(i for i in items[1 + npos :] if isinstance(i, Option))
        return Stmt(kind, self.w(items[0]), words, opts)

    def version_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("version", items, 1)

    def name_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("name", items, 1)

    def input_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("input", items, 1)

    def stem_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("stem", items, 1)

    def stage_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("stage", items, 1)

    def downsample_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("downsample", items, 0)

    def meta_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("meta", items, 0)

    def head_stmt(self, items: list[Any]) -> Stmt:
        return self._simple("head", items, len(items) - 1)

    def edge(self, items: list[Token]) -> tuple[Word, Word | None]:
        return (self.w(items[0]), self.w(items[1]))

    def bare_edge(self, items: list[Token]) -> tuple[Word, Word | None]:
        return (self.w(items[0]), None)

    def node_stmt(self, items: list[Any]) -> Node:
        return Node(self.w(items[0]), tuple(items[2:]))

    def cell_stmt(self, items: list[Any]) -> Stmt:
        opts = tuple(i for i in items[2:-1] if isinstance(i, Option))
        nodes = tuple(i for i in items[2:-1] if isinstance(i, Node))
        return Stmt("cell", self.w(items[0]), (self.w(items[1]),), opts, nodes, self.w(items[-1]))

    def chunk(self, items: list[Stmt]) -> Stmt:
        return items[0]


# --------------------------------------------------------------------------- errors

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


def describe_expected(expected: set[str] | frozenset[str]) -> str | None:
    """``{'COLON', 'NAME'}`` -> ``"':' or a name"``."""
    lits = _literals()
    keywords = {n for n in expected if lits.get(n) in KEYWORDS}
    rest = set(expected) - keywords if len(keywords) > 2 else set(expected)
    parts = ["a statement keyword"] if len(keywords) > 2 else []
    parts += sorted(f"'{lits[n]}'" for n in rest if n in lits)
    parts += sorted(_DESCRIBE.get(n, n.lower()) for n in rest if n not in lits)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


@functools.lru_cache(maxsize=1)
def _literals() -> dict[str, str]:
    """Terminal name -> its literal text, for the terminals that are fixed strings."""
    return {
        t.name: str(t.pattern.value)
        for t in parser().terminals
        if isinstance(t.pattern, PatternStr)
    }


def parse_chunk(src: Source, chunk: Chunk) -> Stmt | Diagnostic:
    """Parse one statement, or say precisely why it does not parse."""
    if chunk.keyword not in KEYWORDS:
        return _unknown_statement(src, chunk)
    if chunk.early_close is not None:
        return _closed_early(src, chunk, chunk.early_close)
    try:
        tree = parser().parse(src.chunk_text(chunk), start="chunk")
    except UnexpectedInput as exc:
        return _syntax_error(src, chunk, exc)
    stmt: Stmt = _ToStmt(chunk.first).transform(tree)
    return stmt


def _diag(src: Source, code: str, msg: str, pos: Pos, hint: str | None) -> Diagnostic:
    line, col, end = pos
    text = src.lines[line - 1] if 0 < line <= len(src.lines) else None
    return Diagnostic(code, msg, "error", src.filename, line, col, end, text, hint)


def _unknown_statement(src: Source, chunk: Chunk) -> Diagnostic:
    code = src.scanned[chunk.first].code
    word = chunk.keyword
    col = len(code) - len(code.lstrip()) + 1
    line = chunk.first + 1
    if not word:
        ch = code.strip()[0]
        pos = (line, col, col + 1)
        if ch == "}":
            return _diag(src, "syntax", "unmatched '}'", pos, "no cell is open here; remove it")
        return _diag(
            src,
            "syntax",
            f"unexpected {ch!r} at the start of a statement",
            pos,
            "a statement starts with one of: " + ", ".join(KEYWORDS),
        )
    pos = (line, col, col + len(word))
    if "<-" in code:
        return _diag(
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
        else "a statement starts with one of: " + ", ".join(KEYWORDS)
    )
    return _diag(src, "unknown-statement", f"unknown statement '{word}'", pos, hint)


def _syntax_error(src: Source, chunk: Chunk, exc: UnexpectedInput) -> Diagnostic:
    off = chunk.first
    line = (getattr(exc, "line", 1) or 1) + off
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
        return _diag(
            src,
            "syntax",
            f"a '{word}' statement inside {cell}",
            (line, start, start + len(word)),
            "a cell holds node lines only: move this line below the cell's closing '}'",
        )
    in_node = line != chunk.first + 1 or "<-" in code
    example = EXAMPLES["node" if chunk.keyword == "cell" and in_node else chunk.keyword]
    hint: str | None = f"for example: {example}"
    at_eof = all(s.blank for s in src.scanned[chunk.last + 1 :])
    if not chunk.closed and at_eof and line >= _last_code_line(src, chunk):
        hint = "the file ends inside this cell: is it truncated?"
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        expected = describe_expected(exc.expected)
        if tok.type == "$END":
            return _unclosed(src, chunk)
        if tok.type == "_NL":
            code = src.scanned[line - 1].code.rstrip()
            col = len(code) + 1
            pos = (line, col, col + 1)
            what = "end of line"
            if "RBRACE" not in exc.expected and "'{'" in (expected or "") and not in_node:
                hint = "the '{' goes at the end of the 'cell' line"
        else:
            pos = (line, col, tok.end_column or col + len(tok))
            what = f"'{tok}'"
        msg = f"unexpected {what}" + (f"; expected {expected}" if expected else "")
        return _diag(src, "syntax", msg, pos, hint)
    if not isinstance(exc, UnexpectedCharacters):  # pragma: no cover - LALR raises only the two
        return _diag(src, "syntax", "this statement is incomplete", (line, col, col + 1), hint)
    ch = text[col - 1] if 0 < col <= len(text) else "?"
    pos = (line, col, col + 1)
    if ch == '"':
        return _diag(
            src,
            "syntax",
            "unterminated string",
            (line, col, len(text) + 1),
            'a string ends with " on the same line',
        )
    if ch in ")]" and chunk.keyword == "cell":
        hint = "a cell ends with '}' on a line of its own"
    expected = describe_expected(exc.allowed or set())
    msg = f"unexpected character {ch!r}" + (f"; expected {expected}" if expected else "")
    return _diag(src, "syntax", msg, pos, hint)


def _last_code_line(src: Source, chunk: Chunk) -> int:
    """1-based number of the chunk's last line that holds code."""
    for i in range(chunk.last, chunk.first, -1):
        if not src.scanned[i].blank:
            return i + 1
    return chunk.first + 1


def _closed_early(src: Source, chunk: Chunk, at: int) -> Diagnostic:
    """A cell whose ``}`` comes before node lines that belong to it (``cell c ... { }``)."""
    code = src.scanned[at].code
    col = code.rfind("}")
    name = src.scanned[chunk.first].code.split()
    cell = f"cell '{name[1]}'" if len(name) > 1 and name[1] != "{" else "this cell"
    last = src.scanned[chunk.last].code.strip()
    if last == "}":
        hint = f"remove this '}}': the cell's nodes run to the '}}' on line {chunk.last + 1}"
    else:
        hint = f"move this '}}' below the cell's last node (line {chunk.last + 1})"
    return _diag(
        src,
        "syntax",
        f"{cell} is closed here, before the node lines below it",
        (at + 1, col + 1, col + 2),
        hint,
    )


def _unclosed(src: Source, chunk: Chunk) -> Diagnostic:
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
    return _diag(
        src, "syntax", f"{cell} is never closed: missing '}}'", (i + 1, col + 1, col + 2), hint
    )
