"""Batches of in-memory data sets: shuffled, augmented and normalised on the target device.

:class:`BatchLoader` turns an :class:`bars_zoo.data.ImageSet` (``uint8`` images) into float batches
on the device that consumes them.  Batch order and augmentation depend only on ``(seed, epoch)``,
so a run resumed from a checkpoint sees exactly the batches an uninterrupted run would;
``rank``/``world_size`` shard each global batch across data-parallel processes: every rank draws
the whole global batch's randomness (the same numbers on every rank, whatever their number) and
copies, augments and normalises only its own rows.  A batch's random draws reach the device in one
non-blocking copy (:func:`bars_zoo.devices.to_device_at_once`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bars_zoo.data import ImageSet
from bars_zoo.devices import to_device_at_once
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


def _draw(aug: Augment, b: int, h: int, w: int, g: torch.Generator) -> dict[str, Tensor]:
    """The random draws of one global batch of ``b`` images of ``h`` x ``w`` from ``g`` (CPU),
    one row per image: a rank keeps its own rows, and the draws (their order and values) do not
    depend on the number of ranks or on the device.  ``crop``: (4, B) top, left, height, width of
    the resized crops; ``shift``: (2, B) the padded crops' dy, dx; ``flip``: (B,) 0/1;
    ``hole``: (2, B) the top-left corners of the cutout squares (may be negative)."""
    out: dict[str, Tensor] = {}
    if aug.resized_crop:
        scale = torch.empty(b).uniform_(0.08, 1.0, generator=g)
        ratio = torch.empty(b).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g).exp()
        cw = (h * w * scale * ratio).sqrt().round().clamp(1, w).long()
        ch = (h * w * scale / ratio).sqrt().round().clamp(1, h).long()
        y0 = (torch.rand(b, generator=g) * (h - ch + 1)).long()
        x0 = (torch.rand(b, generator=g) * (w - cw + 1)).long()
        out["crop"] = torch.stack([y0, x0, ch, cw])
    if aug.pad:
        p = aug.pad
        dy = torch.randint(0, 2 * p + 1, (b,), generator=g)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=g)
        out["shift"] = torch.stack([dy, dx])
    if aug.flip:
        out["flip"] = (torch.rand(b, generator=g) < 0.5).long()
    if aug.cutout:
        k = aug.cutout
        cy = torch.randint(0, h, (b,), generator=g) - k // 2
        cx = torch.randint(0, w, (b,), generator=g) - k // 2
        out["hole"] = torch.stack([cy, cx])
    return out


def _resized_crop(x: Tensor, crop: Tensor) -> Tensor:
    """The resized crops ``crop`` (4, B) of a float batch (B, C, H, W), each back to H x W."""
    _, _, h, w = x.shape
    out = torch.empty_like(x)
    for i, (top, left, hh, ww) in enumerate(crop.t().tolist()):  # (CPU values: no sync)
        part = x[i : i + 1, :, top : top + hh, left : left + ww]  # (1, C, hh, ww)
        out[i] = F.interpolate(part, size=(h, w), mode="bilinear", align_corners=False)[0]
    return out


def _augment(x: Tensor, aug: Augment, draws: dict[str, Tensor]) -> Tensor:
    """Augment a float batch (B, C, H, W) with its rows of :func:`_draw`'s draws (CPU).  The draws
    the device needs go there with one non-blocking copy (:func:`to_device_at_once`)."""
    b, c, h, w = x.shape
    if "crop" in draws:
        x = _resized_crop(x, draws["crop"])
    keys = [k for k in ("shift", "flip", "hole") if k in draws]
    on_dev = dict(zip(keys, to_device_at_once([draws[k] for k in keys], x.device), strict=True))
    if aug.pad:
        p = aug.pad
        dy, dx = on_dev["shift"]
        xp = torch.nn.functional.pad(x, (p, p, p, p))  # (B, C, H+2p, W+2p)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(c, device=x.device)[None, :, None, None]
        x = xp[bi, ci, rows, cols]  # (B, C, H, W)
    if aug.flip:
        flip = on_dev["flip"].bool()
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if aug.cutout:
        k = aug.cutout
        cy, cx = on_dev["hole"][:, :, None, None]  # each (B, 1, 1)
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
        h, w = self.data.images.shape[-2:]
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            draws = _draw(self.augment, len(idx), h, w, g)  # the whole global batch's
            if self.world_size > 1:  # this rank's rows only: copied, augmented, normalised
                rows = slice(self.rank, None, self.world_size)
                idx = idx[rows]
                draws = {k: v[..., rows] for k, v in draws.items()}  # (rows are the last dim)
            x = self.data.images[idx].to(self.device, non_blocking=True).float().div_(255)
            y = self.data.labels[idx].to(self.device, non_blocking=True)
            x = _augment(x, self.augment, draws)
            yield (x - self._mean) / self._std, y


__all__ = ["Augment", "BatchLoader"]
