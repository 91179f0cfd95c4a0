"""Evaluation: top-1 / top-5 accuracy and mean cross-entropy of a classifier on a data set split.

:func:`evaluate` is what ``bars-zoo eval`` and the end of ``bars-zoo train`` call.  It feeds the
model exactly what training fed it (:class:`bars_zoo.batches.BatchLoader` normalisation, no
augmentation), in eval mode, without gradients.  Top-5 is reported when the model has at least 10
classes (below that it is close to meaningless); every metric is a fraction in [0, 1].

Splits: ``test`` (the official test set; ImageNet's ``val/`` folder), ``val`` (the validation images
held out of the training set by :func:`bars_zoo.recipes.holdout`, the ones training selects on) and
``train`` (the rest of the training set).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Sized
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from bars_zoo._args import check_flag
from bars_zoo.batches import BatchLoader
from bars_zoo.builder import non_float32, unwrap_model
from bars_zoo.data import (
    DATASETS,
    DatasetInfo,
    ImageSet,
    dataset_info,
    load_images,
    make_synthetic,
    sample,
)
from bars_zoo.devices import resolve_device
from bars_zoo.errors import ArgumentTypeError, ConfigError, option
from bars_zoo.modelref import is_search_run as is_search_run
from bars_zoo.modelref import load_model, model_source, run_holdout, unfinished_run
from bars_zoo.modelref import looks_like_path as looks_like_path
from bars_zoo.modelref import sibling_hint as sibling_hint
from bars_zoo.recipes import holdout, recipe

log = logging.getLogger(__name__)

SPLITS = ("test", "val", "train")


def accumulate(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    device: torch.device | None = None,
    amp: bool = False,
    channels_last: bool = False,
) -> Tensor:
    """Sums over ``batches``: ``[loss_sum, top1_correct, top5_correct, n]`` (float64, on ``device``).

    Sums rather than means, so that shards of a data set (one per process) add up exactly.
    """
    was_training = model.training
    model.eval()
    tally = torch.zeros(4, dtype=torch.float64, device=device)
    try:
        with torch.no_grad():
            for x, y in batches:
                if device is not None:
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if x.shape[0] == 0:
                    continue
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
                    logits = model(x)
                tally += batch_tally(logits.float(), y).to(tally.device)
    finally:
        model.train(was_training)
    return tally


def batch_tally(logits: Tensor, y: Tensor) -> Tensor:
    """``[loss_sum, top1_correct, top5_correct, n]`` of one batch of logits (B, K) and labels (B,)."""
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # (B, k)
    hit = top == y[:, None]
    return torch.stack(
        [
            F.cross_entropy(logits, y, reduction="sum").double(),
            hit[:, 0].sum().double(),
            hit.any(dim=1).sum().double(),
            y.new_full((), float(y.shape[0]), dtype=torch.float64),  # (no host copy)
        ]
    )


def summarize(tally: Tensor, num_classes: int) -> dict[str, Any]:
    """The metrics dict of a tally: ``top1``, ``top5`` (>= 10 classes), ``loss``, ``n``."""
    loss_sum, c1, c5, n = (float(v) for v in tally.cpu())
    if n == 0:
        raise ConfigError("nothing to evaluate: the split is empty")
    out: dict[str, Any] = {"top1": c1 / n}
    if num_classes >= 10:
        out["top5"] = c5 / n
    out["loss"] = loss_sum / n
    out["n"] = int(n)
    return out


SYNTHETIC_TRAIN, SYNTHETIC_TEST = 2048, 512  # images in the synthetic stand-in's splits


def official_images(
    dataset: str,
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    subset: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    info: DatasetInfo | None = None,
) -> ImageSet:
    """The official ``train`` or ``test`` images of an in-memory data set (``subset``: a seeded
    sample of that many).  ``synthetic`` takes its shape from ``input_shape``/``num_classes``;
    ``imagefolder`` is read at ``input_shape`` and normalised as ``info`` says (default: measured
    on the folder, :func:`bars_zoo.imagefolder.folder_info`)."""
    if dataset == "imagefolder":
        from bars_zoo.imagefolder import folder_info, load_folder, scan

        if info is None:
            if input_shape is None:
                raise ConfigError(
                    "an image folder is read at a model's input shape, and this model has none",
                    hint="evaluate a bars-zoo model (its genotype's `input` line gives the shape)",
                )
            data_dir = scan(data_dir)  # walked once for the statistics and the split
            info = folder_info(data_dir, input_shape)
        return load_folder(
            data_dir, "test" if split == "test" else "train", info, subset=subset, seed=seed
        )
    if dataset == "synthetic":  # fixed splits, like a real data set's: --subset samples them
        data = make_synthetic(
            "test" if split == "test" else "train",
            size=SYNTHETIC_TEST if split == "test" else SYNTHETIC_TRAIN,
            input_shape=input_shape or (3, 32, 32),
            num_classes=num_classes or 10,
        )
        return data if subset is None else sample(data, subset, seed)
    return load_images(
        dataset, "test" if split == "test" else "train", data_dir=data_dir, subset=subset, seed=seed
    )


def split_images(
    dataset: str,
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    subset: int | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    val_fraction: float | None = None,
    split_seed: int = 0,
    pool: int | None = None,
    info: DatasetInfo | None = None,
) -> ImageSet:
    """The images of ``split``: ``test``, or ``train``/``val`` of the training set after the
    hold-out (:func:`bars_zoo.recipes.holdout` with the recipe's ``val_fraction``, or a run's).
    ``pool``: a training run's ``--subset``, the sample it drew before its hold-out.

    ``subset`` keeps a seeded sample of that many images *of the split*: for ``val``, images of the
    validation split that a full training run held out (sampling before the hold-out would mix in
    that run's training images).
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}", hint=f"choose one of: {', '.join(SPLITS)}")
    if subset is not None and subset < 1:
        raise ConfigError(f"{option('subset')} must be positive, got {subset}")
    data = official_images(
        dataset,
        split,
        data_dir=data_dir,
        subset=subset if split == "test" else pool,
        input_shape=input_shape,
        num_classes=num_classes,
        seed=split_seed,
        info=info,
    )
    if split == "test":
        return data
    fraction = recipe(dataset).val_fraction if val_fraction is None else val_fraction
    train, val = holdout(data, fraction, split_seed)
    if split == "val" and val is None:
        raise ConfigError(
            f"no validation images: {dataset} with val_fraction 0 holds none out",
            hint=f"use {option('split', 'test')}",
        )
    part = train if split == "train" else val
    assert part is not None
    return part if subset is None else sample(part, subset, split_seed)


