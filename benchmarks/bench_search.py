"""BARS search throughput: seconds per search step, and the projected time of whole searches.

    .venv/bin/python -m benchmarks.bench_search                          # CPU, 2 timed steps
    .venv/bin/python -m benchmarks.bench_search --device cuda --steps 20 # a GPU, bf16 autocast

For each preset shape (default ``paper``: CIFAR-10 3x32x32, 14 cells, base 48/96/192, batch 64; and
``fmnist``: 1x28x28, base 32/64/128, batch 64) the supernet of :mod:`bars_zoo.search` is fed random
images and labels and stepped with the runner's own code (:class:`bars_zoo.search.steps.SearchSteps`):

* ``warmup_step``: one weights step (warm-up epochs);
* ``search_step``: one weights step + one alpha step (every later step);
* ``eval_batch``: one forward of a one-hot candidate (derive).

After ``--warmup`` untimed repetitions each is timed ``--steps`` times (median reported).  The
projection multiplies by the preset's steps per epoch (``(images / 2) // batch``: half the training
split per kind of step) and epochs: ``warmup_epochs * steps * warmup_step + (epochs - warmup_epochs)
* steps * search_step + candidates * derive_batches * eval_batch``.  Results are merged by device
into ``benchmarks/results/search.json`` and ``.md`` (keyed ``<device>-<bf16|fp32>[-<threads>t]``; ``--amp`` as for
the search: ``auto`` is bf16 on CUDA and on CPUs with native bf16).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from bars_zoo._io import atomic_write_text
from bars_zoo.data import dataset_info
from bars_zoo.search.precision import autocast_for, use_bf16
from bars_zoo.search.presets import config_for
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.steps import SearchSteps
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_IMAGES = {"cifar10": 50_000, "fashion-mnist": 60_000, "synthetic": 2048}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Any, device: torch.device, warmup: int, steps: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(steps):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t)
    return out


def bench_preset(
    preset: str, device: torch.device, warmup: int, steps: int, amp: str = "auto"
) -> dict[str, Any]:
    cfg = config_for(preset, budget_ops=1e6, amp=amp)  # with a budget: the alpha step pays for it
    info = dataset_info(cfg.dataset)
    space = SearchSpace(cfg, info.input_shape, info.num_classes)
    torch.manual_seed(0)
    net = Supernet(space).to(device)
    arch = ArchParams(space).to(device)
    autocast = autocast_for(cfg, device)
    stepper = SearchSteps(cfg, net, arch, torch.Generator().manual_seed(0), autocast)
    b = cfg.batch_size
    x = torch.randn(b, *info.input_shape, device=device)
    y = torch.randint(0, info.num_classes, (b,), device=device)
    epoch = cfg.warmup_epochs  # the first epoch with alpha steps
    choice = space.argmax_choice(*arch.probs())
    hard = arch.one_hot(choice)

    def search_step() -> None:
        stepper.weights_step(x, y, 1.0)
        stepper.arch_step(x, y, 1.0, epoch)

    @torch.no_grad()
    def eval_batch() -> None:
        with autocast():
            net(x, hard)

    t_w = _time(lambda: stepper.weights_step(x, y, 1.0), device, warmup, steps)
    t_s = _time(search_step, device, warmup, steps)
    t_e = _time(eval_batch, device, warmup, steps)
    n = min(TRAIN_IMAGES[cfg.dataset], cfg.subset or TRAIN_IMAGES[cfg.dataset])
    per_epoch = (n // 2) // b
    med = {k: statistics.median(v) for k, v in (("w", t_w), ("s", t_s), ("e", t_e))}
    derive_batches = min(cfg.derive_batches or per_epoch, per_epoch)
    total = (
        cfg.warmup_epochs * per_epoch * med["w"]
        + (cfg.epochs - cfg.warmup_epochs) * per_epoch * med["s"]
        + cfg.derive_candidates * derive_batches * med["e"]
    )
    return {
        "preset": preset,
        "dataset": cfg.dataset,
        "input": list(info.input_shape),
        "cells": space.num_cells,
        "base_channels": list(cfg.base_channels),
        "batch": b,
        "params": sum(p.numel() for p in net.parameters()),
        "amp": "bf16" if autocast is not contextlib.nullcontext else "off",
        "warmup_step_s": round(med["w"], 4),
        "search_step_s": round(med["s"], 4),
        "eval_batch_s": round(med["e"], 4),
        "search_step_fastest_s": round(min(t_s), 4),
        "timed_steps": steps,
        "steps_per_epoch": per_epoch,
        "epochs": cfg.epochs,
        "warmup_epochs": cfg.warmup_epochs,
        "projected_search_h": round(total / 3600, 3),
    }


def _markdown(results: dict[str, Any]) -> str:
    lines = [
        "# BARS search throughput",
        "",
        "Produced by `python -m benchmarks.bench_search` (see its docstring for the method).",
        "`search step` = one weights step + one alpha step at the preset's batch size; the projection",
        "covers all epochs (warm-up epochs run weights steps only) plus deriving 8 candidates.",
        "",
        "| device | preset | input | cells | batch | warm-up step s | search step s | steps/epoch | epochs | projected search |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dev, run in results.items():
        for r in run["presets"]:
            hours = r["projected_search_h"]
            proj = f"{hours:.2f} h" if hours >= 1 else f"{hours * 60:.1f} min"
            lines.append(
                f"| {dev} ({run['device_name']}, {run['threads']} threads, amp {r['amp']}) "
                f"| {r['preset']} | {'x'.join(map(str, r['input']))} | {r['cells']} | {r['batch']} "
                f"| {r['warmup_step_s']:.3f} | {r['search_step_s']:.3f} | {r['steps_per_epoch']} "
                f"| {r['epochs']} | {proj} |"
            )
    lines += ["", "Measured on a shared machine: CPU numbers depend heavily on its load.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--presets", nargs="+", default=["paper", "fmnist"])
    ap.add_argument("--steps", type=int, default=2, help="timed repetitions")
    ap.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument(
        "--amp", choices=("auto", "bf16", "off"), default="auto", help="as the search's"
    )
    ap.add_argument("--no-save", action="store_true", help="print only")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    runs = []
    for preset in args.presets:
        r = bench_preset(preset, device, args.warmup, args.steps, args.amp)
        print(json.dumps(r))
        runs.append(r)
    entry = {
        "device_name": name,
        "threads": torch.get_num_threads(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "presets": runs,
    }
    if args.no_save:
        return 0
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "search.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    precision = "bf16" if use_bf16(args.amp, device) else "fp32"
    key = f"{device.type}-{precision}"
    if device.type == "cpu":
        key += f"-{torch.get_num_threads()}t"
    results[key] = entry
    atomic_write_text(path, json.dumps(results, indent=2) + "\n")
    atomic_write_text(RESULTS / "search.md", _markdown(results))
    print(f"wrote {path} and search.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
