"""Reading option values and reporting located diagnostics: the toolbox of the assembler.

Every ``key=value`` goes through here: unknown, repeated and missing keys; whole numbers with their
hard bounds (a 10**100 is refused before Python converts it); ``stride``, ``true``/``false``, ops from
a closed vocabulary with "did you mean"; ``"strings"`` with JSON escapes.  A wrong value is reported
once, located at the value, and comes back as ``BAD``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from bars_zoo.dsl._slips import EXAMPLES, Pos, lookalike_hint, shape_fix
from bars_zoo.dsl._source import Source, suggest
from bars_zoo.dsl._syntax import Stmt, Word
from bars_zoo.errors import Diagnostic
from bars_zoo.spec import InputSpec, Limits

Path = tuple[str | int, ...]

BAD: Any = object()  # a value that was wrong (and has been reported)
MISSING: Any = object()  # "this option is required"

_INT = re.compile(r"[+-]?[0-9]+")
_SHAPE = re.compile(r"[+-]?[0-9]+(?:x[+-]?[0-9]+){2}")
_FIELD_CODES = {"channels": "bad-channels", "depth": "bad-depth", "stride": "bad-stride"}
_BOUNDS_HINT = "see the hard bounds in docs/genotype-language.md"
#: What other languages write for true and false (any case) -> the word to write here.
_BOOLEANS = {"true": "true", "yes": "true", "on": "true", "1": "true"}
_BOOLEANS |= {"false": "false", "no": "false", "off": "false", "0": "false"}
#: An op written where it does not exist -> the op of that place that does the same (and why).
_ALIASES = {"identity": "shortcut", "shortcut": "identity"}
_ALIAS_NOTES = {
    "shortcut": "an identity edge is written 'shortcut'",
    "identity": "a parameter-free cell op is written 'identity'",
}


def unquote(text: str) -> str | None:
    """The value of a ``"string"`` token (JSON escapes), or ``None`` if an escape is invalid."""
    if "\\" not in text:
        return text[1:-1]
    try:
        out = json.loads(text, strict=False)
    except ValueError:
        return None
    return out if isinstance(out, str) else None


class Reader:
    """Located diagnostics, the position map, and typed option values."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.pos: dict[Path, Pos] = {}  # spec field path -> where it is written
        self.errors: list[Diagnostic] = []
        self.anchor: Pos = (1, 1, 2)  # where file-level errors point: the 'bars 1' line
        self.typos: set[str] = set()  # required options already reported as misspelt

    # ----------------------------------------------------------------- diagnostics

    def diag(
        self, code: str, msg: str, at: Pos, hint: str | None = None, severity: str = "error"
    ) -> Diagnostic:
        line, col, end = at
        text = self.src.lines[line - 1] if 0 < line <= len(self.src.lines) else None
        return Diagnostic(code, msg, severity, self.src.filename, line, col, end, text, hint)  # type: ignore[arg-type]

    def error(self, code: str, msg: str, at: Pos, hint: str | None = None) -> None:
        self.errors.append(self.diag(code, msg, at, hint))

    def forget(self, prefix: Path) -> None:
        n = len(prefix)
        for key in [k for k in self.pos if k[:n] == prefix]:
            del self.pos[key]

    def note_positions(self, path: Path, got: dict[str, Any]) -> None:
        """Remember where each given option of the spec part at ``path`` is written."""
        for key, o in got.items():
            self.pos[(*path, _field(key))] = o.value.pos

    # ----------------------------------------------------------------- values

    def options(self, st: Stmt, allowed: tuple[str, ...]) -> dict[str, Any]:
        """``key=value`` options of ``st`` by key; unknown and repeated keys are errors."""
        got: dict[str, Any] = {}
        self.typos = set()
        for o in st.options:
            key = o.key.text
            if key not in allowed:
                # 'Channels', 'DEPTH': the language is lower case
                close = key.lower() if key.lower() in allowed else suggest(key, allowed)
                if close:
                    self.typos.add(close)
                hint = (
                    f"did you mean '{close}'?" + (" (lower case)" if close == key.lower() else "")
                    if close
                    else f"'{st.kind}' takes: " + ", ".join(allowed)
                )
                self.error(
                    "unknown-option", f"unknown option '{key}' for '{st.kind}'", o.key.pos, hint
                )
            elif key in got:
                self.error(
                    "duplicate-option",
                    f"option '{key}' is given twice",
                    o.key.pos,
                    "keep one of them",
                )
            else:
                got[key] = o
        return got

    def take(
        self, st: Stmt, got: dict[str, Any], key: str, conv: Any, default: Any = MISSING
    ) -> Any:
        o = got.get(key)
        if o is not None:
            return conv(o.value)
        # already reported as "unknown option ..., did you mean '<key>'?": the value the user
        # meant is unknown, so not even a default may stand in for it (its findings would be echoes)
        if key in self.typos:
            return BAD
        if default is not MISSING:
            return default
        end = st.args[0].end_column if st.args else st.keyword.end_column
        self.error(
            "missing-option",
            f"'{st.kind}' needs {key}=...",
            (st.line, st.keyword.column, end),
            f"for example: {EXAMPLES[st.kind]}",
        )
        return BAD

    def integer(self, w: Word, what: str, model: type[BaseModel], field: str | None = None) -> Any:
        field = field or what
        lo, hi = _bounds(model, field)
        text = w.text.lstrip("+")
        digits = text.removeprefix("-")
        if w.kind != "NUMBER" or not _INT.fullmatch(w.text):
            hint = _suffix_hint(w.text, hi)
            self.error("bad-value", f"'{what}' takes a whole number, got '{w}'", w.pos, hint)
            return BAD
        if len(digits) > 18:
            limit = f"; the limit is {hi}" if hi is not None else ""
            self.error(
                "too-large" if not text.startswith("-") else _FIELD_CODES.get(field, "bad-value"),
                f"'{what}' is a {len(digits)}-digit number{limit}",
                w.pos,
                "see the hard bounds in docs/genotype-language.md",
            )
            return BAD
        value = int(text)
        if lo is not None and value < lo:
            self.error(
                _FIELD_CODES.get(field, "bad-value"),
                f"'{what}' must be at least {lo}, got {value}",
                w.pos,
            )
            return BAD
        if hi is not None and value > hi:
            self.error(
                "too-large",
                f"'{what}' is {value}; the limit is {hi}",
                w.pos,
                "see the hard bounds in docs/genotype-language.md",
            )
            return BAD
        return value

    def shape(self, shape: Word) -> dict[str, int] | None:
        """The ``CxHxW`` of an ``input`` line (the grammar reads any word that starts with a
        digit as a shape, so that it is refused here, whole, with the shape to write)."""
        if "X" in shape.text:
            self.error(
                "bad-value",
                f"the input shape is written with a lower-case x, like 3x32x32; got '{shape.text}'",
                shape.pos,
                f"write '{shape.text.replace('X', 'x')}'",
            )
            return None
        if not _SHAPE.fullmatch(shape.text):
            fixed = shape_fix(shape.text)
            hints = [f"write '{fixed}'"] if fixed else []
            height, _, width = shape.text.partition("x")
            if height == width and height.isdigit():  # 28x28, a square image: no channels
                hints = [
                    f"put the channels first: 1x{shape.text} (grey) or 3x{shape.text} (colour)"
                ]
            hints += [h for h in (lookalike_hint(shape.text),) if h]
            self.error(
                "bad-value",
                f"the input shape is channels x height x width, like 3x32x32; got '{shape.text}'",
                shape.pos,
                "; ".join(hints) or None,
            )
            return None
        values: dict[str, int] = {}
        col = shape.column
        for field, text in zip(("channels", "height", "width"), shape.text.split("x"), strict=True):
            sub = Word(text, "NUMBER", shape.line, col, col + len(text))
            col += len(text) + 1
            v = self.integer(sub, f"input {field}", InputSpec, field)
            if v is not BAD:
                values[field] = v
                self.pos[("input", field)] = sub.pos
        return values if len(values) == 3 else None

    def stride(self, w: Word) -> Any:
        if w.kind == "NUMBER" and w.text in ("1", "2"):
            return int(w.text)
        self.error("bad-stride", f"'stride' must be 1 or 2, got '{w}'", w.pos)
        return BAD

    def boolean(self, w: Word) -> Any:
        if w.kind == "NAME" and w.text in ("true", "false"):
            return w.text == "true"
        meant = _BOOLEANS.get(w.text.strip('"').lower())
        hint = f"write '{meant}'" if meant else "write 'true' or 'false'"
        self.error("bad-value", f"'op_shortcut' takes true or false, got '{w}'", w.pos, hint)
        return BAD

    def choice(self, w: Word, choices: tuple[str, ...], what: str, code: str = "unknown-op") -> Any:
        if w.kind == "NAME" and w.text in choices:
            return w.text
        lower = w.text.lower()
        alias = _ALIASES.get(lower)
        if lower in choices:  # 'BFR', 'BConv3x3': the language is lower case
            hint = f"did you mean '{lower}'? (lower case)"
        elif alias in choices:  # 'identity' as an edge op, 'shortcut' as a cell op
            hint = f"did you mean '{alias}'? {_ALIAS_NOTES[alias]}"
        elif close := suggest(lower, choices, 0.5):
            hint = f"did you mean '{close}'?"
        else:
            hint = "choose one of: " + ", ".join(choices)
        if w.kind == "STRING" and w.text[1:-1] in choices:
            hint = f"write {w.text[1:-1]} without quotes: ops are names, not strings"
        self.error(code, f"unknown {what} '{w}'", w.pos, hint)
        return BAD

    def cell_ref(self, w: Word) -> Any:
        if w.kind != "NAME":
            self.error("bad-value", f"'cell' takes the name of a cell, got '{w}'", w.pos)
            return BAD
        return w.text if self.name_word(w, "cell") else BAD

    def string(self, w: Word) -> Any:
        value = unquote(w.text)
        if value is None:
            self.error(
                "bad-value",
                "invalid escape in string",
                w.pos,
                'strings use JSON escapes: \\" \\\\ \\uXXXX (printable characters only: no \\n or \\t)',
            )
            return BAD
        return value

    def name_word(self, w: Word, what: str) -> bool:
        if len(w.text) > Limits.MAX_NAME_LEN:
            self.error(
                "too-large",
                f"the {what} name has {len(w.text)} characters; the limit is {Limits.MAX_NAME_LEN}",
                w.pos,
            )
            return False
        return True

    def validated(self, model: type[BaseModel], d: dict[str, Any], path: Path) -> Any:
        """``model(**d)``; the checks above make failures rare, but any is reported, located."""
        try:
            return model.model_validate(d)
        except ValidationError as ve:
            for err in ve.errors():
                loc = path + tuple(err["loc"])
                self.error(
                    "bad-value", f"{'.'.join(map(str, err['loc']))}: {err['msg']}", self.locate(loc)
                )
            self.forget(path)
            return None

    def locate(self, path: Path) -> Pos:
        """Position of the longest known prefix of ``path``."""
        p = tuple(path)
        while p:
            if p in self.pos:
                return self.pos[p]
            p = p[:-1]
        return self.anchor


