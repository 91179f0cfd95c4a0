"""Training recipes per data set (BARS, Zhao et al. 2021, appendix A) and the held-out split.

* CIFAR-10: 200 epochs, batch 256, Adam lr 2e-3 with cosine decay to 0, weight decay 0, cutout
  (16x16) and an auxiliary tower weighted 0.4 (Szegedy et al. 2015, as in DARTS, Liu et al. 2019).
* ImageNet: 100 epochs, batch 256, Adam lr 1e-3 cosine to 0, weight decay 0, no cutout.
* Fashion-MNIST (not in the paper; our choice): the CIFAR-10 optimiser (Adam 2e-3 cosine to 0, wd 0,
  batch 256) with random crop after 2-pixel padding and horizontal flips, no cutout and no auxiliary
  tower: binary networks of this size underfit far more than they overfit, so the recipe keeps
  augmentation light and relies on long cosine schedules.
* synthetic: the Fashion-MNIST settings, for tests and smoke runs.
* imagefolder (a user's own images; our choice): the CIFAR-10 optimiser without cutout or auxiliary
  tower, 10 % held out; augmentation scaled to the image size (:meth:`bars_zoo.batches.Augment.
  for_dataset`).

Model selection uses a validation split held out from the *training* set (``val_fraction``, seeded by
``split_seed``); the test split is evaluated once, at the end, and never used to choose anything.
ImageNet holds nothing out (``val/`` is its test split).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from bars_zoo.data import ImageSet, split_indices
from bars_zoo.errors import ConfigError, option


@dataclass(frozen=True)
class Recipe:
    """Per-data-set defaults; every field can be overridden in :class:`bars_zoo.training.TrainConfig`."""

    lr: float
    epochs: int  # the paper's schedule length (documentation and the CLI's suggestion)
    cutout: bool
    aux_weight: float
    val_fraction: float


RECIPES: dict[str, Recipe] = {
    "cifar10": Recipe(lr=2e-3, epochs=200, cutout=True, aux_weight=0.4, val_fraction=0.1),
    "imagenet": Recipe(lr=1e-3, epochs=100, cutout=False, aux_weight=0.0, val_fraction=0.0),
    # 5000 of the 60000 training images held out: 55000 train / 5000 validation.
    "fashion-mnist": Recipe(lr=2e-3, epochs=100, cutout=False, aux_weight=0.0, val_fraction=1 / 12),
    "synthetic": Recipe(lr=2e-3, epochs=5, cutout=False, aux_weight=0.0, val_fraction=0.1),
    "imagefolder": Recipe(lr=2e-3, epochs=100, cutout=False, aux_weight=0.0, val_fraction=0.1),
}


def recipe(dataset: str) -> Recipe:
    """The recipe of ``dataset`` (raises :class:`ConfigError` for an unknown name)."""
    if dataset not in RECIPES:
        raise ConfigError(
            f"unknown data set {dataset!r}", hint=f"choose one of: {', '.join(RECIPES)}"
        )
    return RECIPES[dataset]


def holdout_indices(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Disjoint (train, validation) index sets of ``n`` training images, seeded by ``seed``."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train_idx, val_idx = split_indices(n, (1.0 - val_fraction, val_fraction), seed=seed)
    return train_idx, val_idx


def holdout(data: ImageSet, val_fraction: float, seed: int) -> tuple[ImageSet, ImageSet | None]:
    """Split a training :class:`ImageSet` into (train, validation or ``None`` when nothing is held out)."""
    if val_fraction == 0.0:
        return data, None
    train_idx, val_idx = holdout_indices(len(data), val_fraction, seed)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise ConfigError(
            f"cannot hold out {val_fraction:.3g} of {len(data)} images",
            hint=f"use more images ({option('subset')}) or a different {option('val_fraction')}",
        )
    return data.subset(train_idx), data.subset(val_idx)


__all__ = ["RECIPES", "Recipe", "holdout", "holdout_indices", "recipe"]
