"""Data-parallel training across processes: ``torchrun`` + DistributedDataParallel (DDP).

One process per device.  ``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (and the
rendezvous variables); :func:`init` reads them, picks the backend (NCCL for CUDA, gloo for the CPU)
and the process's device.  Without those variables everything runs in one process.

The contract that makes N processes equal one process: every step consumes one *global* batch of
``B`` images, split row-wise across ranks (:class:`bars_zoo.batches.BatchLoader` with ``rank`` /
``world_size``); each rank's loss is ``sum(loss_i) / B * world_size``, so DDP's gradient *average*
equals the single-process gradient of the mean loss over the global batch, even when ``B`` is not a
multiple of ``world_size``; and batch norm computes its statistics over the global batch.

Batch norm across processes: :class:`torch.nn.SyncBatchNorm` only runs on GPUs (it raises on CPU
tensors), so on the CPU :class:`GlobalBatchNorm2d` does the same thing with one ``all_reduce`` of
the per-channel sums and sums of squares, whose backward is again an all-reduce.
:func:`convert_sync_batchnorm` picks torch's fused SyncBatchNorm on CUDA and ours elsewhere.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from bars_zoo.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_from_environ(environ: dict[str, str] | None = None) -> DistEnv:
    """The :class:`DistEnv` that ``torchrun`` describes in the environment (one process if none)."""
    environ = dict(os.environ) if environ is None else environ
    try:
        world = int(environ.get("WORLD_SIZE", "1"))
        rank = int(environ.get("RANK", "0"))
        local = int(environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ConfigError(
            f"malformed distributed environment: {exc}",
            hint="launch with torchrun, which sets RANK, LOCAL_RANK and WORLD_SIZE",
        ) from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(
            f"RANK={rank} is not in range for WORLD_SIZE={world}",
            hint="launch with torchrun, which sets RANK, LOCAL_RANK and WORLD_SIZE",
        )
    return DistEnv(rank=rank, local_rank=local, world_size=world)


def init(env: DistEnv, device: torch.device) -> torch.device:
    """Join the process group of ``env`` (no-op for one process); returns this rank's device.

    A CUDA ``device`` becomes ``cuda:LOCAL_RANK`` with the NCCL backend; anything else uses gloo.
    """
    if not env.distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise ConfigError(
                "WORLD_SIZE > 1 but no rendezvous address (MASTER_ADDR) is set",
                hint="launch with `torchrun --nproc_per_node N -m bars_zoo train ...`",
            )
        kwargs = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(
            backend,
            rank=env.rank,
            world_size=env.world_size,
            timeout=datetime.timedelta(minutes=30),
            **kwargs,  # type: ignore[arg-type]
        )
    log.info("rank %d/%d on %s (%s)", env.rank, env.world_size, device, backend)
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(values: Tensor, env: DistEnv) -> Tensor:
    """Sum ``values`` over all ranks (returns the tensor itself for one process)."""
    if env.distributed and dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_object(obj: object, env: DistEnv) -> object:
    """Rank 0's ``obj`` on every rank."""
    if not (env.distributed and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class _AllReduceSum(torch.autograd.Function):
    """``y = sum_r x_r`` on every rank; backward ``dx_r = sum_k dy_k`` (every rank's loss uses y)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = x.clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        g = grad.contiguous().clone()
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        return g


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose training statistics cover the batch of *all* processes.

    The same computation as :class:`torch.nn.SyncBatchNorm` (Ioffe & Szegedy 2015 over the global
    batch), written with ordinary ops and one autograd-aware ``all_reduce`` so that it runs on any
    backend, gloo on the CPU included.  Forward: ``mean = sum_r S1_r / n``, ``var = sum_r S2_r / n - mean^2``
    (biased, as batch norm normalises), running variance updated with the unbiased ``n / (n - 1)``.
    Gradients flow through the all-reduce (sum), so each rank receives the gradient of the global
    normalisation.  Without an initialised process group it equals :class:`torch.nn.BatchNorm2d`.
    """

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W)
        if not self.training or not (dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        c = x.shape[1]
        xf = x.float()
        count = torch.full((1,), float(x.shape[0] * x.shape[2] * x.shape[3]), device=x.device)
        stats = torch.cat([xf.sum(dim=(0, 2, 3)), (xf * xf).sum(dim=(0, 2, 3)), count])  # (2C+1,)
        stats = _AllReduceSum.apply(stats)
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 0.0
                if self.momentum is None:  # cumulative moving average
                    m = 1.0 / float(self.num_batches_tracked)
                unbiased = var * (n / (n - 1).clamp_min(1))
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def _to_global_bn(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        out = GlobalBatchNorm2d(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            device=module.weight.device if module.affine else None,
        )
        out.load_state_dict(module.state_dict())
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _to_global_bn(child))
    return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every ``BatchNorm2d`` in ``module`` computes global-batch statistics under DDP.

    CUDA: :meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm` (fused kernels); CPU and others:
    :class:`GlobalBatchNorm2d`.  Parameter and buffer names are unchanged, so state dicts load into
    the plain model.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_global_bn(module)


def revert_batchnorm(module: nn.Module) -> nn.Module:
    """Plain ``BatchNorm2d`` again (same parameters and buffers), for saving and single-process use."""
    out = module
    if isinstance(module, nn.SyncBatchNorm | GlobalBatchNorm2d):
        out = nn.BatchNorm2d(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        ).to(module.weight.device if module.affine else "cpu")
        out.load_state_dict(module.state_dict())
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, revert_batchnorm(child))
    return out


__all__ = [
    "DistEnv",
    "GlobalBatchNorm2d",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "convert_sync_batchnorm",
    "env_from_environ",
    "init",
    "revert_batchnorm",
    "shutdown",
]
