"""The grammar side: ``grammars/genotype.lark`` (LALR) turns one statement into a :class:`Stmt`.

A :class:`Stmt` is the statement's words with their absolute positions and nothing else: which
options exist, which ops are known and which names are defined is decided later, by the assembler,
which can say more precise things than a parser.  A statement the grammar refuses becomes one
located diagnostic (:mod:`bars_zoo.dsl._explain` says why).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput
from lark.lexer import PatternStr

from bars_zoo._resources import resource_dir
from bars_zoo.dsl._explain import closed_early, syntax_error, unknown_statement
from bars_zoo.dsl._slips import Pos
from bars_zoo.dsl._source import KEYWORDS, Chunk, Source
from bars_zoo.errors import Diagnostic


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


# --------------------------------------------------------------------------- parsing


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
        return unknown_statement(src, chunk)
    if chunk.early_close is not None:
        return closed_early(src, chunk, chunk.early_close)
    try:
        tree = parser().parse(src.chunk_text(chunk), start="chunk")
    except UnexpectedInput as exc:
        return syntax_error(src, chunk, exc, _literals())
    stmt: Stmt = _ToStmt(chunk.first).transform(tree)
    return stmt