def check_compatible(model: nn.Module, dataset: str, info: DatasetInfo | None = None) -> None:
    """Refuse a data set whose image shape or class count the model was not built for (an image
    folder is read at the model's shape: only its class count, from ``info``, can differ)."""
    spec = getattr(unwrap_model(model), "spec", None)
    if spec is None or dataset == "synthetic":
        return
    if dataset == "imagefolder":
        if info is not None and info.num_classes != spec.num_classes:
            raise ConfigError(
                f"{spec.name} has {spec.num_classes} classes, but the image folder {info.name} "
                f"has {info.num_classes} class folders ({', '.join(info.classes)})",
                hint=f"train a genotype with `classes={info.num_classes}` on its `input` line, "
                f"or fine-tune weights with {option('init')} (their classifier is replaced)",
            )
        return
    info = dataset_info(dataset)
    if tuple(spec.input_shape) != info.input_shape or spec.num_classes != info.num_classes:
        raise ConfigError(
            f"{spec.name} takes {'x'.join(map(str, spec.input_shape))} images and "
            f"{spec.num_classes} classes, but {dataset} has "
            f"{'x'.join(map(str, info.input_shape))} images and {info.num_classes} classes",
            hint="pick the data set the model was built for (the genotype's `input` line)",
        )


default_device = resolve_device  # the name this module has always exported


