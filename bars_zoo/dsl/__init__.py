"""The genotype language: text -> :class:`~bars_zoo.spec.NetworkSpec`, and back.

``parse`` reads (raising :class:`~bars_zoo.errors.GenotypeError` with *every* error), ``check``
returns every located diagnostic (errors and warnings) without raising, ``format`` prints canonically
(``format(parse(t))`` is a fixed point) and ``format_text`` reformats a file keeping its comments.
The grammar lives in ``grammars/genotype.lark``; the language is documented in
``docs/genotype-language.md``.

The pipeline: ``_source`` (bounded decoding, comments, cutting the file into statements) ->
``_stray`` (markdown fences and lines above ``bars 1``: one error each, then left out) ->
``_syntax`` (LALR parse of each statement; ``_explain`` and ``_slips`` say why one does not) ->
``_assemble`` with ``_cells`` and ``_values`` (pass 1: statements -> spec, local checks) ->
``_cross`` (pass 2: ``check_spec`` minus echoes of pass-1 errors) -> ``_printer`` (spec + comments
-> canonical text).  ``_codes`` lists every diagnostic code.
No user input, however hostile, gets past :func:`check` as anything but a diagnostic.

This package never imports torch: checking a genotype is instant.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from bars_zoo._read import read_regular
from bars_zoo.dsl._assemble import Assembler, version_error
from bars_zoo.dsl._codes import ERROR_CODES, WARNING_CODES
from bars_zoo.dsl._printer import Anchor, Comments, collect, format
from bars_zoo.dsl._source import (
    KEYWORDS,
    SourceError,
    decode,
    scan,
    stray_boms,
    suggest,
    whole_file,
)
from bars_zoo.dsl._stray import strays
from bars_zoo.dsl._syntax import Stmt, parse_chunk
from bars_zoo.errors import ConfigError, Diagnostic, GenotypeError
from bars_zoo.spec import FORMAT_VERSION, Limits, NetworkSpec

logger = logging.getLogger(__name__)


@dataclass
class Document:
    """A checked file: the spec (``None`` when there were errors), its diagnostics and comments."""

    spec: NetworkSpec | None
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    comments: Comments = field(default_factory=Comments)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors

    @property
    def header(self) -> list[str]:
        """The comment block at the top of the file."""
        return list(self.comments.header)


def check(text: str | bytes, filename: str | None = None) -> Document:
    """Parse and validate, returning every diagnostic instead of raising."""
    if not isinstance(text, str | bytes):
        hint = (
            " (a path? read a file with bars_zoo.read(path))"
            if isinstance(text, os.PathLike)
            else ""
        )
        raise TypeError(f"genotype text must be str or bytes, not {type(text).__name__}{hint}")
    fname = filename or "<string>"
    try:
        return _check(text, fname)
    except Exception as exc:  # last line of defence: a bug here must not become a traceback
        logger.debug("internal error while checking %s", fname, exc_info=True)
        msg = (
            f"bars-zoo failed on this file ({type(exc).__name__}); please report it, with the file"
        )
        return Document(None, [whole_file(fname, "internal", msg)], [])


def _check(data: str | bytes, fname: str) -> Document:
    try:
        text = decode(data, fname)
    except SourceError as exc:
        return Document(None, [exc.diag], [])
    text, boms = stray_boms(text, fname)
    doc = _check_text(text, fname)
    if not boms:
        return doc
    return Document(None, _capped(_sorted(boms + doc.errors)), doc.warnings)


def _check_text(text: str, fname: str) -> Document:
    src = scan(text, fname)
    if not src.chunks:
        hint = f"a genotype starts with the line 'bars {FORMAT_VERSION}'; see docs/genotype-language.md"
        return Document(None, [whole_file(fname, "empty", "the file holds no genotype", hint)], [])
    if src.overflow is not None:
        c = src.chunks[-1]
        msg = (
            f"the file has more than {Limits.MAX_STATEMENTS} statements"
            if src.overflow == "statements"
            else f"the file has more than {Limits.MAX_WORDS} words"
        )
        diag = whole_file(
            fname, "too-large", msg, _TOO_MANY, line=c.first + 1, source_line=src.lines[c.first]
        )
        return Document(None, [diag], [])
    stray, chunks = strays(src)
    if not chunks:
        return Document(None, stray, [])
    head = chunks[0]
    first = parse_chunk(src, head)
    if isinstance(first, Stmt) and first.kind == "version":
        bad = version_error(first, src)
        if bad is not None:  # a version we do not know: its syntax may be new to us, stop here
            return Document(None, [*stray, bad], [])
    elif head.keyword not in KEYWORDS:  # not a genotype at all (or a typo in 'bars'): one error
        if isinstance(first, Diagnostic) and suggest(head.keyword, ["bars"]) is None:
            line = src.lines[head.first]
            first = whole_file(
                fname,
                "missing-section",
                f"the file does not start with 'bars {FORMAT_VERSION}': is it a genotype file?",
                "a genotype file starts with the line 'bars 1'; see docs/genotype-language.md",
                line=head.first + 1,
                column=len(line) - len(line.lstrip()) + 1,
                source_line=line[:400],
            )
        assert isinstance(first, Diagnostic)
        return Document(None, [*stray, first], [])
    parsed = [(head, first)] + [(c, parse_chunk(src, c)) for c in chunks[1:]]
    stmts = [(c, s if isinstance(s, Stmt) else None) for c, s in parsed]
    syntax = _without_orphans(src, parsed)
    asm = Assembler(src)
    asm.run(stmts)
    spec, cross, warnings = asm.cross_check()
    errors = _sorted(stray + syntax + asm.errors + cross)
    if not chunks[-1].closed:  # the file ends inside a cell: missing sections are no news
        errors = [e for e in errors if e.code != "missing-section"]
    if errors:
        return Document(None, _capped(errors), _sorted(warnings))
    comments = collect(src, [s for _, s in stmts if s is not None])
    return Document(spec, [], _sorted(warnings), comments)


_TOO_MANY = "a genotype is a few dozen statements; is this the right file?"


def _without_orphans(src: Any, parsed: list[tuple[Any, Stmt | Diagnostic]]) -> list[Diagnostic]:
    """The syntax errors, less the echoes of a cell line that lost its ``{``: its node lines
    ("outside a cell") and its ``}`` ("unmatched") say nothing the cell line's error did not."""
    out: list[Diagnostic] = []
    orphaned = False  # inside the body of a cell whose '{' is missing
    for chunk, st in parsed:
        if not isinstance(st, Diagnostic):
            orphaned = False
            continue
        code = src.scanned[chunk.first].code
        if chunk.keyword == "cell":
            orphaned = "{" not in code
        elif orphaned and ("<-" in code or code.strip() == "}"):
            orphaned = code.strip() != "}"
            continue
        else:
            orphaned = False
        out.append(st)
    return out


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (d.line, d.column))


