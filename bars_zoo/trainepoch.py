"""One epoch of a training run: the step (forward, loss, backward, optimiser step), the pass over
the epoch's batches with its progress bar, and the epoch's record and log line.

The loss is cross-entropy plus ``aux_weight`` times the auxiliary tower's (BARS App. A), summed
over the batch and scaled by ``world_size / global_batch``, so that under DistributedDataParallel
the averaged gradient is the single-process one (:mod:`bars_zoo.distributed`); the epoch's train
tally is summed over ranks.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from bars_zoo import distributed as ddp
from bars_zoo.graphstep import GraphedStep, StepFn
from bars_zoo.traindata import TrainingData
from bars_zoo.training import TrainConfig
from bars_zoo.trainnet import TrainNet


def step_fn(
    cfg: TrainConfig, stepper: nn.Module, opt: torch.optim.Optimizer, scale: float
) -> StepFn:
    """Forward, loss, backward and the optimiser step of one batch; returns the device tally
    ``[summed cross-entropy, correct, images]`` (no host synchronisation, so it can be captured
    as a CUDA graph)."""
    aux_w = float(cfg.aux_weight or 0.0)
    # autocast's cast cache must be off while a CUDA graph is captured
    cache = not cfg.cuda_graph

    def step(x: Tensor, y: Tensor) -> Tensor:
        amp = (
            torch.autocast(x.device.type, dtype=torch.bfloat16, cache_enabled=cache)
            if cfg.amp
            else contextlib.nullcontext()
        )
        with amp:
            logits, aux_logits = stepper(x)
        ce = F.cross_entropy(
            logits.float(), y, reduction="none", label_smoothing=cfg.label_smoothing
        )
        loss = ce.sum()
        if aux_logits is not None:
            aux = F.cross_entropy(
                aux_logits.float(), y, reduction="sum", label_smoothing=cfg.label_smoothing
            )
            loss = loss + aux_w * aux
        (loss * scale).backward()
        opt.step()
        with torch.no_grad():
            correct = (logits.argmax(1) == y).sum().float()
            return torch.stack([ce.sum(), correct, ce.new_full((), float(y.shape[0]))])

    return step


def train_epoch(
    cfg: TrainConfig,
    env: ddp.DistEnv,
    step: StepFn,
    graphed: GraphedStep | None,
    net: TrainNet,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    data: TrainingData,
    epoch: int,
) -> Tensor:
    """Train ``net`` on epoch ``epoch``'s batches of ``data`` (through ``graphed`` when given,
    else ``step``), stepping ``sched`` per batch; returns the train tally summed over ranks."""
    net.train()
    batches = data.train
    batches.set_epoch(epoch)
    tally: Tensor | None = None
    show = (cfg.progress if cfg.progress is not None else sys.stderr.isatty()) and env.is_main
    bar = tqdm(
        total=len(batches),
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        disable=not show,
        leave=False,
    )
    for x, y in batches:
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if graphed is not None:
            t = graphed(x, y)
        else:
            opt.zero_grad(set_to_none=True)
            t = step(x, y)
        sched.step()
        if graphed is not None:
            graphed.refresh_lr()
        tally = t.double() if tally is None else tally + t.double()
        if bar.update() and show:
            # the bar redrew (at most every 0.1 s): only then read the values back (a host
            # sync on a GPU), shown from its next redraw on
            bar.set_postfix(
                loss=f"{float(t[0] / t[2]):.3f}",
                lr=f"{float(sched.get_last_lr()[0]):.2e}",
                refresh=False,
            )
    bar.close()
    assert tally is not None
    return ddp.all_reduce_sum(tally, env)


def wait_for(device: torch.device) -> None:
    """Wait until ``device`` has run the work queued on it: CUDA kernels run asynchronously, so a
    clock read right after an epoch's last step would time its launches, not its training."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def record(
    epoch: int, train: Tensor, val: dict[str, Any] | None, lr: float, dt: float, train_s: float
) -> dict[str, Any]:
    """The log record of (0-based) ``epoch``: train loss and top-1 from the tally ``train``, the
    validation ones, the learning rate, the epoch's seconds and training images per second."""
    loss_sum, correct, n = (float(v) for v in train.cpu())
    rec: dict[str, Any] = {
        "epoch": epoch + 1,
        "train_loss": loss_sum / n,
        "train_top1": correct / n,
    }
    if val is not None:
        rec.update(val_loss=val["loss"], val_top1=val["top1"])
    rec.update(lr=lr, epoch_time_s=round(dt, 3), images_per_s=round(n / max(train_s, 1e-9), 1))
    return rec


def epoch_line(rec: dict[str, Any]) -> str:
    """One line per epoch for logs: ``train loss 0.412 top-1 85.10%, val top-1 84.60%, 12.3 s``."""
    line = f"train loss {rec['train_loss']:.4f} top-1 {100 * rec['train_top1']:.2f}%"
    if "val_top1" in rec:
        line += f", val loss {rec['val_loss']:.4f} top-1 {100 * rec['val_top1']:.2f}%"
    return line + f", lr {rec['lr']:.3g}, {rec['epoch_time_s']:.1f} s"


__all__ = ["epoch_line", "record", "step_fn", "train_epoch", "wait_for"]
