"""The search's arithmetic precision: whether ``amp`` means bf16 autocast on a device, and the
autocast context factory the supernet steps run under.

``amp="auto"`` is bf16 on CUDA devices that support it and on CPUs that multiply bf16 natively
(AVX512-BF16 or AMX, read from ``/proc/cpuinfo``), fp32 elsewhere; ``"bf16"`` and ``"off"`` say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

from bars_zoo.search.config import SearchConfig


def _cpu_has_native_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX), where bf16 convs are ~2x faster."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(amp: str, device: torch.device) -> bool:
    """``amp="auto"``: bf16 on CUDA devices that support it and on CPUs with native bf16."""
    if amp != "auto":
        return amp == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_native_bf16()


def autocast_for(cfg: SearchConfig, device: torch.device, cache: bool = True) -> Callable[[], Any]:
    """bf16 autocast or nothing; ``cache=False`` while steps are captured as CUDA graphs."""
    if not use_bf16(cfg.amp, device):
        return contextlib.nullcontext
    return lambda: torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache
    )


__all__ = ["autocast_for", "use_bf16"]
