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
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from bars_zoo.dsl._source import KEYWORDS, Chunk, Source, suggest
from bars_zoo.dsl._syntax import EXAMPLES, Stmt, Word
from bars_zoo.dsl._values import BAD, Path, Reader
from bars_zoo.errors import Diagnostic
from bars_zoo.spec import (
    CELL_OPS,
    EDGE_OPS,
    FORMAT_VERSION,
    STEM_OPS,
    CellSpec,
    DownsampleSpec,
    InputSpec,
    Limits,
    NetworkSpec,
    Problem,
    StageSpec,
    StemSpec,
    check_spec,
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

#: Problem codes about the layout as a whole: meaningless when a layout line failed.
_LAYOUT_CODES = frozenset(
    {
        "layout",
        "spatial-size",
        "bad-channels",
        "unusual-layout",
        "unused-cell",
        "too-large",
        "missing-section",
    }
)

_CELL_NAME = re.compile(r"\s*cell\s+([A-Za-z_][A-Za-z0-9_.\-]*)")

#: Cell findings that do not depend on the cell's options (kept when an option had an error).
_STRUCTURAL = frozenset({"node-order", "bad-edge", "duplicate-edge", "duplicate-name"})
_CELL_STANDINS = {
    "stride": 1,
    "preprocess": "bconv3x3",
    "shortcut": "identity",
    "op_shortcut": True,
}
_STAGE_STANDINS = {"channels": 1, "depth": 1}

_STANDINS: dict[str, Any] = {
    "name": "unnamed",
    "input": {"channels": 3, "height": 32, "width": 32},
    "num_classes": 10,
    "stem": {"op": "conv3x3", "channels": 64, "stride": 1, "pool": "none"},
    "head": {"pool": "avgpool", "classifier": "linear"},
}


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


class Assembler(Reader):
    """Pass 1 over the statements, then pass 2 on what survived (see the module docstring)."""

    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.poisoned: dict[Path, str] = {}  # cell -> "edges" | "options" (what was wrong)
        self.failed_cells: set[str] = set()
        self.layout_incomplete = False
        self.sizes_unknown = False
        self.singles: dict[str, Stmt] = {}
        self.parts: dict[str, Any] = {}
        self.cells: list[CellSpec] = []
        self.layout: list[StageSpec | DownsampleSpec] = []
        self.meta: dict[str, str] = {}
        self.meta_lines: dict[str, int] = {}
        self.cells_full = False

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
        present = {c.keyword for c, _ in parsed} | {"bars"}
        present |= {suggest(k.lower(), KEYWORDS) or k for k in present if k not in KEYWORDS}
        for chunk, st in parsed:
            if st is None:
                self._failed(chunk)
                continue
            getattr(self, f"_{st.kind}")(st)
        for kind, msg, hint in _REQUIRED_SECTIONS:
            if kind not in present:
                self.error("missing-section", msg, self.anchor, hint)

    def _failed(self, chunk: Chunk) -> None:
        """A statement with a syntax error: remember what it was, to silence echoes of it."""
        if chunk.keyword == "cell":
            m = _CELL_NAME.match(self.src.scanned[chunk.first].code)
            if m:
                self.failed_cells.add(m.group(1))
        elif chunk.keyword in ("stage", "downsample"):
            self.layout_incomplete = True
        elif chunk.keyword in ("input", "stem"):
            self.sizes_unknown = True

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
        parts = shape.text.split("x")
        if len(parts) != 3:
            self.error(
                "bad-value",
                f"the input shape is channels x height x width, like 3x32x32; got '{shape.text}'",
                shape.pos,
            )
            self.sizes_unknown = True
            return
        values: dict[str, int] = {}
        col = shape.column
        for field, text in zip(("channels", "height", "width"), parts, strict=True):
            sub = Word(text, "NUMBER", shape.line, col, col + len(text))
            col += len(text) + 1
            v = self.integer(sub, f"input {field}", InputSpec, field)
            if v is not BAD:
                values[field] = v
                self.pos[("input", field)] = sub.pos
        if len(values) == 3:
            self.parts["input"] = values
        else:
            self.sizes_unknown = True
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
        self._note(("stem",), got)
        if BAD in d.values():
            self.sizes_unknown = True
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
                self.error(
                    "bad-head",
                    f"unsupported head layer '{w}'",
                    w.pos,
                    f"did you mean '{close}'? " + hint if close else hint,
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
                self.error(
                    "too-large", f"more than {Limits.MAX_META} meta entries", o.key.pos, "drop some"
                )
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

    def _cell(self, st: Stmt) -> None:
        name = st.args[0]
        if len(self.cells) >= Limits.MAX_CELLS:
            if not self.cells_full:
                self.error(
                    "too-large",
                    f"more than {Limits.MAX_CELLS} cells",
                    name.pos,
                    "a network needs one cell per distinct topology",
                )
            self.cells_full = True
            self.failed_cells.add(name.text)
            return
        path: Path = ("cells", len(self.cells))
        self.forget(path)
        self.pos[path] = self.pos[(*path, "name")] = name.pos
        ok = self.name_word(name, "cell")
        got = self.options(st, ("stride", "preprocess", "shortcut", "op_shortcut"))
        d: dict[str, Any] = {
            "name": name.text,
            "stride": self.take(st, got, "stride", self.stride, default=1),
            "preprocess": self.take(
                st, got, "preprocess", lambda w: self.choice(w, CELL_OPS, "preprocess op")
            ),
            "shortcut": self.take(
                st, got, "shortcut", lambda w: self.choice(w, CELL_OPS, "shortcut op")
            ),
            "op_shortcut": self.take(st, got, "op_shortcut", self.boolean, default=True),
        }
        self._note(path, got)
        nodes = list(st.nodes)
        # A bad option gets a stand-in, so that the nodes are still checked; findings that
        # depend on the options are then dropped ("options" poison), references left alone.
        level = None
        for key, standin in _CELL_STANDINS.items():
            if d[key] is BAD:
                d[key] = standin
                level = "options"
                if key == "stride":
                    self.failed_cells.add(name.text)
        if len(nodes) > Limits.MAX_NODES:
            self.error(
                "too-large",
                f"cell '{name}' has {len(nodes)} nodes; the limit is {Limits.MAX_NODES}",
                nodes[Limits.MAX_NODES].name.pos,
            )
            level = level or "edges"
            nodes = nodes[: Limits.MAX_NODES]
        if not nodes:
            self.error(
                "empty-cell", f"cell '{name}' has no nodes", name.pos, "add 'n1 <- in: bconv3x3'"
            )
            ok = False
        d["nodes"] = []
        for ni, node in enumerate(nodes):
            nd, clean = self.node(node, (*path, "nodes", ni))
            d["nodes"].append(nd)
            if not clean:
                level = level or "edges"
        spec = self.validated(CellSpec, d, path) if ok else None
        if spec is None:
            self.failed_cells.add(name.text)
            self.forget(path)
            return
        if level is not None:
            self.poisoned[path] = level
        self.cells.append(spec)

    def node(self, node: Any, path: Path) -> tuple[dict[str, Any], bool]:
        """A node's dict (bad and ``none`` edges left out) and whether it was error-free."""
        self.pos[path] = self.pos[(*path, "name")] = node.name.pos
        edges: list[dict[str, str]] = []
        seen: dict[str, Word] = {}
        clean = True
        for src, op in node.edges:
            if op is None:
                if src.text == "none" and len(node.edges) == 1:
                    continue
                self.error(
                    "syntax",
                    f"edge '{src}' needs an op",
                    src.pos,
                    f"write 'SOURCE: OP' (for example 'in: bconv3x3'), or '{node.name} <- none' "
                    "for a node without inputs",
                )
                clean = False
                continue
            if src.text in seen:
                self.error(
                    "duplicate-edge",
                    f"node '{node.name}' lists an edge from '{src}' twice",
                    src.pos,
                    "keep one edge per source; a node sums its inputs",
                )
                clean = False
                continue
            seen[src.text] = src
            if self.choice(op, EDGE_OPS, "edge op") is BAD:
                clean = False
                continue
            if op.text == "none":
                continue  # an explicit 'none' edge is the same as no edge
            ei = len(edges)
            self.pos[(*path, "edges", ei)] = self.pos[(*path, "edges", ei, "source")] = src.pos
            self.pos[(*path, "edges", ei, "op")] = op.pos
            edges.append({"source": src.text, "op": op.text})
        return {"name": node.name.text, "edges": edges}, clean

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
        self._note(path, got)
        for key, standin in _STAGE_STANDINS.items():
            if d[key] is BAD:  # keep checking the cell reference; the layout itself is unsure
                d[key] = standin
                self.layout_incomplete = True
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
        self._note(path, got)
        self._add_layout(DownsampleSpec, d, path, True)

    def _add_layout(self, model: type[BaseModel], d: dict[str, Any], path: Path, ok: bool) -> None:
        item = self.validated(model, d, path) if ok and BAD not in d.values() else None
        if item is None:
            self.layout_incomplete = True
            self.forget(path[:2])
            return
        assert isinstance(item, StageSpec | DownsampleSpec)
        self.layout.append(item)

    def _layout_full(self, st: Stmt) -> None:
        if not self.layout_incomplete:
            self.error(
                "too-large",
                f"more than {Limits.MAX_LAYOUT} stage and downsample lines",
                st.keyword.pos,
                "see the hard bounds in docs/genotype-language.md",
            )
        self.layout_incomplete = True

    # ----------------------------------------------------------------- pass 2

    def spec_dict(self) -> dict[str, Any]:
        """The best-effort spec, with stand-ins for missing sections."""
        if "input" not in self.parts or "stem" not in self.parts:
            self.sizes_unknown = True
        d = {k: self.parts.get(k, v) for k, v in _STANDINS.items()}
        d.update(version=FORMAT_VERSION, cells=self.cells, layout=self.layout, meta=self.meta)
        return d

    def cross_check(self) -> tuple[NetworkSpec | None, list[Diagnostic], list[Diagnostic]]:
        """Pass 2: the spec (``None`` if anything failed), errors and warnings."""
        if not self.cells or not self.layout:
            return None, [], []
        try:
            spec = NetworkSpec.model_validate(self.spec_dict())
        except ValidationError as ve:  # pragma: no cover - pass 1 enforces every field rule
            errs = [
                self.diag("bad-value", e["msg"], self.locate(tuple(e["loc"]))) for e in ve.errors()
            ]
            return None, errs, []
        errors: list[Diagnostic] = []
        warnings: list[Diagnostic] = []
        for p in check_spec(spec):
            if self._echo(p, spec):
                continue
            d = self.diag(p.code, p.message, self.locate(p.path), p.hint, p.severity)
            (errors if p.severity == "error" else warnings).append(d)
        return spec, errors, warnings

    def _echo(self, p: Problem, spec: NetworkSpec) -> bool:
        """Whether ``p`` may only be a consequence of a pass-1 error."""
        for q, level in self.poisoned.items():
            if p.path[: len(q)] == q and (
                p.severity == "warning" or (level == "options" and p.code not in _STRUCTURAL)
            ):
                return True
        if self.layout_incomplete and p.code in _LAYOUT_CODES:
            return True
        if self.sizes_unknown and p.code == "spatial-size":
            return True
        if p.code in ("unknown-cell", "bad-stride") and p.path[:1] == ("layout",):
            item = spec.layout[int(p.path[1])]
            return item.cell in self.failed_cells
        return False
