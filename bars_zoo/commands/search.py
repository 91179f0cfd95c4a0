"""``bars-zoo search``: run the BARS architecture search and write the found genotype.

bars-zoo search --preset fmnist --dataset fashion-mnist --budget-ops 2M -o found.geno
bars-zoo search --preset fmnist --budget-ops 2M -o found.geno --resume        # after a crash
bars-zoo search --preset fmnist --budget-ops 2M -o found.geno --json          # result as JSON
bars-zoo search --preset paper --dataset cifar10 --data-dir ~/data --budget-ops 18M --dry-run
bars-zoo search --preset fmnist --dataset imagefolder --data-dir ~/pets --input-shape 3x32x32 \
    --budget-ops 5M -o pets.geno     # then: bars-zoo train pets.geno --dataset imagefolder ...
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from bars_zoo.commands.options import (
    add_amp,
    add_batch_size,
    add_device,
    add_output,
    add_progress,
    add_seed,
    add_stop_after,
    add_threads,
    add_time_limit,
    progress_of,
    require_data_dir,
    set_threads,
    validated,
)
from bars_zoo.commands.train import parse_duration, stop_reason
from bars_zoo.errors import ConfigError

HELP = (
    "search a binary architecture (BARS) under a complexity budget (OPs and/or parameters, or "
    "none) and write it as a .geno file"
)

_PRESETS = ("paper", "fmnist", "tiny")
_DATASETS = ("fashion-mnist", "cifar10", "synthetic", "imagefolder")
#: ``search.config.ReduceOp``, spelt out: importing the config would import torch for --help
_REDUCE_OPS = ("bconv3x3", "bconv1x1", "bfr")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=_PRESETS, default="paper", help="settings to start from")
    p.add_argument(
        "--dataset",
        choices=_DATASETS,
        help="data set (default: the preset's); imagefolder: your own images, --data-dir DIR "
        "with DIR/train/<class>/ folders (the search reads train/ only), read at --input-shape",
    )
    p.add_argument("--data-dir", metavar="DIR", help="where the data set lives")
    p.add_argument(
        "--input-shape",
        metavar="CxHxW",
        help="imagefolder only (required there): the shape every image is scaled and "
        "center-cropped to, written as the genotype's input line, e.g. 3x32x32 (RGB) or 1x28x28 "
        "(grayscale); the built-in data sets have their own",
    )
    p.add_argument("--subset", type=int, metavar="N", help="search on N training images")
    p.add_argument("--epochs", type=int, metavar="N", help="search epochs")
    p.add_argument("--warmup-epochs", type=int, metavar="N", help="weights-only epochs first")
    add_batch_size(p, "the preset's")
    p.add_argument(
        "--base-channels",
        metavar="C,C,...",
        help="widths of the stages at ratio 1, one per stage (fmnist: 32,64,128; paper: 48,96,192)",
    )
    p.add_argument("--stem-channels", type=int, metavar="N", help="width of the FP stem conv")
    for slot, default, paper in (
        ("preprocess", "bfr", "the zoo's bars-a..f: bconv3x3"),
        ("shortcut", "bconv3x3", "the zoo's bars-a..f: bfr"),
    ):
        p.add_argument(
            f"--reduce-{slot}",
            choices=_REDUCE_OPS,
            help=f"the reduction cells' {slot} (default {default}; {paper}; "
            "docs/paper-fidelity.md)",
        )
    p.add_argument(
        "--budget-ops",
        metavar="SIZE",
        help="OPs budget F (FLOPs + BOPs/64), e.g. 20M or 1.5G; none (the default): no OPs term "
        "in the complexity loss",
    )
    p.add_argument(
        "--budget-params",
        metavar="SIZE",
        help="also a parameter budget, e.g. 480k (not in the paper: the same complexity factor for "
        "the expected binary parameters, and a hard limit on the derived network's params); "
        "alone with --budget-ops none it is the only budget",
    )
    p.add_argument(
        "--theta-under",
        type=float,
        metavar="X",
        help="complexity exponent under the budget (default 0; negative, e.g. -0.2, fills the budget)",
    )
    add_seed(
        p,
        "the supernet's random initial weights, the --subset sample, the two halves of the "
        "training images, the batches, the Gumbel samples and the derive draws",
        "the preset's",
    )
    p.add_argument("--name", help="name written into the genotype (default bars-searched)")
    add_output(
        p,
        dest="out",
        metavar="FILE.geno",
        default="searched.geno",
        help="genotype to write (default: %(default)s)",
    )
    p.add_argument(
        "--run-dir", metavar="DIR", help="checkpoints, log.jsonl, plots (default: OUT with .run)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in the run directory")
    add_device(p)
    add_amp(
        p,
        ("auto", "bf16", "off"),
        "bfloat16 autocast: auto, bf16 or off (default auto: on for CUDA and CPUs with native "
        "bf16; --amp alone is bf16)",
    )
    p.add_argument(
        "--cuda-graph",
        action="store_true",
        help="replay each search step as one CUDA graph (CUDA only; much faster)",
    )
    add_stop_after(p)
    add_time_limit(p)
    p.add_argument(
        "--search-time",
        metavar="T",
        help="end the search after the epoch that passes T of search time, counted over all "
        "calls of the run (a resume keeps it), and derive from there (--stop-after and "
        "--time-limit stop without deriving)",
    )
    add_threads(p)
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    add_progress(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print the result (path, ops, params, budget_met, derived, epochs_run ...) as JSON on "
        "stdout at the end (no epoch lines; not with --dry-run)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the search space, its OPs range and the steps per epoch, and make every check "
        "the search makes before it starts (exit 0: it would start); search nothing",
    )


def parse_channels(text: str) -> tuple[int, ...]:
    """``"48,96,192"`` -> ``(48, 96, 192)``; anything else is a :class:`ConfigError`."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(
            f"--base-channels takes positive integers separated by commas, got {text!r}",
            hint="e.g. --base-channels 48,96,192 (one width per stage)",
        )
    return tuple(int(p) for p in parts)


