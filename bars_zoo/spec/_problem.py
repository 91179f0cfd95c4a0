"""A semantic finding of the spec checks (:func:`bars_zoo.spec.check_spec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Problem:
    """A semantic finding; ``path`` names the offending field like a pydantic ``loc``."""

    code: str
    message: str
    path: tuple[str | int, ...]
    severity: Literal["error", "warning"] = "error"
    hint: str | None = None
    #: where the thing this finding repeats is first defined (the DSL says on which line)
    first: tuple[str | int, ...] | None = None


__all__ = ["Problem"]
