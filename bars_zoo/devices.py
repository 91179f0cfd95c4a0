"""Which torch device a command runs on (``--device`` parsed, checked, or chosen), and moving a
step's host-drawn values onto it in one copy."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bars_zoo.errors import ConfigError, option


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``None`` -> CUDA when available, else the CPU.  A device string torch does not know, or a
    CUDA device this machine does not have, is a :class:`ConfigError` (a usage error)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(
            f"unknown device {device!r}", hint=f"use cpu, cuda, cuda:1 ... ({option('device')})"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {str(device)!r} was asked for but CUDA is not available",
                hint=f"use the cpu ({option('device', 'cpu')})",
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA "
                "device(s)",
                hint="count from cuda:0",
            )
    elif dev.type != "cpu":  # meta holds no data: nothing to train or classify with
        raise ConfigError(
            f"device {device!r} is not supported (bars-zoo runs on cpu and cuda)",
            hint=f"use cpu or cuda ({option('device', 'cpu')}, {option('device', 'cuda')})",
        )
    return dev


def to_device_at_once(tensors: Sequence[Tensor], device: torch.device) -> list[Tensor]:
    """``tensors`` (CPU, one dtype) on ``device`` with one copy: a pageable host tensor's copy to a
    GPU blocks the host until it is done, so a step that copied its random draws one by one
    waited several times per step.  They are packed into one buffer (pinned for CUDA), copied
    without blocking and split on the device; the values are the same.  On the CPU: ``tensors``."""
    if device.type == "cpu" or not tensors:
        return list(tensors)
    sizes = [t.numel() for t in tensors]
    buf = torch.empty(sum(sizes), dtype=tensors[0].dtype, pin_memory=device.type == "cuda")
    torch.cat([t.reshape(-1) for t in tensors], out=buf)
    flat = buf.to(device, non_blocking=True)
    return [part.view(t.shape) for part, t in zip(flat.split(sizes), tensors, strict=True)]


__all__ = ["resolve_device", "to_device_at_once"]
