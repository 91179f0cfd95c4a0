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
from pathlib import Path
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
from bars_zoo.errors import ArgumentTypeError, ConfigError, UnknownModelError, option
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


_NAMES_HINT = "give a zoo name (bars-zoo list), a model folder, local-dir:PATH or hf-hub:ORG/REPO"


def model_source(ref: str | os.PathLike[str]) -> str:
    """The name :func:`bars_zoo.hub.load` takes for a model given on the command line: a finished
    training output folder is its ``model/`` folder, a model folder (or its weights file) is
    ``local-dir:``, anything else is a name as it is.  The commands that read a model (``eval``,
    ``deploy``) resolve it here, so that they accept the same things.

    A search run directory is refused; a training folder whose run has not finished stays
    ``local-dir:`` of itself (loading it says how to finish the run)."""
    text = os.fspath(ref)
    if not text.strip():  # Path("") is the current folder: an unset variable must not mean it
        raise UnknownModelError("no model was given (an empty name)", hint=_NAMES_HINT)
    if text.startswith(("local-dir:", "hf-hub:")):
        return text
    path = Path(text).expanduser()
    if path.is_file() and path.suffix == ".safetensors":  # the weights file of a model folder
        return f"local-dir:{path}"
    if not path.is_dir():
        if looks_like_path(text) and not path.exists():
            raise UnknownModelError(f"no such folder {text}", hint=sibling_hint(path))
        return text
    if is_search_run(path):
        raise UnknownModelError(
            f"{path} is a `bars-zoo search` run directory, not a trained model",
            hint="the search wrote a .geno file: train it with `bars-zoo train FILE.geno`, "
            "then evaluate the training folder",
        )
    if (path / "model" / "config.json").is_file():
        return f"local-dir:{path / 'model'}"
    if (path / "config.json").is_file() or (path / "checkpoint.pt").is_file():
        return f"local-dir:{path}"
    raise UnknownModelError(
        f"{path} is neither a model folder nor a training output folder",
        hint="give a folder with config.json (save_pretrained) or checkpoint.pt (bars-zoo train)",
    )


def looks_like_path(text: str) -> bool:
    """Whether a model argument is meant as a path, not a zoo or Hub name: it has a ``/`` (a zoo
    name never has one; a Hub repo is written ``hf-hub:ORG/REPO``) or starts with ``.`` or ``~``."""
    return "/" in text or text.startswith((".", "~")) or os.sep in text


def sibling_hint(path: Path) -> str:
    """A did-you-mean among the folders beside a missing ``path`` (``runs/my-nett`` ->
    ``runs/my-net``), else what the argument takes."""
    from bars_zoo.zoo import close_names

    parent = path.parent
    try:
        siblings = sorted(p.name for p in parent.iterdir() if p.is_dir())
    except OSError:
        siblings = []
    close = close_names(path.name, siblings)
    if close:
        shown = " or ".join(repr(os.path.join(os.fspath(parent), c)) for c in close)
        return f"did you mean {shown}?"
    if not parent.is_dir():
        return f"{parent} does not exist either; give a model folder or a `bars-zoo train` --out folder"
    return "give a model folder (save_pretrained) or a `bars-zoo train` --out folder"


def unfinished_run(ref: str | os.PathLike[str]) -> bool:
    """Whether ``ref`` is a training output folder without its ``model/`` folder yet."""
    path = Path(os.fspath(ref)).expanduser()
    return (
        path.is_dir()
        and (path / "checkpoint.pt").is_file()
        and not (path / "config.json").is_file()
        and not (path / "model" / "config.json").is_file()
    )


def load_model(ref: str | os.PathLike[str], device: torch.device | None = None) -> nn.Module:
    """A trained model from a zoo name, ``local-dir:PATH``, a model folder or a training out dir.

    Names and folders resolve through :func:`model_source` and load with
    :func:`bars_zoo.hub.load`; a training output folder yields its ``model/`` folder when training
    finished, else the weights of its checkpoint (best validation epoch first).
    """
    source = model_source(ref)
    if unfinished_run(ref):
        from bars_zoo.training import model_from_checkpoint

        return model_from_checkpoint(Path(os.fspath(ref)).expanduser(), device=device)
    return _hub_load(source, device)


def is_search_run(path: Path) -> bool:
    """Whether ``path`` is the run directory of a search (its config.json is a SearchConfig)."""
    import json

    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and "base_channels" in cfg and "edge_ops" in cfg


def _hub_load(ref: str, device: torch.device | None) -> nn.Module:
    from bars_zoo.hub import load

    model: nn.Module = load(ref)
    return model.to(device) if device is not None else model


default_device = resolve_device  # the name this module has always exported


def run_holdout(ref: str | os.PathLike[str], split: str) -> dict[str, Any] | None:
    """For the ``val``/``train`` split of a training folder ``ref``: how that run held out its
    validation images (:func:`bars_zoo.training.run_split`); ``None`` otherwise."""
    if split == "test" or not Path(ref).is_dir():
        return None
    from bars_zoo.training import run_split

    return run_split(ref)


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
