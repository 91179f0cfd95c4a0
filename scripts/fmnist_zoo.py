"""Produce the Fashion-MNIST zoo in one sitting on one GPU: search three budgets, train the three
searched genotypes and the XNOR-ResNet-18 baseline, all with the public CLI.

    python scripts/fmnist_zoo.py --data-dir DIR --out DIR --minutes 12 --theta-under -0.2 --cuda-graph
    # run 3 (benchmarks/results/fmnist_zoo.md) added: --space bars-fmnist-m=48,96,192 --no-baseline ...

1. ``bars-zoo search --preset fmnist --budget-ops B --search-time T`` for the S/M/L budgets, in
   parallel (the search time ends a search after the epoch that passes it; it still derives).  A
   search step is a long chain of small kernels that leaves most of the GPU idle, so three
   searches side by side take little longer than one (``--cuda-graph`` replays each search step as
   one CUDA graph; ``--space NAME=C,C,C`` gives one model another search space);
2. a short timing probe of one training step per model (all four share the GPU afterwards);
3. ``bars-zoo train G --dataset fashion-mnist --epochs E`` for the four models in parallel, with
   one ``E`` for all (a fair comparison with the baseline) chosen so that the runs end inside the
   time left (the cosine schedule always completes).  ``--cuda-graph`` replays each training step
   as one CUDA graph;
4. everything a person needs to bundle the models is packed into ``OUT/zoo.tar.gz``.

``--deadline-file F``: when F exists at step 2, it holds the Unix time by which everything must
end (written by whoever knows how long the machine is held); it replaces ``--minutes``.

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

# L's budget keeps it within the baseline's BOPs: OPs = BOPs/64 + FLOPs <= 7M gives BOPs < 450M.
BUDGETS = {"bars-fmnist-s": "1.5M", "bars-fmnist-m": "4M", "bars-fmnist-l": "7M"}
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


def probe_step_seconds(
    genotype: str, device: str, batch: int, cuda_graph: bool, amp: bool = False
) -> float:
    """Median seconds of one training step of ``genotype`` alone on ``device``: the trainer's own
    step function (graphed or not), on random data."""
    import torch

    import bars_zoo
    from bars_zoo.graphstep import GraphedStep, make_capturable
    from bars_zoo.trainepoch import step_fn
    from bars_zoo.training import TrainConfig
    from bars_zoo.trainnet import TrainNet

    spec = (
        bars_zoo.read(genotype) if genotype.endswith(".geno") else bars_zoo.load_genotype(genotype)
    )
    cfg = TrainConfig(
        dataset="fashion-mnist",
        epochs=1,
        out_dir="-",
        device=device,
        cuda_graph=cuda_graph,
        amp=amp,
    ).resolved()
    dev = torch.device(device)
    torch.backends.cudnn.benchmark = True
    net = TrainNet(bars_zoo.build(spec), 0.0).to(dev)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    step = step_fn(cfg, net, opt, 1.0 / batch)
    x = torch.randn(batch, *spec.input_shape, device=dev)
    y = torch.randint(0, spec.num_classes, (batch,), device=dev)
    if cuda_graph:
        make_capturable(opt, dev)
        run = GraphedStep(step, opt)
    else:

        def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            return step(x, y)

    times = []
    for i in range(25):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        run(x, y)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t)
    if cuda_graph and not run.captured:  # type: ignore[union-attr]
        raise RuntimeError("CUDA graph capture failed")
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
    ap.add_argument(
        "--concurrency-factor", type=float, default=1.25, help="slack on the summed step times"
    )
    ap.add_argument("--probe-batch", type=int, default=256)
    ap.add_argument("--search-epochs", type=int, default=None, help="override the preset's")
    ap.add_argument("--search-warmup", type=int, default=None, help="override the preset's")
    ap.add_argument("--cuda-graph", action="store_true", help="search and train with --cuda-graph")
    ap.add_argument("--deadline-file", default=None)
    ap.add_argument("--amp", action="store_true", help="train with bf16 autocast (--amp)")
    ap.add_argument(
        "--s-budget-params", default=None, help="a parameter budget for S too (e.g. 480k)"
    )
    ap.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="NAME=SIZE",
        help="search NAME under this OPs budget instead of its default (none: no OPs budget, "
        "e.g. bars-fmnist-s=none with --s-budget-params 480k); repeatable",
    )
    ap.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="NAME=C,C,C",
        help="search NAME with these stage widths (stem: the first), e.g. "
        "bars-fmnist-m=48,96,192 for the paper's widths; repeatable",
    )
    ap.add_argument(
        "--no-baseline",
        action="store_true",
        help="do not train the baseline (compare with a recorded run of the same epochs)",
    )
    ap.add_argument(
        "--epochs-choices",
        default=None,
        metavar="E,E",
        help="train for the largest of these epoch counts that fits (the smallest if none does)",
    )
    ap.add_argument(
        "--probe-amp", action="store_true", help="also time each bf16 training step (logged only)"
    )
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"search (and train) only these of {', '.join(BUDGETS)}; repeatable",
    )
    args = ap.parse_args()

    def per_model(items: list[str], flag: str, value: str) -> dict[str, str]:
        """``NAME=VALUE`` options -> ``{NAME: VALUE}``; NAME must be a searched model."""
        found = {}
        for item in items:
            name, _, text = item.partition("=")
            if name not in BUDGETS or not text:
                ap.error(
                    f"{flag} takes NAME={value} with NAME one of {', '.join(BUDGETS)}, got {item!r}"
                )
            found[name] = text
        return found

    budgets = {**BUDGETS, **per_model(args.budget, "--budget", "SIZE")}
    if args.only:
        unknown = sorted(set(args.only) - set(BUDGETS))
        if unknown:
            ap.error(f"--only takes one of {', '.join(BUDGETS)}, got {', '.join(unknown)}")
        budgets = {n: b for n, b in budgets.items() if n in args.only}
    spaces = per_model(args.space, "--space", "C,C,C")

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
            "--search-time",
            f"{max(1, int(args.search_minutes * 60 - 80))}s",
            *(["--theta-under", str(args.theta_under)] if args.theta_under is not None else []),
            *(["--epochs", str(args.search_epochs)] if args.search_epochs else []),
            *(["--cuda-graph"] if args.cuda_graph else []),
            *(
                ["--base-channels", spaces[name], "--stem-channels", spaces[name].split(",")[0]]
                if name in spaces
                else []
            ),
            *(
                ["--warmup-epochs", str(args.search_warmup)]
                if args.search_warmup is not None
                else []
            ),
            *(
                ["--budget-params", args.s_budget_params]
                if args.s_budget_params and name == "bars-fmnist-s"
                else []
            ),
        ]
        for name, budget in budgets.items()
    }
    codes = run_parallel(searches, t0 + args.search_minutes * 60 + 30, out / "logs")
    genotypes = {n: str(out / "geno" / f"{n}.geno") for n, c in codes.items() if c == 0}
    if not args.no_baseline:
        genotypes[BASELINE] = BASELINE
    log(f"searched: {sorted(genotypes)}")
    if not genotypes:
        log("nothing to train: every search failed or ran past its deadline (see logs/)")
        return 1

    def probe_all(graphed: bool, amp: bool) -> dict[str, float]:
        return {
            n: probe_step_seconds(g, args.device, args.probe_batch, graphed, amp)
            for n, g in genotypes.items()
        }

    graph = args.cuda_graph
    try:
        probe = probe_all(graph, args.amp)
    except RuntimeError as err:
        log(f"graphed probe failed ({err}); training without --cuda-graph")
        graph = False
        probe = probe_all(False, args.amp)
    total = sum(probe.values()) * 256 / args.probe_batch
    log(f"probe s/step alone (graphed={graph}): {json.dumps(probe)}")
    probe_bf16 = {}
    if args.probe_amp:
        try:
            probe_bf16 = probe_all(graph, True)
        except RuntimeError as err:
            log(f"bf16 probe failed: {err}")
        log(f"probe s/step alone with bf16 autocast (graphed={graph}): {json.dumps(probe_bf16)}")
    if args.deadline_file and Path(args.deadline_file).is_file():
        end = float(Path(args.deadline_file).read_text())
        log(f"deadline from {args.deadline_file}: {end - time.time():.0f} s from now")
    left = end - time.time() - 60  # start-up, test evaluation and packing
    steps = (args.subset or TRAIN_IMAGES) // 256
    # all runs share the GPU: one epoch of every model costs the sum of their step times
    per_epoch = steps * total * args.concurrency_factor + 1.5 * len(probe)  # + validation passes
    e = max(args.min_epochs, min(args.max_epochs, int(left / per_epoch)))
    if args.epochs_choices:
        choices = sorted(int(c) for c in args.epochs_choices.split(","))
        e = max([c for c in choices if c <= e] or choices[:1])
    epochs = {n: e for n in probe}  # one schedule length for all: a fair comparison
    log(f"epochs: {e} for {left:.0f} s ({per_epoch:.1f} s per epoch of all {len(probe)})")
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
            *(["--amp"] if args.amp else []),
            *(["--cuda-graph"] if graph else []),
        ]
        for n, g in genotypes.items()
    }
    codes = run_parallel(trains, end - 10, out / "logs")
    log(f"train exit codes: {json.dumps(codes)}")
    summary = {
        "probe_s_per_step": probe,
        "probe_bf16_s_per_step": probe_bf16,
        "spaces": spaces,
        "cuda_graph": graph,
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
    (out / "DONE").write_text(f"{time.time() - t0:.0f}\n")
    log(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
