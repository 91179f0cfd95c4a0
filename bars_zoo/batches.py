"""Batches of in-memory data sets: shuffled, augmented and normalised on the target device.

:class:`BatchLoader` turns an :class:`bars_zoo.data.ImageSet` (``uint8`` images) into float batches
on the device that consumes them.  Batch order and augmentation depend only on ``(seed, epoch)``,
so a run resumed from a checkpoint sees exactly the batches an uninterrupted run would;
``rank``/``world_size`` shard each global batch across data-parallel processes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bars_zoo.data import ImageSet
from bars_zoo.errors import ConfigError


@dataclass(frozen=True)
class Augment:
    """Batch augmentation: random crop after ``pad`` pixels of zero padding, or (``resized_crop``)
    a random resized crop (area 8-100 %, aspect ratio 3/4-4/3, scaled back bilinearly, as
    torchvision's ``RandomResizedCrop`` on ImageNet), horizontal flip, cutout (DeVries & Taylor
    2017) of a ``cutout`` x ``cutout`` square (0 = off)."""

    pad: int = 0
    flip: bool = False
    cutout: int = 0
    resized_crop: bool = False

    @classmethod
    def for_dataset(
        cls, name: str, *, cutout: bool = False, input_shape: tuple[int, int, int] | None = None
    ) -> Augment:
        """The recipe's augmentation; an image folder's is scaled to its ``input_shape``: small
        images (side <= 64) a padded crop (pad = side / 8, CIFAR-10's 4 on 32x32), larger ones the
        random resized crop; flip; cutout of half the side when ``cutout``."""
        if name == "fashion-mnist":
            return cls(pad=2, flip=True, cutout=8 if cutout else 0)
        if name == "cifar10":
            return cls(pad=4, flip=True, cutout=16 if cutout else 0)
        if name == "imagefolder" and input_shape is not None:
            side = min(input_shape[1:])
            hole = side // 2 if cutout else 0
            if side <= 64:
                return cls(pad=max(1, round(side / 8)), flip=True, cutout=hole)
            return cls(resized_crop=True, flip=True, cutout=hole)
        return cls()


def _resized_crop(x: Tensor, g: torch.Generator) -> Tensor:
    """A random resized crop of each image of a float batch (B, C, H, W), back to H x W."""
    b, _, h, w = x.shape
    scale = torch.empty(b).uniform_(0.08, 1.0, generator=g)
    ratio = torch.empty(b).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g).exp()
    cw = (h * w * scale * ratio).sqrt().round().clamp(1, w).long()
    ch = (h * w * scale / ratio).sqrt().round().clamp(1, h).long()
    y0 = (torch.rand(b, generator=g) * (h - ch + 1)).long()
    x0 = (torch.rand(b, generator=g) * (w - cw + 1)).long()
    out = torch.empty_like(x)
    for i in range(b):
        top, left, hh, ww = int(y0[i]), int(x0[i]), int(ch[i]), int(cw[i])
        crop = x[i : i + 1, :, top : top + hh, left : left + ww]  # (1, C, hh, ww)
        out[i] = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
    return out


def _augment(x: Tensor, aug: Augment, g: torch.Generator) -> Tensor:
    """Augment a float batch (B, C, H, W) with randomness drawn from ``g`` (on the CPU)."""
    b, c, h, w = x.shape
    if aug.resized_crop:
        x = _resized_crop(x, g)
    if aug.pad:
        p = aug.pad
        xp = torch.nn.functional.pad(x, (p, p, p, p))  # (B, C, H+2p, W+2p)
        dy = torch.randint(0, 2 * p + 1, (b,), generator=g).to(x.device)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=g).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(c, device=x.device)[None, :, None, None]
        x = xp[bi, ci, rows, cols]  # (B, C, H, W)
    if aug.flip:
        flip = (torch.rand(b, generator=g) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if aug.cutout:
        k = aug.cutout
        cy = torch.randint(0, h, (b,), generator=g).to(x.device)[:, None, None] - k // 2
        cx = torch.randint(0, w, (b,), generator=g).to(x.device)[:, None, None] - k // 2
        ys = torch.arange(h, device=x.device)[None, :, None]
        xs = torch.arange(w, device=x.device)[None, None, :]
        hole = (ys >= cy) & (ys < cy + k) & (xs >= cx) & (xs < cx + k)  # (B, H, W)
        x = x * (~hole)[:, None].to(x.dtype)
    return x


class BatchLoader:
    """Batches of an :class:`ImageSet` as normalised float tensors on ``device``.

    Epoch ``e`` of a loader with seed ``s`` always yields the same batches (order and augmentation),
    which is what makes resumed runs equal uninterrupted ones.  ``rank``/``world_size`` shard each
    global batch across data-parallel processes (rank ``r`` takes rows ``r::world_size``).
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        *,
        shuffle: bool = True,
        augment: Augment | None = None,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be positive, got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment or Augment()
        self.drop_last = drop_last
        self.device = torch.device(device)
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        mean = torch.tensor(data.info.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(data.info.std, dtype=torch.float32).view(1, -1, 1, 1)
        self._mean, self._std = mean.to(self.device), std.to(self.device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.data)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            x = self.data.images[idx].to(self.device, non_blocking=True).float().div_(255)
            y = self.data.labels[idx].to(self.device, non_blocking=True)
            x = _augment(x, self.augment, g)
            x = (x - self._mean) / self._std
            if self.world_size > 1:
                x, y = x[self.rank :: self.world_size], y[self.rank :: self.world_size]
            yield x, y


__all__ = ["Augment", "BatchLoader"]