def parse_budget(text: str | None) -> float | None:
    """A budget option: a size (``20M``, ``480k``), or ``none``/absent for no budget."""
    from bars_zoo.search.config import parse_size

    if text is None or text.strip().lower() == "none":
        return None
    return parse_size(text)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """The settings given on the command line (an option left out keeps the preset's value;
    ``--budget-ops none`` is given, as no budget)."""
    given = {
        "base_channels": parse_channels(args.base_channels) if args.base_channels else None,
        "stem_channels": args.stem_channels,
        "reduce_preprocess": args.reduce_preprocess,
        "reduce_shortcut": args.reduce_shortcut,
        "dataset": args.dataset,
        "input_shape": args.input_shape,  # text: SearchConfig reads it (a bad one is named)
        "subset": args.subset,
        "epochs": args.epochs,
        "warmup_epochs": args.warmup_epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "theta_under": args.theta_under,
        "name": args.name,
        "amp": args.amp,
        "search_time_s": (
            parse_duration(args.search_time, "--search-time")
            if args.search_time is not None
            else None
        ),
    }
    values = {k: v for k, v in given.items() if v is not None}
    for key in ("budget_ops", "budget_params"):
        if getattr(args, key) is not None:
            values[key] = parse_budget(getattr(args, key))
    return values


def _config(args: argparse.Namespace) -> Any:
    """The preset with the settings given on the command line; a bad value is named by its
    flag (``--batch-size``), not by its ``SearchConfig`` field."""
    from bars_zoo.search.config import SearchConfig
    from bars_zoo.search.presets import config_for
    from bars_zoo.search.provenance import CLI_OPTIONS

    values = {**config_for(args.preset).model_dump(), **_overrides(args)}
    return validated(SearchConfig, values, CLI_OPTIONS, "search")


def run(args: argparse.Namespace) -> int:
    if args.json and args.dry_run:
        raise ConfigError(
            "--json is the search's result, and --dry-run searches nothing",
            hint="drop --json for a dry run",
        )
    progress = progress_of(args)
    cfg = _config(args)
    set_threads(args.threads)
    time_limit_s = parse_duration(args.time_limit) if args.time_limit is not None else None
    if args.dry_run:
        return _dry_run(cfg, args, time_limit_s)

    from bars_zoo.search import search

    require_data_dir(cfg.dataset, args.data_dir)
    if not (args.quiet or args.json):
        logging.getLogger("bars_zoo.search").setLevel(logging.INFO)
    result = search(
        cfg,
        device=args.device,
        out=args.out,
        run_dir=args.run_dir,
        data_dir=args.data_dir,
        resume=args.resume,
        progress=progress,
        plots=not args.no_plots,
        stop_after=args.stop_after,
        time_limit_s=time_limit_s,
        cuda_graph=args.cuda_graph,
    )
    from bars_zoo.complexity import count
    from bars_zoo.search.config import format_size

    params = count(result.spec).params if result.spec is not None else None
    if args.json:
        print(json.dumps(summary(result, params), indent=2))
    elif not result.finished:
        print(
            f"{stop_reason(result.stopped_by)} after epoch {len(result.history)}/{cfg.epochs}; "
            f"continue with the same command plus --resume (run directory {result.run_dir})",
            file=sys.stderr,
        )
    else:
        budget = cfg.budget_text()
        note = "" if result.budget_met else "  (OVER BUDGET: no network of the space fits)"
        made = f"{format_size(result.ops or 0)} OPs"
        if cfg.budget_params is not None and params is not None:  # a parameter limit: show both
            made += f", {format_size(params)} params"
        print(f"wrote {result.path}: {made}, budget {budget}{note}")
        if result.note is not None:  # derive fell back: say so next to the result, not in logs
            print(f"note: {result.note} (meta derived={result.derived})")
        print(f"{'log' if args.no_plots else 'log and plots'}: {result.run_dir}")
    return 1 if result.finished and not result.budget_met else 0


