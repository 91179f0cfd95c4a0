"""Training-step throughput of built models: images/s for forward + backward + Adam step.

    .venv/bin/python -m benchmarks.bench_train_step                      # CPU, 2 threads, batch 64
    .venv/bin/python -m benchmarks.bench_train_step --device cuda --steps 20
    .venv/bin/python -m benchmarks.bench_train_step --device cuda --steps 20 --cuda-graph [--amp]

Each model (default: ``bars-b`` and ``xnor-resnet18-cifar10`` from ``genotypes/``; a missing genotype
falls back to ``genotypes/example.geno`` and the result says so) is built with
:func:`bars_zoo.build`, fed random images of its input shape and random labels (cross-entropy), and
stepped ``--warmup`` times untimed, then ``--steps`` times timed.  Reported: images/s over the timed
steps (``batch * steps / total``), images/s of the fastest step (the least disturbed one on a shared
machine), and the median and fastest step times.  ``--cuda-graph`` times the same step captured as
one CUDA graph (:class:`bars_zoo.graphstep.GraphedStep`, as ``bars-zoo train --cuda-graph``; the
warm-up must be at least its 3 eager steps plus the capture).  Results go to
``benchmarks/results/train_step.json`` and ``.md`` (merged by device, so a CUDA run adds to a CPU
run instead of replacing it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import bars_zoo
from bars_zoo._io import atomic_write_text
from bars_zoo._resources import resource_dir
from bars_zoo.graphstep import GraphedStep, make_capturable

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MODELS = ("bars-b", "xnor-resnet18-cifar10")


def resolve(name: str) -> tuple[Path, str | None]:
    """The genotype file for ``name``, and a note when it fell back to the example genotype."""
    folder = resource_dir("genotypes")
    path = folder / f"{name}.geno"
    if path.is_file():
        return path, None
    return folder / "example.geno", f"genotypes/{name}.geno not found: measured example.geno"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_model(
    name: str,
    device: torch.device,
    batch: int,
    warmup: int,
    steps: int,
    compile_: bool,
    graph: bool = False,
    amp: bool = False,
) -> dict[str, Any]:
    path, note = resolve(name)
    spec = bars_zoo.read(path)
    torch.manual_seed(0)
    model = bars_zoo.build(spec, device=device)
    model.train()
    step_model = torch.compile(model) if compile_ else model
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.randn(batch, *spec.input_shape, device=device)
    y = torch.randint(0, spec.num_classes, (batch,), device=device)

    def fwd_bwd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=amp, cache_enabled=not graph
        ):
            logits = step_model(x)
        loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        return loss.detach()

    if graph:
        make_capturable(opt, device)
        graphed = GraphedStep(fwd_bwd, opt)

        def step() -> None:
            graphed(x, y)

    else:

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            fwd_bwd(x, y)

    for _ in range(warmup):
        step()
    _sync(device)
    if graph and not graphed.captured:
        raise SystemExit(
            f"{name}: the CUDA graph was not captured (warm-up < 4, or capture failed)"
        )
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    total = sum(times)
    return {
        "model": name,
        "genotype": f"genotypes/{path.name}",
        "note": note,
        "params": sum(p.numel() for p in model.parameters()),
        "input_shape": list(spec.input_shape),
        "batch": batch,
        "warmup_steps": warmup,
        "timed_steps": steps,
        "images_per_s": round(batch * steps / total, 2),
        "best_images_per_s": round(batch / min(times), 2),  # least disturbed step (timeit's rule)
        "median_step_s": round(statistics.median(times), 4),
        "fastest_step_s": round(min(times), 4),
    }


def environment(
    device: torch.device,
    threads: int,
    compile_: bool,
    load_before: float,
    graph: bool = False,
    amp: bool = False,
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "device": device.type,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "torch_threads": threads,
        "compile": compile_,
        "cuda_graph": graph,
        "amp": amp,
        "optimizer": "Adam(lr=2e-3)",
        "loss": "cross_entropy on random data",
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    else:
        env["cpu_count"] = os.cpu_count()
        # other work on a shared machine, before and after the measurement
        env["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return env


def to_markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Training-step throughput",
        "",
        "Forward + backward + Adam step on random data, `python -m benchmarks.bench_train_step`.",
        "",
        "| device | model | genotype | batch | images/s | best images/s | median step (s) | fastest step (s) | note |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for key, run in sorted(results.items()):
        env = run["environment"]
        where = env.get("gpu") or f"{key} ({env['torch_threads']} threads)"
        if env["compile"]:
            where += ", compiled"
        if env.get("cuda_graph"):
            where += ", CUDA graph"
        if env.get("amp"):
            where += ", bf16 autocast"
        for r in run["models"]:
            lines.append(
                f"| {where} | {r['model']} | {r['genotype']} | {r['batch']} | {r['images_per_s']} | "
                f"{r['best_images_per_s']} | {r['median_step_s']} | {r['fastest_step_s']} | "
                f"{r['note'] or ''} |"
            )
    lines += [
        "",
        "Environments:",
        "",
        *(
            f"- {key}: torch {r['environment']['torch']}, {r['environment']['processor']}, "
            f"measured {r['measured_at']}"
            + (
                f", {r['environment']['cpu_count']} cores, 1-min load average "
                f"{' -> '.join(map(str, r['environment']['load_average_1min']))} (before -> after)"
                if "load_average_1min" in r["environment"]
                else ""
            )
            for key, r in sorted(results.items())
        ),
        "",
        "CPU numbers depend heavily on what else the machine runs (see the load average): compare",
        "models measured in the same run, not runs with each other; 'best images/s' (the fastest",
        "step) is the least disturbed estimate.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model first")
    p.add_argument("--cuda-graph", action="store_true", help="replay the step as a CUDA graph")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (as bars-zoo train --amp)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for train_step.json/.md")
    args = p.parse_args(argv)

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if args.cuda_graph and (device.type != "cuda" or args.compile):
        p.error("--cuda-graph needs --device cuda and no --compile")
    if args.cuda_graph:
        args.warmup = max(args.warmup, 4)  # 3 eager warm-up steps + the capture
    torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    load_before = os.getloadavg()[0]
    models = [
        bench_model(
            m, device, args.batch, args.warmup, args.steps, args.compile, args.cuda_graph, args.amp
        )
        for m in args.models
    ]
    for r in models:
        print(
            f"{device.type:5s} {r['model']:28s} {r['images_per_s']:9.1f} images/s  {r['note'] or ''}"
        )

    out_json = args.out / "train_step.json"
    results: dict[str, Any] = {}
    if out_json.is_file():
        results = json.loads(out_json.read_text(encoding="utf-8"))
    key = device.type
    if device.type == "cpu" and args.threads != 2:
        key += f"-{args.threads}threads"
    key += "-compiled" if args.compile else ""
    key += "-graphed" if args.cuda_graph else ""
    key += "-bf16" if args.amp else ""
    results[key] = {
        "environment": environment(
            device, args.threads, args.compile, load_before, args.cuda_graph, args.amp
        ),
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "models": models,
    }
    atomic_write_text(out_json, json.dumps(results, indent=2) + "\n")
    atomic_write_text(args.out / "train_step.md", to_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
