"""Produce the Fashion-MNIST zoo in one sitting on one GPU: search three budgets, train the three
searched genotypes and the XNOR-ResNet-18 baseline, all with the public CLI.

    python scripts/fmnist_zoo.py --data-dir DIR --out DIR --minutes 9

1. ``bars-zoo search --preset fmnist --budget-ops B --time-limit T`` for the S/M/L budgets, in
   parallel (the time limit ends a search after the epoch that passes it; it still derives);
2. a short timing probe of one training step per model (all four share the GPU afterwards);
3. ``bars-zoo train G --dataset fashion-mnist --epochs E`` for the four models in parallel, with
   ``E`` chosen so that the runs end inside the time left (the cosine schedule always completes);
4. everything a person needs to bundle the models is packed into ``OUT/zoo.tar.gz``.

The number of epochs each model got, the hardware and the wall time are in each run's
``results.json`` and model card, so the recorded training command reproduces the model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

BUDGETS = {"bars-fmnist-s": "1.5M", "bars-fmnist-m": "4M", "bars-fmnist-l": "12M"}
BASELINE = "xnor-resnet18-fmnist"
TRAIN_IMAGES = 55_000  # 60k minus the 5k held-out validation split of the recipe


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_parallel(
    cmds: dict[str, list[str]], deadline: float, logdir: Path
) -> dict[str, int | None]:
    """Start every command, wait until all end or ``deadline`` (time.time()); kill the late ones."""
    procs = {}
    for name, cmd in cmds.items():
        f = (logdir / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        log(f"started {name}: {' '.join(cmd)}")
    codes: dict[str, int | None] = {}
    while procs:
        for name, p in list(procs.items()):
            if p.poll() is not None:
                codes[name] = p.returncode
                log(f"{name} exited {p.returncode}")
                del procs[name]
        if time.time() > deadline:
            for name, p in procs.items():
                p.kill()
                codes[name] = None
                log(f"{name} killed at the deadline")
            break
        time.sleep(1)
    return codes


def probe_step_seconds(genotype: str, device: str, batch: int) -> float:
    """Median seconds of one training step of ``genotype`` alone on ``device``."""
    import torch

    import bars_zoo

    spec = (
        bars_zoo.read(genotype) if genotype.endswith(".geno") else bars_zoo.load_genotype(genotype)
    )
    model = bars_zoo.build(spec, device=device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, *spec.input_shape, device=device)
    y = torch.randint(0, spec.num_classes, (batch,), device=device)
    times = []
    for i in range(18):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget of the whole job")
    ap.add_argument("--search-minutes", type=float, default=3.5)
    ap.add_argument(
        "--theta-under",
        type=float,
        default=None,
        help="passed to bars-zoo search (e.g. -0.2: pull each search up to its budget)",
    )
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--preset", default="fmnist")
    ap.add_argument("--subset", type=int, default=None, help="smoke runs: images per split")
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--min-epochs", type=int, default=3)
    ap.add_argument("--concurrency-factor", type=float, default=1.0)
    ap.add_argument("--probe-batch", type=int, default=256)
    args = ap.parse_args()

    t0 = time.time()
    end = t0 + args.minutes * 60
    out = Path(args.out)
    (out / "geno").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    py = [sys.executable, "-m", "bars_zoo"]
    common = ["--dataset", "fashion-mnist", "--data-dir", args.data_dir, "--device", args.device]
    subset = ["--subset", str(args.subset)] if args.subset else []

    searches = {
        name: [
            *py,
            "search",
            "--preset",
            args.preset,
            *common,
            *subset,
            "--budget-ops",
            budget,
            "--seed",
            "0",
            "--name",
            name,
            "--out",
            str(out / "geno" / f"{name}.geno"),
            "--run-dir",
            str(out / "search" / name),
            "--quiet",
            "--time-limit",
            f"{max(1, int(args.search_minutes * 60 - 80))}s",
            *(["--theta-under", str(args.theta_under)] if args.theta_under is not None else []),
        ]
        for name, budget in BUDGETS.items()
    }
    codes = run_parallel(searches, t0 + args.search_minutes * 60 + 30, out / "logs")
    genotypes = {n: str(out / "geno" / f"{n}.geno") for n, c in codes.items() if c == 0}
    genotypes[BASELINE] = BASELINE
    log(f"searched: {sorted(genotypes)}")

    probe = {n: probe_step_seconds(g, args.device, args.probe_batch) for n, g in genotypes.items()}
    total = sum(probe.values())
    log(f"probe s/step alone: {json.dumps(probe)}")
    left = end - time.time() - 45  # start-up, test evaluation and packing
    steps = -(-(args.subset or TRAIN_IMAGES) // 256)
    epochs = {}
    for n, s in probe.items():
        s, tot = s * 256 / args.probe_batch, total * 256 / args.probe_batch
        shared = max(s, args.concurrency_factor * tot)  # the GPU is shared by all runs
        per_epoch = steps * shared * 1.15 + 1.0  # + validation pass
        epochs[n] = max(args.min_epochs, min(args.max_epochs, int(left / per_epoch)))
    log(f"epochs: {json.dumps(epochs)} for {left:.0f} s")
    trains = {
        n: [
            *py,
            "train",
            g,
            *common,
            *subset,
            "--epochs",
            str(epochs[n]),
            "--out",
            str(out / "runs" / n),
            "--no-progress",
        ]
        for n, g in genotypes.items()
    }
    codes = run_parallel(trains, end - 10, out / "logs")
    log(f"train exit codes: {json.dumps(codes)}")
    summary = {
        "probe_s_per_step": probe,
        "epochs": epochs,
        "train_codes": codes,
        "wall_s": time.time() - t0,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    with tarfile.open(out / "zoo.tar.gz", "w:gz") as tar:
        for sub in ("geno", "logs", "summary.json"):
            tar.add(out / sub, arcname=sub)
        for run in (out / "runs").glob("*"):
            for item in ("model", "results.json", "log.jsonl"):
                if (run / item).exists():
                    tar.add(run / item, arcname=f"runs/{run.name}/{item}")
        for s in (out / "search").glob("*"):
            for f in s.glob("*.png"):
                tar.add(f, arcname=f"search/{s.name}/{f.name}")
            if (s / "log.jsonl").exists():
                tar.add(s / "log.jsonl", arcname=f"search/{s.name}/log.jsonl")
    log(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
