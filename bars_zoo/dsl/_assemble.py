"""Statements -> :class:`~bars_zoo.spec.NetworkSpec`, every mistake located.

Two passes, so that one error does not hide another:

1. *Local* checks, statement by statement: sections present and not repeated, options known, given
   once and well-typed, ops in the vocabulary, numbers within the hard bounds, edges well-formed.  A
   statement with an error is left out, or, when what is left can still be checked, kept with
   stand-ins for its bad values (a cell without its bad edges, a stage with a stand-in depth) and
   marked *poisoned*.
2. *Cross* checks (:func:`bars_zoo.spec.check_spec`: cell references, node order, layout, spatial
   size, liveness warnings) on the best-effort spec that pass 1 leaves, with stand-ins for missing
   sections.  Findings that could be echoes of a pass-1 error (about a poisoned cell, a reference to
   a cell that failed, the layout when a stage failed, sizes when the input or stem failed) are
   dropped, so every reported error is real.

This module reads the sections and the layout; cells are read by :mod:`bars_zoo.dsl._cells`, option
values by :mod:`bars_zoo.dsl._values`, and pass 2 lives in :mod:`bars_zoo.dsl._cross`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from bars_zoo.dsl._cells import CellReader
from bars_zoo.dsl._cross import cross_check
from bars_zoo.dsl._slips import EXAMPLES
from bars_zoo.dsl._source import KEYWORDS, Chunk, Source, suggest
from bars_zoo.dsl._syntax import Stmt
from bars_zoo.dsl._values import BAD, Path
from bars_zoo.errors import Diagnostic
from bars_zoo.spec import (
    FORMAT_VERSION,
    STEM_OPS,
    DownsampleSpec,
    Limits,
    NetworkSpec,
    StageSpec,
    StemSpec,
)

_REQUIRED_SECTIONS = (
    ("name", "the file has no 'name' line", "add 'name \"my-net\"' below 'bars 1'"),
    (
        "input",
        "the file has no 'input' line",
        "add 'input 3x32x32 classes=10' (channels x height x width, number of classes)",
    ),
    ("stem", "the file has no 'stem' line", f"add '{EXAMPLES['stem']}'"),
    (
        "cell",
        "the file defines no cell",
        "add a cell, for example: cell normal1 stride=1 preprocess=bconv3x3 shortcut=identity "
        "op_shortcut=true { n1 <- in: bconv3x3 }",
    ),
    (
        "stage",
        "the file has no 'stage' line",
        f"add '{EXAMPLES['stage']}' (naming one of your cells)",
    ),
    ("head", "the file has no 'head' line", f"add '{EXAMPLES['head']}'"),
)


def _meant(keyword: str) -> str:
    """The keyword a statement's first word stands for: itself, or the one a typo was meant as."""
    return keyword if keyword in KEYWORDS else suggest(keyword.lower(), KEYWORDS) or keyword


_CELL_NAME = re.compile(r"\s*\S+\s+([^\s{]+)")  # the name of a cell line, even a broken one

_STAGE_STANDINS = {"channels": 1, "depth": 1}


def version_error(stmt: Stmt, src: Source) -> Diagnostic | None:
    """An unsupported ``bars N`` line ends the check: the rest may be a language we do not know."""
    word = stmt.args[0]
    if word.text.isdigit() and len(word.text) < 10 and int(word.text) == FORMAT_VERSION:
        return None
    what = (
        f"unsupported format version {word.text}"
        if word.text.isdigit()
        else f"the format version must be a whole number, got '{word.text}'"
    )
    line = src.lines[word.line - 1]
    return Diagnostic(
        "version",
        what,
        "error",
        src.filename,
        word.line,
        word.column,
        word.end_column,
        line,
        f"this bars-zoo reads 'bars {FORMAT_VERSION}' files",
    )