def evaluate(
    model: nn.Module | str | os.PathLike[str],
    dataset: str,
    split: str = "test",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 500,
    device: torch.device | str | None = None,
    subset: int | None = None,
    workers: int = 8,
    amp: bool = False,
    holdout_from: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Top-1 (and top-5 with >= 10 classes), mean loss and image count of ``model`` on a split.

    ``model`` is a module or anything :func:`load_model` resolves.  Returns
    ``{"top1", "top5"?, "loss", "n"}`` (accuracies as fractions).  The ``val``/``train`` splits are
    those of a training run's hold-out: the run in the training folder ``model`` names, else
    ``holdout_from`` (``val_fraction``, ``split_seed``, ``subset`` as :func:`bars_zoo.training.
    run_split` gives them), else the recipe's; a run on another data set does not count.
    ``progress`` shows a bar of the batches on standard error (default: when it is a terminal).
    """
    if not isinstance(model, nn.Module | str | os.PathLike):
        hint = (
            " (a spec has no weights: train it, or bars_zoo.build(spec))"
            if hasattr(model, "cells")
            else ""
        )
        raise ArgumentTypeError(
            f"evaluate takes a model, a model name or a folder, got {type(model).__name__}{hint}"
        )
    check_flag(amp, "amp")  # "no" would autocast (torch refuses a str), or count as true
    check_flag(progress, "progress", allow_none=True)
    if dataset not in DATASETS:
        raise ConfigError(
            f"unknown data set {dataset!r}",
            hint=f"choose one of: {', '.join(DATASETS)} (a model trained on an image folder "
            f"records the folder's name: evaluate it with {option('dataset', 'imagefolder')} "
            f"{option('data_dir', 'DIR')})",
        )
    dev = default_device(device)
    if holdout_from is None and isinstance(model, str | os.PathLike):
        holdout_from = run_holdout(model, split)
    net = load_model(model, dev) if isinstance(model, str | os.PathLike) else model.to(dev)
    folder = None
    if dataset == "imagefolder":  # walked once (a FolderLayout given is walked already)
        from bars_zoo.imagefolder import model_folder_info, scan

        data_dir = scan(data_dir)
        folder = model_folder_info(net, data_dir)
    check_compatible(net, dataset, folder)
    other = non_float32(net)
    if other:  # the images are float32; --amp (bf16 autocast) is the way to evaluate in less
        raise ConfigError(
            f"evaluate needs a float32 model, this one holds {', '.join(other)} parameters",
            hint=f"evaluate model.float() (with {option('amp', True)} for bfloat16 autocast)",
        )
    spec = getattr(unwrap_model(net), "spec", None)  # through a DataParallel / compile wrapper
    num_classes = spec.num_classes if spec is not None else dataset_info(dataset).num_classes
    if dataset == "imagenet":
        if split != "test":
            raise ConfigError(
                "ImageNet evaluates on its val/ folder only", hint=f"use {option('split', 'test')}"
            )
        from bars_zoo.data import imagenet_loader

        batches: Iterable[tuple[Tensor, Tensor]] = imagenet_loader(
            data_dir, "test", batch_size, workers=workers
        )
    else:
        run = holdout_from or {}
        if run.get("dataset") not in (None, dataset):  # that run's split is of other images
            run = {}
        images = split_images(
            dataset,
            split,
            data_dir=data_dir,
            subset=subset,
            input_shape=spec.input_shape if spec is not None else None,
            num_classes=num_classes,
            val_fraction=run.get("val_fraction"),
            split_seed=run.get("split_seed") or 0,
            pool=run.get("subset"),
            info=folder,
        )
        batches = BatchLoader(images, batch_size, shuffle=False, device=dev)
    show = progress if progress is not None else sys.stderr.isatty()
    if show:
        total = len(batches) if isinstance(batches, Sized) else None
        batches = tqdm(batches, total=total, desc=f"eval {split}", unit="batch", leave=False)
    return summarize(accumulate(net, batches, device=dev, amp=amp), num_classes)


# model_source, unfinished_run (and load_model, run_holdout, is_search_run, looks_like_path,
# sibling_hint) live in bars_zoo.modelref; re-exported here, where they were
__all__ = [
    "SPLITS",
    "accumulate",
    "batch_tally",
    "check_compatible",
    "default_device",
    "evaluate",
    "load_model",
    "model_source",
    "official_images",
    "run_holdout",
    "split_images",
    "summarize",
    "unfinished_run",
]
