"""The genotype language: text -> lark parse tree -> :class:`~bars_zoo.spec.NetworkSpec`, and back.

``parse`` reads, ``format`` prints canonically (``format(parse(t))`` is a fixed point), ``check``
returns every located diagnostic (errors and warnings) without raising.  The grammar lives in
``grammars/genotype.lark``; the language is documented in ``docs/genotype-language.md``.

This module never imports torch: checking a genotype is instant.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from pydantic import ValidationError

from bars_zoo._resources import resource_dir
from bars_zoo.errors import Diagnostic, GenotypeError
from bars_zoo.spec import (
    CELL_OPS,
    EDGE_OPS,
    FORMAT_VERSION,
    STEM_OPS,
    CellSpec,
    DownsampleSpec,
    Limits,
    NetworkSpec,
    Problem,
    StageSpec,
    check_spec,
)

Pos = tuple[int, int, int]  # (line, column, end_column), 1-based
Path_ = tuple[str | int, ...]


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (resource_dir("grammars") / "genotype.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


# --------------------------------------------------------------------------- results


@dataclass
class Document:
    """A parsed file: the spec (``None`` when there were errors), its diagnostics and its comments."""

    spec: NetworkSpec | None
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    header: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors


class _Fail(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        self.diag = diag


# --------------------------------------------------------------------------- tree -> raw objects


@dataclass
class _Opt:
    key: Token
    value: Any
    vtok: Token
    kind: str  # int | name | string


@dataclass
class _Stmt:
    kind: str
    tok: Token  # the token that names the statement (keyword position or name)
    args: list[Any]
    opts: list[_Opt]
    line: int
    column: int


class _ToRaw(Transformer[Token, Any]):
    """One method per grammar rule: turn the tree into plain statement records."""

    def int_value(self, items: list[Token]) -> tuple[Any, Token, str]:
        return (int(items[0]), items[0], "int")

    def name_value(self, items: list[Token]) -> tuple[Any, Token, str]:
        return (str(items[0]), items[0], "name")

    def string_value(self, items: list[Token]) -> tuple[Any, Token, str]:
        return (_unquote(str(items[0])), items[0], "string")

    def option(self, items: list[Any]) -> _Opt:
        key, (value, vtok, kind) = items
        return _Opt(key, value, vtok, kind)

    @v_args(meta=True)
    def version_stmt(self, meta: Any, items: list[Token]) -> _Stmt:
        return _Stmt("version", items[0], [items[0]], [], meta.line, meta.column)

    @v_args(meta=True)
    def name_stmt(self, meta: Any, items: list[Token]) -> _Stmt:
        return _Stmt("name", items[0], [items[0]], [], meta.line, meta.column)

    @v_args(meta=True)
    def input_stmt(self, meta: Any, items: list[Any]) -> _Stmt:
        return _Stmt("input", items[0], [items[0]], list(items[1:]), meta.line, meta.column)

    @v_args(meta=True)
    def stem_stmt(self, meta: Any, items: list[Any]) -> _Stmt:
        return _Stmt("stem", items[0], [items[0]], list(items[1:]), meta.line, meta.column)

    def edge(self, items: list[Token]) -> tuple[Token, Token | None]:
        return (items[0], items[1])

    def bare_edge(self, items: list[Token]) -> tuple[Token, Token | None]:
        return (items[0], None)

    @v_args(meta=True)
    def node_stmt(self, meta: Any, items: list[Any]) -> _Stmt:
        return _Stmt("node", items[0], [items[0], list(items[1:])], [], meta.line, meta.column)

    @v_args(meta=True)
    def cell_stmt(self, meta: Any, items: list[Any]) -> _Stmt:
        opts = [i for i in items[1:] if isinstance(i, _Opt)]
        nodes = [i for i in items[1:] if isinstance(i, _Stmt)]
        return _Stmt("cell", items[0], [items[0], nodes], opts, meta.line, meta.column)

    @v_args(meta=True)
    def stage_stmt(self, meta: Any, items: list[Any]) -> _Stmt:
        return _Stmt("stage", items[0], [items[0]], list(items[1:]), meta.line, meta.column)

    @v_args(meta=True)
    def downsample_stmt(self, meta: Any, items: list[Any]) -> _Stmt:
        kw = Token(
            "NAME", "downsample", line=meta.line, column=meta.column, end_column=meta.column + 10
        )
        return _Stmt("downsample", kw, [], list(items), meta.line, meta.column)

    @v_args(meta=True)
    def head_stmt(self, meta: Any, items: list[Token]) -> _Stmt:
        kw = Token("NAME", "head", line=meta.line, column=meta.column, end_column=meta.column + 4)
        return _Stmt("head", kw, list(items), [], meta.line, meta.column)

    @v_args(meta=True)
    def meta_stmt(self, meta: Any, items: list[_Opt]) -> _Stmt:
        kw = Token("NAME", "meta", line=meta.line, column=meta.column, end_column=meta.column + 4)
        return _Stmt("meta", kw, [], list(items), meta.line, meta.column)

    def start(self, items: list[_Stmt]) -> list[_Stmt]:
        return items


def _unquote(s: str) -> str:
    out = json.loads(s) if "\\" in s else s[1:-1]
    return str(out)


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


# --------------------------------------------------------------------------- assembling


class _Assembler:
    """Raw statements -> a spec dict plus a map from spec field paths to source positions."""

    def __init__(self, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines
        self.pos: dict[Path_, Pos] = {}
        self.errors: list[Diagnostic] = []

    # -- diagnostics
    def diag(
        self, code: str, msg: str, at: Pos, *, hint: str | None = None, severity: str = "error"
    ) -> Diagnostic:
        line, col, end = at
        src = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return Diagnostic(
            code=code,
            message=msg,
            severity=severity,  # type: ignore[arg-type]
            filename=self.filename,
            line=line,
            column=col,
            end_column=end,
            source_line=src,
            hint=hint,
        )

    def error(self, code: str, msg: str, at: Pos, hint: str | None = None) -> None:
        self.errors.append(self.diag(code, msg, at, hint=hint))

    @staticmethod
    def at(tok: Token) -> Pos:
        line = tok.line or 1
        col = tok.column or 1
        end = tok.end_column if tok.end_column is not None else col + len(str(tok))
        return (line, col, end)

    # -- options
    def options(
        self,
        st: _Stmt,
        path: Path_,
        schema: dict[str, tuple[str, Any]],
    ) -> dict[str, Any]:
        """Check ``key=value`` options against ``schema`` ({key: (kind, default or REQUIRED)})."""
        out: dict[str, Any] = {}
        seen: dict[str, _Opt] = {}
        for o in st.opts:
            k = str(o.key)
            if k not in schema:
                close = difflib.get_close_matches(k, list(schema), n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"known options: {', '.join(schema)}"
                )
                self.error(
                    "unknown-option", f"unknown option '{k}' for {st.kind}", self.at(o.key), hint
                )
                continue
            if k in seen:
                self.error("duplicate-option", f"option '{k}' is given twice", self.at(o.key))
                continue
            seen[k] = o
            kind, _ = schema[k]
            value = self.coerce(o, kind, st.kind)
            if value is not _BAD:
                out[k] = value
                self.pos[(*path, _FIELD.get(k, k))] = self.at(o.vtok)
        for k, (_, default) in schema.items():
            if k not in seen:
                if default is _REQUIRED:
                    self.error(
                        "missing-option",
                        f"{st.kind} needs '{k}=...'",
                        self.at(st.tok),
                        hint=f"add {k}=<{schema[k][0]}>",
                    )
                else:
                    out[k] = default
        return out

    def coerce(self, o: _Opt, kind: str, where: str) -> Any:
        k = str(o.key)
        if kind == "int":
            if o.kind != "int":
                self.error(
                    "bad-value", f"'{k}' takes a whole number, got {o.vtok}", self.at(o.vtok)
                )
                return _BAD
            if o.value > 10**9:
                self.error("too-large", f"'{k}={o.value}' is absurdly large", self.at(o.vtok))
                return _BAD
            return o.value
        if kind == "bool":
            if o.kind == "name" and o.value in ("true", "false"):
                return o.value == "true"
            self.error("bad-value", f"'{k}' takes true or false, got {o.vtok}", self.at(o.vtok))
            return _BAD
        if kind in ("cell_op", "stem_pool"):
            choices = CELL_OPS if kind == "cell_op" else ("none", "maxpool")
            return self.choice(o, choices, f"{k} op" if kind == "cell_op" else k)
        if kind == "name":
            if o.kind != "name":
                self.error("bad-value", f"'{k}' takes a name, got {o.vtok}", self.at(o.vtok))
                return _BAD
            return o.value
        if kind == "str":
            if len(str(o.value)) > Limits.MAX_META_LEN:
                self.error(
                    "too-large",
                    f"meta value of '{k}' is longer than {Limits.MAX_META_LEN} characters",
                    self.at(o.vtok),
                )
                return _BAD
            return str(o.value)
        raise AssertionError(kind)  # pragma: no cover - schema is internal

    def choice(self, o: _Opt, choices: tuple[str, ...], what: str) -> Any:
        if o.kind == "name" and o.value in choices:
            return o.value
        self.unknown_op(o.vtok, choices, what)
        return _BAD

    def unknown_op(self, tok: Token, choices: tuple[str, ...], what: str) -> None:
        close = difflib.get_close_matches(str(tok), list(choices), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(choices)}"
        self.error("unknown-op", f"unknown {what} '{tok}'", self.at(tok), hint)

    # -- statements
    def assemble(self, stmts: list[_Stmt]) -> dict[str, Any] | None:
        version = stmts[0]
        v = int(str(version.args[0]))
        if v != FORMAT_VERSION:
            self.error(
                "version",
                f"unsupported format version {v}",
                self.at(version.args[0]),
                hint=f"this bars-zoo reads 'bars {FORMAT_VERSION}'",
            )
            return None
        singles: dict[str, _Stmt] = {}
        cells: list[dict[str, Any]] = []
        layout: list[dict[str, Any]] = []
        meta: dict[str, str] = {}
        for st in stmts[1:]:
            if st.kind in ("name", "input", "stem", "head"):
                if st.kind in singles:
                    first = singles[st.kind].line
                    self.error(
                        "duplicate-section",
                        f"'{st.kind}' appears twice (first on line {first})",
                        (st.line, st.column, st.column + len(st.kind)),
                        hint="keep one",
                    )
                    continue
                singles[st.kind] = st
            elif st.kind == "cell":
                cells.append(self.cell(st, len(cells)))
            elif st.kind == "stage":
                layout.append(self.stage(st, len(layout)))
            elif st.kind == "downsample":
                layout.append(self.downsample(st, len(layout)))
            elif st.kind == "meta":
                self.meta(st, meta)
        spec: dict[str, Any] = {"version": v, "cells": cells, "layout": layout, "meta": meta}
        end = len(self.lines) or 1
        for kind, example in (
            ("name", 'name "my-net"'),
            ("input", "input 3x32x32 classes=10"),
            ("stem", "stem conv3x3 channels=64 stride=1"),
            ("head", "head avgpool linear"),
        ):
            if kind not in singles:
                self.error(
                    "missing-section",
                    f"the file has no '{kind}' line",
                    (end, 1, 2),
                    hint=f"add '{example}'",
                )
        if not cells:
            self.error(
                "missing-section",
                "the file defines no cell",
                (end, 1, 2),
                hint="add a 'cell NAME ... { ... }'",
            )
        if not layout:
            self.error(
                "missing-section",
                "the file has no stage",
                (end, 1, 2),
                hint="add 'stage s1: channels=.. depth=.. cell=..'",
            )
        if "name" in singles:
            st = singles["name"]
            spec["name"] = _unquote(str(st.args[0]))
            self.pos[("name",)] = self.at(st.args[0])
        if "input" in singles:
            self.input(singles["input"], spec)
        if "stem" in singles:
            self.stem(singles["stem"], spec)
        if "head" in singles:
            self.head(singles["head"], spec)
        return spec

    def input(self, st: _Stmt, spec: dict[str, Any]) -> None:
        shape = str(st.args[0])
        parts = [int(x) for x in shape.split("x")]
        at = self.at(st.args[0])
        if any(p > 10**9 for p in parts):
            self.error("too-large", f"input shape {shape} is absurdly large", at)
            return
        spec["input"] = {"channels": parts[0], "height": parts[1], "width": parts[2]}
        for f in ("channels", "height", "width"):
            self.pos[("input", f)] = at
        opts = self.options(st, (), {"classes": ("int", _REQUIRED)})
        if "classes" in opts:
            spec["num_classes"] = opts["classes"]

    def stem(self, st: _Stmt, spec: dict[str, Any]) -> None:
        op = st.args[0]
        self.pos[("stem", "op")] = self.at(op)
        if str(op) not in STEM_OPS:
            self.unknown_op(op, STEM_OPS, "stem op")
        opts = self.options(
            st,
            ("stem",),
            {"channels": ("int", _REQUIRED), "stride": ("int", 1), "pool": ("stem_pool", "none")},
        )
        spec["stem"] = {"op": str(op), **opts}

    def head(self, st: _Stmt, spec: dict[str, Any]) -> None:
        words = [str(t) for t in st.args]
        if words != ["avgpool", "linear"]:
            at = self.at(st.args[0]) if st.args else self.at(st.tok)
            self.error(
                "bad-head",
                f"unsupported head '{' '.join(words) or '(empty)'}'",
                at,
                hint="the head is 'head avgpool linear' (BN -> global average pool -> linear)",
            )
            return
        spec["head"] = {"pool": "avgpool", "classifier": "linear"}

    def meta(self, st: _Stmt, meta: dict[str, str]) -> None:
        for o in st.opts:
            k = str(o.key)
            if k in meta:
                self.error("duplicate-option", f"meta key '{k}' is given twice", self.at(o.key))
                continue
            value = self.coerce(o, "str", "meta")
            if value is not _BAD:
                meta[k] = value
                self.pos[("meta", k)] = self.at(o.vtok)
        if len(meta) > Limits.MAX_META:
            self.error("too-large", f"more than {Limits.MAX_META} meta entries", self.at(st.tok))

    def cell(self, st: _Stmt, ci: int) -> dict[str, Any]:
        name_tok, node_stmts = st.args
        path: Path_ = ("cells", ci)
        self.pos[(*path, "name")] = self.at(name_tok)
        self.pos[path] = self.at(name_tok)
        opts = self.options(
            st,
            path,
            {
                "stride": ("int", 1),
                "preprocess": ("cell_op", _REQUIRED),
                "shortcut": ("cell_op", _REQUIRED),
                "op_shortcut": ("bool", True),
            },
        )
        if len(node_stmts) > Limits.MAX_NODES:
            self.error(
                "too-large",
                f"cell '{name_tok}' has {len(node_stmts)} nodes; the limit is {Limits.MAX_NODES}",
                self.at(node_stmts[Limits.MAX_NODES].tok),
            )
            node_stmts = node_stmts[: Limits.MAX_NODES]
        if not node_stmts:
            self.error(
                "empty-cell",
                f"cell '{name_tok}' has no nodes",
                self.at(name_tok),
                hint="add 'n1 <- in: bconv3x3'",
            )
        nodes = [self.node(n, (*path, "nodes", ni)) for ni, n in enumerate(node_stmts)]
        return {"name": str(name_tok), **opts, "nodes": nodes}

    def node(self, st: _Stmt, path: Path_) -> dict[str, Any]:
        name_tok, edges = st.args
        self.pos[(*path, "name")] = self.at(name_tok)
        self.pos[path] = self.at(name_tok)
        out: list[dict[str, str]] = []
        for src, op in edges:
            if op is None:
                if str(src) == "none" and len(edges) == 1:
                    continue
                self.error(
                    "syntax",
                    f"edge '{src}' needs an op",
                    self.at(src),
                    hint="write 'SOURCE: OP' (for example 'in: bconv3x3'), or 'none' alone for an empty node",
                )
                continue
            if str(op) not in EDGE_OPS:
                self.unknown_op(op, EDGE_OPS, "edge op")
                continue
            ei = len(out)
            self.pos[(*path, "edges", ei, "source")] = self.at(src)
            self.pos[(*path, "edges", ei, "op")] = self.at(op)
            self.pos[(*path, "edges", ei)] = self.at(src)
            if str(op) == "none":
                # An explicit 'none' edge is the same as leaving it out; keep it only for checks.
                out.append({"source": str(src), "op": "none"})
                continue
            out.append({"source": str(src), "op": str(op)})
        return {"name": str(name_tok), "edges": out}

    def stage(self, st: _Stmt, li: int) -> dict[str, Any]:
        path: Path_ = ("layout", li, "stage")
        self.pos[(*path, "name")] = self.at(st.args[0])
        self.pos[("layout", li)] = self.at(st.args[0])
        opts = self.options(
            st,
            path,
            {
                "channels": ("int", _REQUIRED),
                "depth": ("int", _REQUIRED),
                "cell": ("name", _REQUIRED),
            },
        )
        return {"kind": "stage", "name": str(st.args[0]), **opts}

    def downsample(self, st: _Stmt, li: int) -> dict[str, Any]:
        path: Path_ = ("layout", li, "downsample")
        self.pos[("layout", li)] = self.at(st.tok)
        opts = self.options(st, path, {"cell": ("name", _REQUIRED)})
        return {"kind": "downsample", **opts}


_REQUIRED = object()
_BAD = object()
_FIELD = {"classes": "num_classes"}


# --------------------------------------------------------------------------- entry points


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _syntax_diag(e: UnexpectedInput, filename: str, lines: list[str]) -> Diagnostic:
    line = getattr(e, "line", 1) or 1
    col = getattr(e, "column", 1) or 1
    if line < 1:
        line, col = len(lines), 1
    src = lines[line - 1] if 0 < line <= len(lines) else None
    end = col + 1
    hint = None
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            msg = "unexpected end of file"
            hint = "the file stops in the middle of a statement (a missing '}'?)"
            line = max(1, len(lines) - (1 if lines and lines[-1] == "" else 0))
            src = lines[line - 1] if lines else None
            col = len(src or "") + 1
            end = col + 1
        else:
            shown = "end of line" if tok.type == "_NL" else f"'{tok}'"
            msg = f"unexpected {shown}"
            end = (tok.end_column or col + len(str(tok))) if tok.type != "_NL" else col + 1
            hint = _expected_hint(e.expected)
    elif isinstance(e, UnexpectedCharacters):
        ch = src[col - 1] if src and 0 < col <= len(src) else "?"
        msg = f"unexpected character {ch!r}"
        hint = _expected_hint(e.allowed) if e.allowed else None
    elif isinstance(e, UnexpectedEOF):
        msg = "unexpected end of file"
    else:  # pragma: no cover
        msg = str(e).splitlines()[0]
    return Diagnostic("syntax", msg, "error", filename, line, col, end, src, hint)


_TOKEN_NAMES = {
    "NAME": "a name",
    "INT": "a number",
    "STRING": 'a "string"',
    "SHAPE": "a shape like 3x32x32",
    "_NL": "end of line",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COLON": "':'",
    "COMMA": "','",
    "EQUAL": "'='",
    "__ANON_0": "'<-'",
}


def _expected_hint(expected: set[str] | frozenset[str]) -> str | None:
    if not expected:
        return None
    names = sorted({_TOKEN_NAMES.get(t, t.lower() if t.isupper() else t) for t in expected})
    if len(names) > 8:
        return None
    return "expected " + ", ".join(names)


def check(text: str | bytes, filename: str | None = None) -> Document:
    """Parse and validate, returning every diagnostic instead of raising."""
    fname = filename or "<string>"
    if isinstance(text, bytes):
        if len(text) > Limits.MAX_FILE_BYTES:
            return _whole_file_error(fname, "too-large", _too_large_msg(len(text)))
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _whole_file_error(
                fname,
                "not-text",
                f"the file is not UTF-8 text (byte {exc.start})",
                "is this a .geno file?",
            )
    if len(text) > Limits.MAX_FILE_BYTES:
        return _whole_file_error(fname, "too-large", _too_large_msg(len(text)))
    if "\x00" in text:
        return _whole_file_error(
            fname, "not-text", "the file contains NUL bytes", "is this a .geno file?"
        )
    lines = _lines(text)
    header = _header_comments(lines)
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in lines):
        return _whole_file_error(
            fname, "empty", "the file holds no genotype", "a genotype starts with the line 'bars 1'"
        )
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as e:
        return Document(None, [_syntax_diag(e, fname, lines)], [], header)
    except RecursionError:  # pragma: no cover - bounded by MAX_FILE_BYTES
        return _whole_file_error(fname, "too-large", "the file is nested too deeply")
    stmts = _ToRaw().transform(tree)
    asm = _Assembler(fname, lines)
    raw = asm.assemble(stmts)
    if raw is None or asm.errors:
        return Document(None, _sorted(asm.errors), [], header)
    raw, none_edges = _drop_none_edges(raw)
    try:
        spec = NetworkSpec.model_validate(raw)
    except ValidationError as ve:
        return Document(None, _sorted(_from_validation(ve, asm)), [], header)
    problems = check_spec(spec) + _explicit_none_problems(none_edges)
    errors = [_from_problem(p, asm) for p in problems if p.severity == "error"]
    warnings = [_from_problem(p, asm) for p in problems if p.severity == "warning"]
    if errors:
        return Document(None, _sorted(errors), _sorted(warnings), header)
    return Document(spec, [], _sorted(warnings), header)


def _drop_none_edges(raw: dict[str, Any]) -> tuple[dict[str, Any], list[Path_]]:
    """Explicit ``none`` edges mean nothing: drop them (remembering where, for duplicate checks)."""
    dropped: list[Path_] = []
    for ci, cell in enumerate(raw.get("cells", [])):
        for ni, node in enumerate(cell.get("nodes", [])):
            kept = []
            for ei, e in enumerate(node["edges"]):
                if e["op"] == "none":
                    dropped.append(("cells", ci, "nodes", ni, "edges", ei, "source"))
                else:
                    kept.append(e)
            node["edges"] = kept
    return raw, dropped


def _explicit_none_problems(paths: list[Path_]) -> list[Problem]:
    del paths
    return []


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (d.line, d.column))


def _too_large_msg(n: int) -> str:
    return f"the file is {n} bytes; genotype files are limited to {Limits.MAX_FILE_BYTES} bytes"


def _whole_file_error(fname: str, code: str, msg: str, hint: str | None = None) -> Document:
    return Document(None, [Diagnostic(code, msg, "error", fname, 1, 1, None, None, hint)], [])


def _header_comments(lines: list[str]) -> list[str]:
    out: list[str] = []
    for ln in lines:
        s = ln.strip()
        if s.startswith("#"):
            out.append(s)
        elif s:
            break
        elif out:
            out.append("")
    while out and out[-1] == "":
        out.pop()
    return out


def _locate(path: Path_, asm: _Assembler) -> Pos:
    """Position of the longest known prefix of ``path``."""
    p = tuple(path)
    # pydantic puts the discriminator tag into union locations: ('layout', 0, 'stage', 'channels')
    while p:
        if p in asm.pos:
            return asm.pos[p]
        p = p[:-1]
    return (1, 1, 2)


_RANGE_CODES = {"channels": "bad-channels", "depth": "bad-depth", "stride": "bad-stride"}


def _from_validation(ve: ValidationError, asm: _Assembler) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for err in ve.errors():
        loc = tuple(err["loc"])
        fieldname = next((str(x) for x in reversed(loc) if isinstance(x, str)), "value")
        typ = err["type"]
        ctx = err.get("ctx") or {}
        code = _RANGE_CODES.get(fieldname, "bad-value")
        if typ == "less_than_equal":
            code = "too-large"
            msg = f"'{fieldname}' is {err['input']}; the limit is {ctx.get('le')}"
            hint = "see the hard bounds in docs/genotype-language.md"
        elif typ == "greater_than_equal":
            msg = f"'{fieldname}' must be at least {ctx.get('ge')}, got {err['input']}"
            hint = None
        elif typ == "too_long":
            code = "too-large"
            msg = f"too many {fieldname} ({err['input'] if isinstance(err['input'], int) else len(err['input'])})"
            hint = f"the limit is {ctx.get('max_length')}"
        elif typ == "literal_error":
            msg = f"'{fieldname}' must be {ctx.get('expected')}, got {err['input']!r}"
            hint = None
        elif typ == "string_pattern_mismatch":
            code = "bad-name"
            msg = f"'{err['input']}' is not a valid name"
            hint = "names start with a letter or '_' and hold letters, digits, '_', '-' and '.'"
        else:
            msg = f"{fieldname}: {err['msg']}"
            hint = None
        out.append(asm.diag(code, msg, _locate(loc, asm), hint=hint))
    return out


def _from_problem(p: Problem, asm: _Assembler) -> Diagnostic:
    return asm.diag(p.code, p.message, _locate(p.path, asm), hint=p.hint, severity=p.severity)


def parse(text: str | bytes, filename: str | None = None) -> NetworkSpec:
    """Parse and validate genotype text; raise :class:`GenotypeError` with every error found."""
    doc = check(text, filename)
    if doc.spec is None:
        err = GenotypeError(doc.errors)
        err.warnings = tuple(doc.warnings)
        raise err
    return doc.spec


def read(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read and parse a ``.geno`` file."""
    p = Path(path)
    return parse(_read_bytes(p), filename=str(path))