def _capped(errors: list[Diagnostic]) -> list[Diagnostic]:
    if len(errors) <= Limits.MAX_ERRORS:
        return errors
    shown = errors[: Limits.MAX_ERRORS]
    last = shown[-1]
    more = Diagnostic(
        "too-many-errors",
        f"{len(errors) - len(shown)} more errors not shown",
        "error",
        last.filename,
        last.line,
        last.column,
        hint="fix the errors above first",
    )
    return [*shown, more]


def parse(text: str | bytes, filename: str | None = None) -> NetworkSpec:
    """Parse and validate genotype text; raise :class:`GenotypeError` with every error found.

    Warnings never fail a parse; they are on ``check(text).warnings``.
    """
    doc = check(text, filename)
    if doc.spec is None or doc.errors:
        err = GenotypeError(doc.errors)
        err.warnings = tuple(doc.warnings)
        raise err
    return doc.spec


def read_source(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a genotype file (at most ``MAX_FILE_BYTES + 1``, so that size is checked)."""
    try:
        return read_regular(path, Limits.MAX_FILE_BYTES + 1)  # a FIFO, a device: refused
    except ConfigError as exc:
        raise GenotypeError([whole_file(str(path), "unreadable", exc.message, exc.hint)]) from None
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL byte
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        diag = whole_file(str(path), "unreadable", f"cannot read {path}: {reason}")
        raise GenotypeError([diag]) from None


def read(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read and parse a ``.geno`` file."""
    return parse(read_source(path), filename=str(path))


def format_text(text: str | bytes, filename: str | None = None) -> str:
    """Reformat genotype text canonically, keeping its comments (see ``_printer``)."""
    doc = check(text, filename)
    if doc.spec is None:
        raise GenotypeError(doc.errors)
    return format(doc.spec, comments=doc.comments)


def schema() -> dict[str, Any]:
    """The JSON Schema of :class:`NetworkSpec` (for editors and tools)."""
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    out.update(NetworkSpec.model_json_schema())
    return out


__all__ = [
    "ERROR_CODES",
    "WARNING_CODES",
    "Anchor",
    "Comments",
    "Document",
    "check",
    "format",
    "format_text",
    "parse",
    "read",
    "read_source",
    "schema",
]
