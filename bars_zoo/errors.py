"""Typed, actionable errors: every failure a user can cause is one of these.

The CLI turns a :class:`BarsError` into its message and an exit code, never into a traceback.
Every error says what went wrong *and* what to change (``hint``).  Genotype errors carry located
:class:`Diagnostic` records rendered like a compiler's::

    bars-b.geno:7:19: error[unknown-op]: unknown edge op 'bconv33'
       7 |   n2 <- n1: bconv33
         |             ^^^^^^^
      = help: did you mean 'bconv3x3'?

A message or hint names an option by its Python keyword through :func:`option`, never as ``--flag``
text: the CLI (:meth:`BarsError.render` with ``cli=True``) shows ``--resume`` / ``--out runs/x``,
while ``str(exc)``, ``exc.message`` and ``exc.hint`` show a Python caller ``resume=True`` /
``out_dir="runs/x"``, the keywords they pass.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

# Python keyword -> its command-line flag, where that is not the keyword with `-` for `_`
_FLAGS = {"out_dir": "--out", "time_limit_s": "--time-limit", "search_time_s": "--search-time"}
_OPT = re.compile(r"\{opt:([a-z_]+)(?:=([^{}]*))?\}")
# written as is in Python: a constant, a number, an upper-case placeholder, a quoted repr
_BARE = re.compile(r"True|False|None|-?[0-9][0-9.e+-]*|[A-Z][A-Z_]*|'.*'|\".*\"")


def option(keyword: str, value: object = None) -> str:
    """The marker for an option in an error's text: ``option("resume", True)``, ``option("out_dir")``,
    ``option("batch_size", 64)``, ``option("init", "NAME")`` (an upper-case value is a placeholder)."""
    return f"{{opt:{keyword}}}" if value is None else f"{{opt:{keyword}={value}}}"


def flag(keyword: str) -> str:
    """The command-line flag of a Python keyword: ``out_dir`` -> ``--out``."""
    return _FLAGS.get(keyword, "--" + keyword.replace("_", "-"))


def render_options(text: str, *, cli: bool) -> str:
    """``text`` with its :func:`option` markers as a command line (``cli``) or a Python call spells them."""

    def one(m: re.Match[str]) -> str:
        keyword, value = m.group(1), m.group(2)
        if cli:
            return flag(keyword) if value in (None, "True") else f"{flag(keyword)} {value}"
        if value is None:
            return keyword
        return f"{keyword}={value}" if _BARE.fullmatch(value) else f'{keyword}="{value}"'

    return _OPT.sub(one, text)


class BarsError(Exception):
    """Base class of every error bars-zoo raises for a user's input or environment.

    ``exit_code`` is the ``bars-zoo`` exit status (README, "Exit status"): 1 when the input was
    read and is wrong or the work failed, 2 when the command line cannot be acted on (a usage
    error, a bad option value, a file, folder or name that does not exist or cannot be read).
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.raw_message = message  # with the option() markers, for an error that wraps this one
        self.raw_hint = hint
        self.message = render_options(message, cli=False)
        self.hint = render_options(hint, cli=False) if hint is not None else None
        super().__init__(self.__str__())

    def render(self, *, cli: bool = False) -> str:
        """The message and hint, options spelt as flags (``cli``) or as Python keywords."""
        message = render_options(self.raw_message, cli=cli)
        if self.raw_hint:
            return f"{message}\n  hint: {render_options(self.raw_hint, cli=cli)}"
        return message

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Diagnostic:
    """One located finding in a genotype file (an error or a warning)."""

    code: str
    message: str
    severity: Severity = "error"
    filename: str = "<string>"
    line: int = 1
    column: int = 1
    end_column: int | None = None
    source_line: str | None = None
    hint: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def render(self) -> str:
        """``file:line:col: severity[code]: message`` plus the source line and a caret.

        Control characters in the line show as U+FFFD, wide characters take two columns, and a long
        line is cut to a window around the caret, so the caret always sits under the culprit.
        """
        head = f"{self.filename}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"
        out = [head]
        if self.source_line is not None:
            gutter = str(self.line)
            shown, caret = _excerpt(self.source_line, self.column, self.end_column)
            out.append(f" {gutter} | {shown}".rstrip())
            out.append(f" {' ' * len(gutter)} | {caret}")
        for note in self.notes:
            out.append(f"  = note: {note}")
        if self.hint:
            out.append(f"  = help: {self.hint}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.filename,
            "line": self.line,
            "column": self.column,
            "end_column": self.end_column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


_WINDOW = 100  # characters of a long source line shown around the caret


def _char(c: str) -> tuple[str, int]:
    """How a source character is shown, and how many terminal columns it takes."""
    if c == "\t":
        return " ", 1
    if not c.isprintable():
        return "\ufffd", 1
    if unicodedata.combining(c):
        return c, 0
    return c, 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def _excerpt(line: str, column: int, end_column: int | None) -> tuple[str, str]:
    """(the line as shown, the caret line under columns ``column..end_column``)."""
    src = line.rstrip("\n")
    c0 = max(0, min(column - 1, len(src)))
    c1 = max(c0 + 1, min(end_column - 1 if end_column else c0 + 1, len(src)))
    start, stop = 0, len(src)
    if len(src) > _WINDOW:
        start = max(0, min(c0 - _WINDOW // 3, len(src) - _WINDOW))
        stop = start + _WINDOW
    chars = [_char(c) for c in src[start:stop]]
    prefix = "..." if start > 0 else ""
    suffix = "..." if stop < len(src) else ""
    shown = prefix + "".join(c for c, _ in chars) + suffix
    lead = len(prefix) + sum(w for _, w in chars[: c0 - start])
    width = sum(w for _, w in chars[c0 - start : min(c1, stop) - start])
    return shown, " " * lead + "^" * max(1, width)


class GenotypeError(BarsError):
    """A genotype text failed to parse or validate; ``diagnostics`` holds every error found."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        self.diagnostics = tuple(diagnostics)
        self.warnings: tuple[Diagnostic, ...] = ()
        first = self.diagnostics[0] if self.diagnostics else None
        self.code = first.code if first else "error"
        if self.code == "unreadable":  # the file named could not be read: nothing was checked
            self.exit_code = 2
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def render(self, *, cli: bool = False) -> str:
        return self.message

    def __str__(self) -> str:
        return self.message


class SpecError(BarsError):
    """A spec built in Python (not from text) violates a rule of the genotype language."""


class UnknownModelError(BarsError):
    """A model or genotype name is not in the zoo, or a path given for one does not exist or is
    not what it should be (a folder for a file, a folder that is not a model folder): a usage
    error (exit status 2)."""

    exit_code = 2


class WeightsNotPublishedError(BarsError):
    """The architecture exists but no pretrained weights have been published for it."""


class HubError(BarsError):
    """Something went wrong talking to the Hugging Face Hub (the cause is chained)."""


class OfflineError(HubError):
    """The files are not cached locally and the Hub may not or cannot be reached."""


class RepoNotFoundError(HubError):
    """The Hub repository does not exist or is private."""


class RevisionNotFoundError(HubError):
    """The Hub repository has no such branch, tag or commit."""


class IntegrityError(BarsError):
    """A file is malformed, or its checksum, size or content does not match what was recorded."""


class UnsafeFileError(BarsError):
    """A file format that could execute code (pickle) was refused."""


class StateDictError(BarsError):
    """Weights do not fit the architecture (missing, unexpected or mis-shaped tensors)."""


class DatasetNotFoundError(BarsError):
    """A data set is not where it was looked for."""


class DatasetError(BarsError):
    """A data set's files are there but cannot be used: an image that cannot be decoded, an image
    folder whose splits have different class folders."""


class ImageNotFoundError(DatasetError):
    """An image file named by the user (to :func:`bars_zoo.preprocess`, in a ``labels.json``)
    does not exist or is a folder: like any other missing file, a usage error (exit status 2)."""

    exit_code = 2


class CheckpointError(BarsError):
    """A checkpoint is missing, corrupt, or belongs to a different run."""


class CheckpointMismatchError(CheckpointError):
    """``--resume`` with settings other than the run's: a usage error (exit status 2)."""

    exit_code = 2


class ConfigError(BarsError):
    """An argument or option combination is invalid."""

    exit_code = 2


class ArgumentTypeError(ConfigError, TypeError):
    """A public function got an argument of the wrong type (a number for a name, a model for a
    spec).  Also a :class:`TypeError`, so ``except TypeError`` still catches it."""


class SettingError(ConfigError, ValueError):
    """A settings object (:class:`~bars_zoo.search.SearchConfig`) got a value out of range.  Also a
    :class:`ValueError`, as pydantic's ``ValidationError`` it replaces (kept in ``validation``, so
    that the command line can name the flag at fault)."""

    validation: Any = None


class DeployError(BarsError):
    """A model cannot be converted to, or used as, a packed inference module."""


class MissingDependencyError(BarsError):
    """A program or optional package that this feature needs is not installed (e.g. graphviz)."""


__all__ = [
    "ArgumentTypeError",
    "BarsError",
    "CheckpointError",
    "CheckpointMismatchError",
    "ConfigError",
    "DatasetError",
    "DatasetNotFoundError",
    "DeployError",
    "Diagnostic",
    "GenotypeError",
    "HubError",
    "ImageNotFoundError",
    "IntegrityError",
    "MissingDependencyError",
    "OfflineError",
    "RepoNotFoundError",
    "RevisionNotFoundError",
    "SettingError",
    "Severity",
    "SpecError",
    "StateDictError",
    "UnknownModelError",
    "UnsafeFileError",
    "WeightsNotPublishedError",
    "flag",
    "option",
    "render_options",
]
