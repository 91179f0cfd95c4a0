"""The search's arithmetic precision: whether ``amp`` means bf16 autocast on a device, and the
autocast context factory the supernet steps run under.

``amp="auto"`` is bf16 on CUDA devices that compute in it natively (Ampere on) and on CPUs that multiply bf16 natively
(AVX512-BF16 or AMX, read from ``/proc/cpuinfo``), fp32 elsewhere; ``"bf16"`` and ``"off"`` say so.
A run records the mode it began with (:func:`run_precision`): a resume with ``"auto"`` keeps it on
any machine, so a run never switches precision half-way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import torch

from bars_zoo.errors import ConfigError, option
from bars_zoo.search.config import SearchConfig

log = logging.getLogger("bars_zoo.search")


def _cpu_has_native_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX), where bf16 convs are ~2x faster."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cuda_has_native_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` (not the current one) computes in bf16 natively: compute
    capability 8.0 (Ampere) or later.  ``torch.cuda.is_bf16_supported()`` also says yes where bf16
    is only emulated (a V100, a T4: slower than fp32) and asks the current device."""
    return torch.cuda.get_device_capability(device) >= (8, 0)


def cuda_can_run_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` can go on with a bf16 run at all, natively or emulated (a V100,
    a T4): ``torch.cuda.is_bf16_supported()`` asked of ``device``, not of the current one."""
    if cuda_has_native_bf16(device):
        return True
    with torch.cuda.device(device):
        return bool(torch.cuda.is_bf16_supported())


def use_bf16(amp: str, device: torch.device) -> bool:
    """``amp="auto"``: bf16 on CUDA devices with native bf16 and on CPUs with native bf16."""
    if amp != "auto":
        return amp == "bf16"
    if device.type == "cuda":
        return cuda_has_native_bf16(device)
    return device.type == "cpu" and _cpu_has_native_bf16()


def mode_name(bf16: bool) -> str:
    return "bf16" if bf16 else "off"


def run_precision(amp: str, device: torch.device, recorded: bool | None) -> bool:
    """Whether a run uses bf16 on ``device``.  ``recorded``: the mode its checkpoint was made in
    (``None``: a new run, or a checkpoint from before the mode was recorded), which a resume with
    ``amp="auto"`` keeps (``"bf16"``/``"off"`` are part of the run's fingerprint: they cannot
    differ from the mode recorded).  Native bf16 only chooses the mode of a new run: a CUDA device
    that emulates bf16 (a V100, a T4) goes on with a bf16 run, as it did before the choice looked at
    the compute capability; only one without bf16 at all cannot."""
    if recorded is None or amp != "auto":
        return use_bf16(amp, device)
    if recorded and device.type == "cuda" and not cuda_can_run_bf16(device):
        raise ConfigError(
            f"this search began in bf16 ({option('amp', 'auto')} chose it on its first machine), and {device} "
            "has no bf16: resuming in fp32 would switch its precision half-way",
            hint="resume on a device with bf16 (any CPU, or a CUDA GPU from Ampere on), or start "
            f"a new search (another {option('run_dir')} / {option('out')}) with {option('amp', 'off')}",
        )
    if recorded != use_bf16(amp, device):
        log.info(
            "--amp auto: keeping the run's precision (%s), which it began with; on %s a new run "
            "would use %s",
            mode_name(recorded),
            device,
            mode_name(not recorded),
        )
    return recorded


def autocast_for(
    cfg: SearchConfig, device: torch.device, cache: bool = True, *, bf16: bool | None = None
) -> Callable[[], Any]:
    """bf16 autocast or nothing; ``cache=False`` while steps are captured as CUDA graphs.
    ``bf16``: the run's mode (:func:`run_precision`), else ``cfg.amp`` resolved on ``device``."""
    if not (use_bf16(cfg.amp, device) if bf16 is None else bf16):
        return contextlib.nullcontext
    return lambda: torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache
    )


__all__ = [
    "autocast_for",
    "cuda_can_run_bf16",
    "cuda_has_native_bf16",
    "mode_name",
    "run_precision",
    "use_bf16",
]
