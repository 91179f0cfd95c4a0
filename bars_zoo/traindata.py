"""The batches a training run consumes: training, validation and test, sharded across processes.

In-memory data sets (Fashion-MNIST, CIFAR-10, synthetic) are split into train and held-out
validation images (:func:`bars_zoo.recipes.holdout`) and batched by :class:`bars_zoo.batches.BatchLoader`:
seeded per ``(seed, epoch)``, the full global batch on every rank, each rank keeping rows
``rank::world_size``.  Training drops the last partial batch, so every step sees exactly
``batch_size`` images and no rank is ever handed an empty shard.  ImageNet uses torchvision folders
with a ``DistributedSampler`` (per-rank batch ``batch_size / world_size``) and holds nothing out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from bars_zoo.batches import Augment, BatchLoader
from bars_zoo.data import DatasetInfo, imagenet_loader, sample
from bars_zoo.distributed import DistEnv
from bars_zoo.errors import ConfigError, option
from bars_zoo.evaluation import official_images
from bars_zoo.recipes import holdout
from bars_zoo.spec import NetworkSpec
from bars_zoo.training import TrainConfig

if TYPE_CHECKING:
    from bars_zoo.imagefolder import FolderLayout


class EpochBatches:
    """Training batches of one epoch at a time: ``set_epoch``, ``len``, ``(x, y)`` on the device."""

    def __init__(self, inner: Any, device: torch.device) -> None:
        self.inner, self.device = inner, device

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)
        sampler = getattr(self.inner, "sampler", None)
        if sampler is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in self.inner:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


@dataclass
class TrainingData:
    """``train`` batches, ``val`` batches (``None``: nothing held out), this rank's ``test`` shard,
    the global batch size every training step consumes, and how many images the whole test split
    has (more than the test batches hold after a ``--subset``)."""

    train: EpochBatches
    val: Iterable[tuple[Tensor, Tensor]] | None
    test: Iterable[tuple[Tensor, Tensor]]
    global_batch: int
    test_split_images: int
    info: DatasetInfo | None = None  # an image folder's classes and normalisation
    test_split: str | None = None  # an image folder's evaluation split: "NAME/val" or "NAME/test"
    folder: FolderLayout | None = None  # an image folder's walk, which every split was read from


def training_data(
    spec: NetworkSpec,
    cfg: TrainConfig,
    env: DistEnv,
    device: torch.device,
    folder: FolderLayout | None = None,
) -> TrainingData:
    """The batches of a run (``cfg`` resolved: ``val_fraction`` and ``cutout`` filled in).
    ``folder``: the run's walk of its image folder (default: walked here), read for the statistics
    and both splits, each image decoded once."""
    if cfg.dataset == "imagenet":
        return _imagenet(cfg, env, device)
    val_fraction = float(cfg.val_fraction or 0.0)
    shape, classes = spec.input_shape, spec.num_classes
    info, test_name = None, None
    data_dir: str | os.PathLike[str] | None = cfg.data_dir
    if cfg.dataset == "imagefolder":  # measured once, then every split is normalised with it
        from bars_zoo.imagefolder import folder_info, scan, split_name

        folder = data_dir = scan(folder if folder is not None else cfg.data_dir)
        info = folder_info(folder, shape)
        test_name = split_name(folder, "test")

    def images(split: str, subset: int | None = cfg.subset) -> Any:
        return official_images(
            cfg.dataset,
            split,
            data_dir=data_dir,
            subset=subset,
            seed=cfg.split_seed,
            input_shape=shape,
            num_classes=classes,
            info=info,
        )

    train_set, val_set = holdout(images("train"), val_fraction, cfg.split_seed)
    if len(train_set) < cfg.batch_size:
        raise ConfigError(
            f"{option('batch_size', cfg.batch_size)} is larger than the {len(train_set)} training "
            "images",
            hint=f"give {option('batch_size', len(train_set))} or less"
            + (f" or a larger {option('subset')}" if cfg.subset is not None else ""),
        )
    aug = Augment.for_dataset(cfg.dataset, cutout=bool(cfg.cutout), input_shape=shape)
    train = BatchLoader(
        train_set,
        cfg.batch_size,
        augment=aug,
        drop_last=True,
        device=device,
        seed=cfg.seed,
        rank=env.rank,
        world_size=env.world_size,
    )

    def eval_batches(data: Any) -> BatchLoader:
        return BatchLoader(
            data,
            cfg.eval_batch_size,
            shuffle=False,
            device=device,
            rank=env.rank,
            world_size=env.world_size,
        )

    val = eval_batches(val_set) if val_set is not None else None
    test_split = images("test", None)
    test_set = test_split if cfg.subset is None else sample(test_split, cfg.subset, cfg.split_seed)
    test = eval_batches(test_set)
    return TrainingData(
        EpochBatches(train, device),
        val,
        test,
        cfg.batch_size,
        len(test_split),
        info,
        test_name,
        folder,
    )


def _imagenet(cfg: TrainConfig, env: DistEnv, device: torch.device) -> TrainingData:
    if cfg.val_fraction:
        raise ConfigError(
            "ImageNet training holds out no validation split (val/ is its test split)",
            hint=f"leave {option('val_fraction')} unset for ImageNet",
        )
    if cfg.batch_size % env.world_size:
        raise ConfigError(
            f"{option('batch_size', cfg.batch_size)} is not divisible by {env.world_size} processes",
            hint="ImageNet shards whole batches: use a multiple of the process count",
        )
    per_rank = cfg.batch_size // env.world_size
    train = imagenet_loader(
        cfg.data_dir, "train", per_rank, workers=cfg.workers, distributed=env.distributed
    )
    test_set = imagenet_loader(cfg.data_dir, "test", cfg.eval_batch_size, workers=0).dataset
    n = len(test_set)  # type: ignore[arg-type]
    shard = torch.utils.data.Subset(test_set, range(env.rank, n, env.world_size))
    test = torch.utils.data.DataLoader(
        shard, cfg.eval_batch_size, num_workers=cfg.workers, pin_memory=device.type == "cuda"
    )
    return TrainingData(EpochBatches(train, device), None, test, per_rank * env.world_size, n)


__all__ = ["EpochBatches", "TrainingData", "training_data"]