class Assembler(CellReader):
    """Pass 1 over the statements, then pass 2 on what survived (see the module docstring)."""

    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.singles: dict[str, Stmt] = {}
        self.parts: dict[str, Any] = {}
        self.layout: list[StageSpec | DownsampleSpec] = []
        self.meta: dict[str, str] = {}
        self.meta_lines: dict[str, int] = {}
        self.meta_full = False

    # ----------------------------------------------------------------- pass 1

    def run(self, parsed: list[tuple[Chunk, Stmt | None]]) -> None:
        """Pass 1.  ``parsed`` pairs each statement's lines with its parse (``None``: a syntax error)."""
        first_chunk, first = parsed[0]
        if first is not None and first.kind == "version":
            v = first.args[0]
            self.anchor = (first.line, first.keyword.column, v.end_column)
            self.singles["version"] = first
            parsed = parsed[1:]
        elif first_chunk.keyword != "bars":
            later = next((c.first + 1 for c, _ in parsed if c.keyword == "bars"), None)
            code = self.src.scanned[first_chunk.first].code
            col = len(code) - len(code.lstrip()) + 1
            self.error(
                "missing-section",
                "the file does not start with 'bars 1'"
                + (f" (it is on line {later})" if later else ""),
                (first_chunk.first + 1, col, col + max(1, len(first_chunk.keyword))),
                f"put 'bars {FORMAT_VERSION}' on the first line: it says which version of the "
                "language the file is written in",
            )
        # A misspelt keyword has been reported; do not also report its section as missing.
        present = {_meant(c.keyword) for c, _ in parsed} | {"bars"}
        for chunk, st in parsed:
            if st is None:
                self._failed(chunk)
                continue
            getattr(self, f"_{st.kind}")(st)
        for kind, msg, hint in _REQUIRED_SECTIONS:
            if kind not in present:
                self.error("missing-section", msg, self.anchor, hint)
                if kind == "stage":  # the layout is known to be incomplete: no echoes of it
                    self.doubts.layout_incomplete = True

    def _failed(self, chunk: Chunk) -> None:
        """A statement with a syntax error: remember what it was, to silence echoes of it.

        A misspelt keyword (``stgae``, ``cel``) counts as the keyword it was meant to be."""
        keyword = _meant(chunk.keyword)
        if keyword == "cell":
            m = _CELL_NAME.match(self.src.scanned[chunk.first].code)
            if m and "=" not in m.group(1):
                self.doubts.failed_cells.add(m.group(1))
            else:  # 'cell stride=2 ...': the name is missing, not misspelt
                self.doubts.nameless_cell = True
        elif keyword in ("stage", "downsample"):
            self.doubts.layout_incomplete = True
        elif keyword in ("input", "stem"):
            self.doubts.sizes_unknown = True

    def _single(self, st: Stmt) -> bool:
        prev = self.singles.get(st.kind)
        if prev is not None:
            word = "bars" if st.kind == "version" else st.kind
            self.error(
                "duplicate-section",
                f"'{word}' appears twice (first on line {prev.line})",
                st.keyword.pos,
                "keep one of them",
            )
            return False
        self.singles[st.kind] = st
        return True

    def _version(self, st: Stmt) -> None:
        self._single(st)

    def _name(self, st: Stmt) -> None:
        if not self._single(st):
            return
        word = st.args[0]
        value = self.string(word)
        if value is BAD:
            return
        if not value:
            self.error(
                "bad-name", "the network name is empty", word.pos, 'for example: name "my-net"'
            )
        elif len(value) > Limits.MAX_NAME_LEN:
            self.error(
                "too-large",
                f"the name has {len(value)} characters; the limit is {Limits.MAX_NAME_LEN}",
                word.pos,
            )
        elif not value.isprintable():
            self.error("bad-name", "the name contains an unprintable character", word.pos)
        else:
            self.parts["name"] = value
            self.pos[("name",)] = word.pos

    def _input(self, st: Stmt) -> None:
        if not self._single(st):
            return
        shape = st.args[0]
        got = self.options(st, ("classes",))
        classes = self.take(
            st, got, "classes", lambda w: self.integer(w, "classes", NetworkSpec, "num_classes")
        )
        values = self.shape(shape)
        if values is None:
            self.doubts.sizes_unknown = True
        else:
            self.parts["input"] = values
        if classes is not BAD:
            self.parts["num_classes"] = classes
            self.pos[("num_classes",)] = got["classes"].value.pos

    def _stem(self, st: Stmt) -> None:
        if not self._single(st):
            return
        op = st.args[0]
        got = self.options(st, ("channels", "stride", "pool"))
        d = {
            "op": self.choice(op, STEM_OPS, "stem op"),
            "channels": self.take(
                st, got, "channels", lambda w: self.integer(w, "channels", StemSpec)
            ),
            "stride": self.take(st, got, "stride", self.stride, default=1),
            "pool": self.take(
                st,
                got,
                "pool",
                lambda w: self.choice(w, ("none", "maxpool"), "stem pool", "bad-value"),
                "none",
            ),
        }
        self.pos[("stem", "op")] = op.pos
        self.note_positions(("stem",), got)
        if BAD in d.values():
            self.doubts.sizes_unknown = True
            return
        self.parts["stem"] = d

    def _head(self, st: Stmt) -> None:
        if not self._single(st):
            return
        words = [w.text for w in st.args]
        want = ["avgpool", "linear"]
        if words == want:
            self.parts["head"] = {"pool": "avgpool", "classifier": "linear"}
            return
        hint = "the head is 'head avgpool linear' (BN -> global average pool -> linear)"
        for i, w in enumerate(st.args):
            if i >= len(want):
                self.error("bad-head", f"unexpected '{w}' after 'head avgpool linear'", w.pos, hint)
                return
            if w.text != want[i]:
                close = suggest(w.text, [want[i]], 0.5)
                case = " (lower case)" if w.text.lower() == want[i] else ""
                self.error(
                    "bad-head",
                    f"unsupported head layer '{w}'",
                    w.pos,
                    f"did you mean '{close}'?{case} " + hint if close else hint,
                )
                return
        line = self.src.scanned[st.line - 1].code.rstrip()
        self.error(
            "bad-head", "the head is incomplete", (st.line, len(line) + 1, len(line) + 2), hint
        )

    def _meta(self, st: Stmt) -> None:
        for o in st.options:
            key = o.key.text
            if key in self.meta_lines:
                self.error(
                    "duplicate-option",
                    f"meta key '{key}' is given twice (first on line {self.meta_lines[key]})",
                    o.key.pos,
                    "keep one of them",
                )
                continue
            self.meta_lines[key] = o.key.line
            if len(self.meta) >= Limits.MAX_META:
                if not self.meta_full:  # said once, at the first entry over the limit
                    self.error(
                        "too-large",
                        f"more than {Limits.MAX_META} meta entries",
                        o.key.pos,
                        "drop some",
                    )
                self.meta_full = True
                return
            if len(key) > Limits.MAX_NAME_LEN:
                self.error(
                    "too-large",
                    f"the meta key has {len(key)} characters; the limit is {Limits.MAX_NAME_LEN}",
                    o.key.pos,
                )
                continue
            value = self.string(o.value) if o.value.kind == "STRING" else o.value.text
            if value is BAD:
                continue
            if len(value) > Limits.MAX_META_LEN:
                self.error(
                    "too-large",
                    f"the value of meta '{key}' has {len(value)} characters; the limit is "
                    f"{Limits.MAX_META_LEN}",
                    o.value.pos,
                )
            elif not value.isprintable():
                self.error(
                    "bad-value", f"meta '{key}' contains an unprintable character", o.value.pos
                )
            else:
                self.meta[key] = value
                self.pos[("meta", key)] = o.value.pos

    def _stage(self, st: Stmt) -> None:
        li = len(self.layout)
        if li >= Limits.MAX_LAYOUT:
            return self._layout_full(st)
        name = st.args[0]
        path: Path = ("layout", li, "stage")
        self.forget(("layout", li))
        self.pos[("layout", li)] = self.pos[(*path, "name")] = name.pos
        ok = self.name_word(name, "stage")
        got = self.options(st, ("channels", "depth", "cell"))
        d = {
            "kind": "stage",
            "name": name.text,
            "channels": self.take(
                st, got, "channels", lambda w: self.integer(w, "channels", StageSpec)
            ),
            "depth": self.take(st, got, "depth", lambda w: self.integer(w, "depth", StageSpec)),
            "cell": self.take(st, got, "cell", self.cell_ref),
        }
        self.note_positions(path, got)
        for key, standin in _STAGE_STANDINS.items():
            if d[key] is BAD:  # keep checking the cell reference; the layout itself is unsure
                d[key] = standin
                self.doubts.layout_incomplete = True
        self._add_layout(StageSpec, d, path, ok)

    def _downsample(self, st: Stmt) -> None:
        li = len(self.layout)
        if li >= Limits.MAX_LAYOUT:
            return self._layout_full(st)
        path: Path = ("layout", li, "downsample")
        self.forget(("layout", li))
        self.pos[("layout", li)] = st.keyword.pos
        got = self.options(st, ("cell",))
        d = {"kind": "downsample", "cell": self.take(st, got, "cell", self.cell_ref)}
        self.note_positions(path, got)
        self._add_layout(DownsampleSpec, d, path, True)

    def _add_layout(self, model: type[BaseModel], d: dict[str, Any], path: Path, ok: bool) -> None:
        item = self.validated(model, d, path) if ok and BAD not in d.values() else None
        if item is None:
            self.doubts.layout_incomplete = True
            self.forget(path[:2])
            return
        assert isinstance(item, StageSpec | DownsampleSpec)
        self.layout.append(item)

    def _layout_full(self, st: Stmt) -> None:
        if not self.doubts.layout_incomplete:
            self.error(
                "too-large",
                f"more than {Limits.MAX_LAYOUT} stage and downsample lines",
                st.keyword.pos,
                "see the hard bounds in docs/genotype-language.md",
            )
        self.doubts.layout_incomplete = True

    # ----------------------------------------------------------------- pass 2

    def cross_check(self) -> tuple[NetworkSpec | None, list[Diagnostic], list[Diagnostic]]:
        """Pass 2 (see :mod:`bars_zoo.dsl._cross`): the spec, errors and warnings."""
        parts = {**self.parts, "cells": self.cells, "layout": self.layout, "meta": self.meta}
        return cross_check(self, parts, self.doubts)