_SUFFIXED = re.compile(r"([0-9]+(?:\.[0-9]+)?)([kKmMgG])")
_DECIMAL = re.compile(r"[0-9]+\.[0-9]*|\.[0-9]+")
_SCALE = {"k": 10**3, "m": 10**6, "g": 10**9}


def _suffix_hint(text: str, hi: int | None) -> str | None:
    """For ``96k``: the plain number to write (numbers here take no unit suffix); for ``96.5``,
    a whole number to write instead."""
    m = _SUFFIXED.fullmatch(text)
    if m is None:
        if not _DECIMAL.fullmatch(text):
            return None
        plain = min(int(float(text)), hi) if hi is not None else int(float(text))
        return f"write a whole number such as {plain}"
    full = float(m.group(1)) * _SCALE[m.group(2).lower()]
    if full.is_integer() and (hi is None or full <= hi):
        return f"numbers here take no unit suffix: write {int(full)}"
    plain = int(float(m.group(1)))
    limit = f" (at most {hi})" if hi is not None else ""
    return f"numbers here take no unit suffix: write a whole number such as {plain}{limit}"


def _field(key: str) -> str:
    return "num_classes" if key == "classes" else key


def _bounds(model: type[BaseModel], field: str) -> tuple[int | None, int | None]:
    lo = hi = None
    for m in model.model_fields[field].metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi
