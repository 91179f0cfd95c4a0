"""Seconds per Fashion-MNIST training epoch (55,000 images + 5,000 validation) through ``bars_zoo.train``.

    .venv/bin/python -m benchmarks.bench_fmnist_epoch                       # CPU, every fmnist genotype
    .venv/bin/python -m benchmarks.bench_fmnist_epoch --models xnor-resnet18-fmnist --device cuda

A full epoch on a shared 2-core CPU takes far too long to time directly, so each model is trained
for ``--epochs`` short epochs on a seeded subset (``--subset`` images: the recipe holds out 1/12 for
validation, the rest is ``--subset * 11/12 // 256`` steps of the recipe's batch of 256) with the real
loop: augmentation, Adam + cosine, per-epoch validation, checkpoints.  From the last (warm) epoch:
training images/s; validation images/s is timed apart with ``bars_zoo.evaluate``.  Projected epoch
= ``55,000 / train_ips + 5,000 / eval_ips`` (checkpoint writes are negligible at this size).
On a shared machine the wall-clock numbers depend on the neighbours, so the CPU share we got
(process CPU time / wall time / threads) and an "unshared" epoch estimate from CPU seconds per
trained image (an upper bound: setup and evaluation are included) are recorded too.  Results: ``benchmarks/results/fmnist_epoch.json`` and ``.md`` (merged by device).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bars_zoo._io import atomic_write_text
from bars_zoo._resources import resource_dir
from bars_zoo.complexity import complexity
from bars_zoo.training import evaluate, hardware, train
from bars_zoo.zoo import load_genotype

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_IMAGES, VAL_IMAGES = 55_000, 5_000


def fmnist_genotypes() -> list[str]:
    """Every zoo genotype with a 1x28x28 input (the Fashion-MNIST ones)."""
    names = []
    for path in sorted(resource_dir("genotypes").glob("*.geno")):
        if "input 1x28x28" in path.read_text(encoding="utf-8"):
            names.append(path.stem)
    return names


def measure(name: str, device: str, subset: int, epochs: int, amp: bool) -> dict[str, Any]:
    spec = load_genotype(name)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train(
            spec,
            dataset="fashion-mnist",
            epochs=epochs,
            out_dir=Path(tmp) / "run",
            subset=subset,
            device=device,
            amp=amp,
            progress=False,
        )
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    last = result.history[-1]
    train_ips = float(last["images_per_s"])
    model = result.model
    t0 = time.perf_counter()
    val = evaluate(model, "fashion-mnist", "val", subset=subset, device=device, amp=amp)
    eval_ips = val["n"] / (time.perf_counter() - t0)
    epoch_s = TRAIN_IMAGES / train_ips + VAL_IMAGES / eval_ips
    # CPU seconds per trained image over the whole call (setup, validation and test included, so
    # an upper bound): what an epoch would take with the threads to ourselves
    steps = (subset - round(subset / 12)) // 256
    cpu_per_image = cpu_s / (epochs * steps * 256)
    threads = torch.get_num_threads()
    cx = complexity(spec)
    return {
        "model": name,
        "params": cx.params,
        "bops": cx.bops,
        "steps_per_short_epoch": steps,
        "train_images_per_s": round(train_ips, 1),
        "eval_images_per_s": round(eval_ips, 1),
        "projected_epoch_s": round(epoch_s, 1),
        "projected_100_epochs_h": round(100 * epoch_s / 3600, 2),
        "cpu_share": round(cpu_s / wall_s / threads, 2),
        "unshared_epoch_s": round(cpu_per_image * TRAIN_IMAGES / threads, 1)
        if device == "cpu"
        else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", help="zoo names (default: every 1x28x28 genotype)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--subset", type=int, default=1536, help="images per short epoch (+1/12 val)")
    p.add_argument("--epochs", type=int, default=2, help="short epochs (the last one is timed)")
    p.add_argument("--amp", action="store_true")
    args = p.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    rows = [
        measure(m, args.device, args.subset, args.epochs, args.amp)
        for m in (args.models or fmnist_genotypes())
    ]
    key = f"{device.type}{'-amp' if args.amp else ''}"
    entry = {
        "hardware": hardware(device, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "batch_size": 256,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "fmnist_epoch.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = entry
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    lines = ["# Fashion-MNIST epoch time (55,000 train + 5,000 val images, batch 256)", ""]
    for k, e in sorted(data.items()):
        load = e.get("load_average")
        lines += [f"## {k}: {e['hardware']}, torch {e['torch']}, load average {load}", ""]
        lines += ["| model | train img/s | eval img/s | epoch (s) | 100 epochs (h) | CPU share |"]
        lines += ["|---|---|---|---|---|---|"]
        for r in e["rows"]:
            lines.append(
                f"| {r['model']} | {r['train_images_per_s']} | {r['eval_images_per_s']} | "
                f"{r['projected_epoch_s']} | {r['projected_100_epochs_h']} | "
                f"{r.get('cpu_share')} |"
            )
        unshared = [r for r in e["rows"] if r.get("unshared_epoch_s")]
        if unshared:
            lines += ["", "CPU share = process CPU time / (wall time x threads). Epoch with the"]
            lines += ["threads to ourselves (from CPU seconds per image, an upper bound):", ""]
            lines += [f"- {r['model']}: {r['unshared_epoch_s']} s" for r in unshared]
        lines.append("")
    atomic_write_text(RESULTS / "fmnist_epoch.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
