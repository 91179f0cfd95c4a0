"""What :func:`bars_zoo.search` returns: :class:`SearchResult`, the found network and the run's
record (history, derive candidates, budget, final alphas)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bars_zoo.search.config import SearchConfig, format_size
from bars_zoo.spec import NetworkSpec


@dataclass(frozen=True)
class SearchResult:
    """What a search produced.  ``spec``/``path`` are ``None`` when it stopped early (``stop_after``).

    ``finished``: a genotype was derived.  ``epochs_run`` below ``config.epochs`` with ``finished``
    means its ``search_time_s`` ended the search early (its genotype's ``meta epochs`` says so
    too).  ``stopped_by``: what ended an unfinished call, ``"time-limit"`` or ``"stop-after"``.
    ``derived``: ``"sampled"`` (the best draw within the budget), or a fallback when no draw fit:
    ``"shrunk"`` (the closest draw made smaller) or ``"cheapest"`` (the space's cheapest network);
    ``None`` when nothing was derived.  ``note`` says the same in a sentence (``None`` when sampled).
    """

    config: SearchConfig
    spec: NetworkSpec | None
    path: Path | None
    run_dir: Path | None
    finished: bool
    epochs_run: int = 0
    history: tuple[dict[str, Any], ...] = ()
    candidates: tuple[dict[str, Any], ...] = ()
    budget_met: bool | None = None
    derived: str | None = None
    note: str | None = None
    expected_ops: float | None = None
    ops: float | None = None
    alphas: dict[str, torch.Tensor] = field(default_factory=dict)
    stopped_by: str | None = None

    def __repr__(self) -> str:
        """One line: the outcome and the sizes of the records, not every alpha tensor and epoch
        (the whole of it is several kilobytes, which a notebook cell ending in ``result`` shows)."""
        sizes = {"ops": self.ops, "expected_ops": self.expected_ops}
        parts = [
            f"spec={self.spec.name if self.spec else None!r}",
            f"path={str(self.path) if self.path else None!r}",
            f"finished={self.finished}",
            f"epochs_run={self.epochs_run}",
            f"derived={self.derived!r}",
            f"budget_met={self.budget_met}",
            *(f"{k}={format_size(v)!r}" for k, v in sizes.items() if v is not None),
            *([f"stopped_by={self.stopped_by!r}"] if self.stopped_by else []),
            f"config=<preset {self.config.preset!r}, {self.config.epochs} epochs>",
            f"history=<{len(self.history)} epochs>",
            f"candidates=<{len(self.candidates)}>",
            f"alphas=<{len(self.alphas)} tensors>",
        ]
        return f"SearchResult({', '.join(parts)})"


__all__ = ["SearchResult"]
