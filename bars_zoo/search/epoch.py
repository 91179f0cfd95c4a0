"""One search epoch: the alternating weights / alpha steps over its batches, and its record.

Each epoch sets the cosine learning rate, the temperature and the entropy weight of its index
(:mod:`bars_zoo.search.strategy`), then takes one batch of half A per step (a weights step) and,
after the warm-up, one batch of half B (an alpha step).  The step losses stay on the device until
the epoch ends (no host sync per step); the record is what ``log.jsonl`` holds for the epoch,
completed by :func:`bars_zoo.search.records.arch_record`.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

import torch
from tqdm import tqdm

from bars_zoo.batches import BatchLoader
from bars_zoo.search.records import arch_record
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.steps import SearchSteps
from bars_zoo.search.strategy import entropy_weight, is_warmup, temperature, weight_lr


def run_epoch(
    steps: SearchSteps,
    space: SearchSpace,
    loader_a: BatchLoader,
    loader_b: BatchLoader,
    n_steps: int,
    epoch: int,
    device: torch.device,
    *,
    progress: bool,
) -> dict[str, Any]:
    """Run epoch ``epoch`` (0-based) of ``n_steps`` steps; return its ``log.jsonl`` record."""
    cfg = steps.cfg
    tau, lam, lr = temperature(cfg, epoch), entropy_weight(cfg, epoch), weight_lr(cfg, epoch)
    steps.set_lr(lr)
    warm = is_warmup(cfg, epoch)
    loader_a.set_epoch(epoch)
    loader_b.set_epoch(epoch)
    batches_b = iter(loader_b) if not warm else None
    zero = torch.zeros((), device=device)
    st = {k: zero.clone() for k in ("w_loss", "w_acc", "a_loss", "a_acc", "factor", "entropy")}
    t0 = time.perf_counter()
    bar = tqdm(
        itertools.islice(loader_a, n_steps),
        total=n_steps,
        desc=f"search {epoch + 1}/{cfg.epochs}" + (" warm-up" if warm else ""),
        disable=not progress,
        leave=False,
        file=sys.stderr,
    )
    steps.net.train()
    for xa, ya in bar:
        loss, acc = steps.weights_step(xa, ya, tau)
        st["w_loss"] += loss
        st["w_acc"] += acc
        if batches_b is None:
            continue
        xb, yb = next(batches_b)
        ce, acc, parts = steps.arch_step(xb, yb, tau, epoch)
        st["a_loss"] += ce
        st["a_acc"] += acc
        st["factor"] += parts["factor"]
        st["entropy"] += parts["entropy"]
    bar.close()
    mean = {k: float(v) / n_steps for k, v in st.items()}
    rec: dict[str, Any] = {
        "epoch": epoch,
        "phase": "warmup" if warm else "search",
        "steps": n_steps,
        "seconds": round(time.perf_counter() - t0, 3),
        "lr": lr,
        "temperature": tau,
        "entropy_weight": lam,
        "train_loss": mean["w_loss"],
        "train_acc": mean["w_acc"],
        "val_loss": None if warm else mean["a_loss"],
        "val_acc": None if warm else mean["a_acc"],
        "complexity_factor": None if warm else mean["factor"],
    }
    graphs = steps.graph_status()
    if graphs is not None:
        rec["cuda_graph"] = graphs
    return {**rec, **arch_record(space, steps.arch)}


__all__ = ["run_epoch"]