def _read_bytes(p: Path) -> bytes:
    try:
        with p.open("rb") as f:
            return f.read(Limits.MAX_FILE_BYTES + 1)  # check() reports an over-long file
    except FileNotFoundError:
        raise GenotypeError(
            [Diagnostic("no-file", f"no such file: {p}", "error", str(p), 1, 1, None, None, None)]
        ) from None
    except IsADirectoryError:
        raise GenotypeError(
            [Diagnostic("no-file", f"{p} is a directory", "error", str(p), 1, 1, None, None, None)]
        ) from None


# --------------------------------------------------------------------------- printer


def format(spec: NetworkSpec, *, header: list[str] | None = None) -> str:
    """The canonical text of ``spec``: fixed order, ``none`` edges omitted, every option explicit."""
    out: list[str] = []
    for h in header or []:
        out.append(h)
    if header:
        out.append("")
    out.append(f"bars {spec.version}")
    out.append(f"name {_quote(spec.name)}")
    i = spec.input
    out.append(f"input {i.channels}x{i.height}x{i.width} classes={spec.num_classes}")
    s = spec.stem
    out.append(f"stem {s.op} channels={s.channels} stride={s.stride} pool={s.pool}")
    for cell in spec.cells:
        out.append("")
        out.extend(_format_cell(cell))
    out.append("")
    for item in spec.layout:
        if isinstance(item, StageSpec):
            out.append(
                f"stage {item.name}: channels={item.channels} depth={item.depth} cell={item.cell}"
            )
        elif isinstance(item, DownsampleSpec):
            out.append(f"downsample cell={item.cell}")
    out.append(f"head {spec.head.pool} {spec.head.classifier}")
    if spec.meta:
        out.append("")
        for k, v in spec.meta.items():
            out.append(f"meta {k}={_quote(v)}")
    return "\n".join(out) + "\n"


def _format_cell(cell: CellSpec) -> list[str]:
    opts = (
        f"stride={cell.stride} preprocess={cell.preprocess} shortcut={cell.shortcut} "
        f"op_shortcut={'true' if cell.op_shortcut else 'false'}"
    )
    lines = [f"cell {cell.name} {opts} {{"]
    for node in cell.nodes:
        edges = [e for e in node.edges if e.op != "none"]
        body = ", ".join(f"{e.source}: {e.op}" for e in edges) if edges else "none"
        lines.append(f"  {node.name} <- {body}")
    lines.append("}")
    return lines


def format_text(text: str, filename: str | None = None) -> str:
    """Reformat genotype text canonically, keeping the file's header comment block."""
    doc = check(text, filename)
    if doc.spec is None:
        raise GenotypeError(doc.errors)
    return format(doc.spec, header=doc.header)


def schema() -> dict[str, Any]:
    """The JSON Schema of :class:`NetworkSpec` (for editors and tools)."""
    return NetworkSpec.model_json_schema()


__all__ = ["Document", "check", "format", "format_text", "parse", "read", "schema"]
