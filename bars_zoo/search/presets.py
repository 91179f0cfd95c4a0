"""Named search presets: the paper's settings, a seconds-long CPU smoke search, a Fashion-MNIST search.

* ``paper`` - BARS appendix A as written: 14 cells in 3 stages (1 mandatory + up to 3 optional cells
  per stage, 2 reduction cells), base channels 48/96/192, 4 nodes per cell, 50 epochs with 5 warm-up,
  batch 64, Adam 3e-4 for weights (cosine to 0) and alphas (wd 1e-3), temperature 1.0 x0.9/epoch,
  entropy weight -0.01 +0.001/epoch, theta 0.2 over the budget.
* ``fmnist`` - the paper's space at 2/3 width (32/64/128, stem 32) for 1x28x28 images, 16 epochs on a
  12k-image subset (93 steps per epoch) with the paper's schedules compressed into its 13
  architecture epochs (``anneal_over=50``: temperature 1.0 down to 0.9^49).  About 15x fewer
  steps than the paper's search, so the learning rates are raised (weights 1e-3, alphas 3e-3:
  the alphas can move as far as in the paper's 17k alpha steps).
  Minutes on a GPU; hours on a CPU (``benchmarks/results/search.md``).
* ``tiny`` - tests and smoke runs: 8 cells (one optional cell per stage), 3 nodes, widths 8/16/32,
  2 epochs on 128 images (batch 16): its one architecture epoch runs at the schedules' start
  (temperature 1.0).  Seconds on a CPU; the architecture it finds means nothing.
"""

from __future__ import annotations

from typing import Any

from bars_zoo.errors import ConfigError
from bars_zoo.search.config import SearchConfig

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "fmnist": {
        "dataset": "fashion-mnist",
        "stem_channels": 32,
        "base_channels": (32, 64, 128),
        "epochs": 16,
        "warmup_epochs": 3,
        "batch_size": 64,
        "subset": 12_000,
        "anneal_over": 50,
        "weight_lr": 1e-3,
        "arch_lr": 3e-3,
        "derive_batches": 40,
    },
    "tiny": {
        "dataset": "synthetic",
        "stem_channels": 8,
        "base_channels": (8, 16, 32),
        "depth_choices": (0, 1),
        "nodes": 3,
        "epochs": 2,
        "warmup_epochs": 1,
        "batch_size": 16,
        "subset": 128,
        "anneal_over": 50,
        "derive_candidates": 4,
        "derive_batches": 2,
        "arch_lr": 3e-3,
    },
}


def config_for(preset: str = "paper", **overrides: Any) -> SearchConfig:
    """The :class:`SearchConfig` of ``preset`` with ``overrides`` applied.  ``None`` is a value like
    any other: ``grad_clip=None`` turns clipping off, ``budget_ops=None`` removes the budget.

    >>> config_for("tiny", epochs=3).epochs
    3
    """
    if preset not in PRESETS:
        raise ConfigError(
            f"unknown search preset {preset!r}", hint=f"choose one of: {', '.join(PRESETS)}"
        )
    values = {"preset": preset, **PRESETS[preset]}
    values.update(overrides)
    return _validated(values)


def with_overrides(config: SearchConfig, **overrides: Any) -> SearchConfig:
    """``config`` with some fields replaced (validated again; ``None`` is applied as a value)."""
    values = config.model_dump()
    values.update(overrides)
    return _validated(values)


def _validated(values: dict[str, Any]) -> SearchConfig:
    return SearchConfig(**values)  # a value out of range: SettingError (a ConfigError)


__all__ = ["PRESETS", "config_for", "with_overrides"]