def summary(result: Any, params: int | None) -> dict[str, Any]:
    """What ``search --json`` prints: a :class:`~bars_zoo.search.SearchResult` in plain values
    (``path`` ... ``note`` are ``null`` while the search has not finished)."""
    return {
        "finished": result.finished,
        "path": str(result.path) if result.path is not None else None,
        "run_dir": str(result.run_dir) if result.run_dir is not None else None,
        "ops": result.ops,
        "params": params,
        "budget": result.config.budget_text(),
        "budget_met": result.budget_met,
        "derived": result.derived,
        "note": result.note,
        "epochs_run": result.epochs_run,
        "epochs": result.config.epochs,
        "stopped_by": result.stopped_by,
    }


def _dry_run(cfg: object, args: argparse.Namespace, time_limit_s: float | None) -> int:
    """Print the search space, then make every check the search makes before its first epoch
    (the data set is read; the supernet is not built): exit 0 means the search will start."""
    from bars_zoo.search.config import SearchConfig, format_size
    from bars_zoo.search.preflight import preflight, search_halves, time_is_up
    from bars_zoo.search.space import SearchSpace
    from bars_zoo.search.strategy import ArchParams

    assert isinstance(cfg, SearchConfig)
    from bars_zoo.search.searchdata import search_data

    if cfg.dataset == "imagefolder":
        require_data_dir(cfg.dataset, args.data_dir)
    info = search_data(cfg, args.data_dir)  # an image folder's classes: its train/ folders
    space = SearchSpace(cfg, info.input_shape, info.num_classes)
    lo, hi = space.ops_range()
    what = f"{cfg.dataset} {info.name}" if cfg.dataset == "imagefolder" else cfg.dataset
    print(
        f"preset {cfg.preset}: {what} {'x'.join(map(str, info.input_shape))}, "
        f"{info.num_classes} classes, "
        f"{space.num_cells} supernet cells ({space.num_stages} stages, {cfg.nodes} nodes/cell)"
    )
    for s, ch in enumerate(space.channels):
        print(f"  stage s{s + 1}: channels {ch}, optional cells {cfg.depth_choices}")
    uniform = float(ArchParams(space).expected_complexity()["ops"].detach())  # alphas start at 0
    print(
        f"  OPs of derivable networks: {format_size(lo, exact=True)} .. {format_size(hi)} "
        f"(uniform distribution: {format_size(uniform)})"
    )
    print(f"  budget: {cfg.budget_text()}")
    p_lo, p_hi = space.params_range()
    print(f"  params of derivable networks: {format_size(p_lo, exact=True)} .. {format_size(p_hi)}")
    sys.stdout.flush()  # before an error on stderr
    plan = preflight(
        cfg,
        device=args.device,
        out=args.out,
        run_dir=args.run_dir,
        resume=args.resume,
        stop_after=args.stop_after,
        time_limit_s=time_limit_s,
        cuda_graph=args.cuda_graph,
        data_dir=info.folder if info.folder is not None else args.data_dir,  # walked once
    )
    require_data_dir(cfg.dataset, args.data_dir)
    half_a, half_b = search_halves(cfg, plan.data)
    steps = min(len(half_a), len(half_b)) // cfg.batch_size
    print(
        f"  {cfg.epochs} epochs ({cfg.warmup_epochs} warm-up) x {steps} steps of batch "
        f"{cfg.batch_size} on {len(half_a) + len(half_b)} images; config {cfg.fingerprint()}"
    )
    if plan.resume_epoch:
        start = f"resumes the search in {plan.run_dir} after epoch {plan.resume_epoch}/{cfg.epochs}"
        done = plan.resume_epoch >= cfg.epochs
        if done or time_is_up(plan.searched_s, plan.resume_epoch, plan.config.search_time_s):
            start += f" ({'finished' if done else 'its --search-time is spent'}: it only derives)"
    else:
        start = "starts a new search" + (f" in {plan.run_dir}" if plan.run_dir else "")
    out = f", writes {plan.out}" if plan.out is not None else ""
    kept = (
        f" (kept as it is if it holds the network derived: {plan.run_dir} has no record of it)"
        if plan.keep_out
        else ""
    )
    print(f"ready: {start} on {plan.device}{out}{kept}")
    return 0
