"""``bars-zoo train GENOTYPE --dataset D --epochs N --out DIR``: train with the BARS recipe.

Multi-GPU / multi-node: the same command under ``torchrun`` (``torchrun --nproc_per_node 8 -m
bars_zoo train ...``); see docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
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
from bars_zoo.errors import ConfigError

HELP = "train a genotype (zoo name or .geno file); checkpoints every epoch, --resume continues"

DATASETS = ("fashion-mnist", "cifar10", "imagenet", "imagefolder", "synthetic")

#: options that do not change the trained weights, left out of the recorded training command
_NOT_RECORDED = {
    "resume",
    "stop_after",
    "time_limit",
    "progress",
    "quiet",
    "json",
    "verbose",
    "threads",
}
#: TrainConfig fields whose flag is not ``--field-with-dashes``
FLAGS = {"out_dir": "--out", "time_limit_s": "--time-limit", "sync_bn": "--no-sync-bn"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("genotype", metavar="GENOTYPE", help="zoo name (bars-b) or path to a .geno file")
    p.add_argument(
        "--dataset",
        required=True,
        choices=DATASETS,
        help="imagefolder: your own images, --data-dir DIR with train/ and val/ (or test/) class "
        "folders, read at the genotype's input shape",
    )
    p.add_argument("--data-dir", metavar="DIR", help="where the data set lives")
    p.add_argument("--epochs", required=True, type=int, metavar="N", help="length of the schedule")
    add_output(
        p, dest="out", required=True, metavar="DIR", help="output folder (checkpoints, log, model)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--init",
        metavar="WEIGHTS",
        help="fine-tune: start from 'pretrained' (GENOTYPE's published weights), a model NAME, "
        "local-dir:DIR or hf-hub:ORG/REPO of the same architecture (default: random weights)",
    )
    add_batch_size(p, "%(default)s, over all processes under torchrun", default=256)
    p.add_argument("--lr", type=float, help="Adam learning rate (recipe: 2e-3, ImageNet 1e-3)")
    add_device(p)
    add_seed(
        p,
        "the random initial weights (those --init does not give), the batch order and the "
        "augmentation (--split-seed: the held-out split)",
        "%(default)s",
        default=0,
    )
    p.add_argument(
        "--subset", type=int, metavar="N", help="use N images of each split (smoke runs)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help="share of train held out for model selection (default: the recipe's: 1/12 for "
        "fashion-mnist, 0 for imagenet, else 0.1)",
    )
    p.add_argument(
        "--split-seed",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the held-out split (default: %(default)s)",
    )
    p.add_argument("--aux-weight", type=float, metavar="W", help="auxiliary tower (CIFAR-10: 0.4)")
    p.add_argument(
        "--cutout", action=argparse.BooleanOptionalAction, help="cutout (CIFAR-10 default: on)"
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=0.0,
        metavar="E",
        help="label smoothing of the loss (default: %(default)s)",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        metavar="WD",
        help="Adam weight decay (default: %(default)s)",
    )
    p.add_argument(
        "--select",
        choices=("best", "last"),
        default="best",
        help="epoch to publish: best validation top-1 or the last (default: %(default)s)",
    )
    p.add_argument("--no-sync-bn", action="store_true", help="per-process BN statistics under DDP")
    add_amp(
        p,
        ("bf16", "off"),
        "bfloat16 autocast: bf16 or off (default off; --amp alone is bf16; search's auto is not "
        "offered: it is part of the run's fingerprint)",
    )
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--cuda-graph",
        action="store_true",
        help="capture each training step as one CUDA graph (CUDA only; much faster for small nets)",
    )
    p.add_argument(
        "--workers", type=int, default=8, metavar="N", help="ImageNet loader worker processes"
    )
    add_threads(p)
    p.add_argument(
        "--eval-batch-size",
        type=int,
        default=500,
        metavar="B",
        help="batch of the validation and test passes (default: %(default)s)",
    )
    add_stop_after(p)
    add_time_limit(p)
    add_progress(p)
    p.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (no epoch lines)"
    )


def parse_duration(text: str, flag: str = "--time-limit") -> float:
    """``3600``, ``90s``, ``45m``, ``2h`` -> seconds (a bad one, or one not above 0, is an error
    naming ``flag``)."""
    m = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not m:
        raise ConfigError(
            f"bad {flag} {text!r}", hint="give seconds or a number with s/m/h, e.g. 90s, 45m, 2h"
        )
    if float(m.group(1)) <= 0:
        raise ConfigError(
            f"{flag} must be positive, got {text!r}",
            hint=f"write a duration above 0, e.g. {flag} 30m",
        )
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def stop_reason(stopped_by: str | None) -> str:
    """``stopped by --time-limit`` / ``stopped`` : how a call that did not finish says why."""
    return "stopped by --time-limit" if stopped_by == "time-limit" else "stopped"


def recorded_command(args: argparse.Namespace) -> str:
    """The command that reproduces this run (flags that do not affect the weights left out)."""
    words = ["bars-zoo", "train", args.genotype]
    for key, value in vars(args).items():
        if key.startswith("_") or key in _NOT_RECORDED or key in {"command", "genotype"}:
            continue
        if key == "cutout" and value is not None:
            words.append("--cutout" if value else "--no-cutout")
            continue
        if value is None or value is False or value == _DEFAULTS.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            words.append(flag)
        else:
            words += [flag, str(value)]
    cmd = shlex.join(words)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        nodes = f" --nnodes {world // local}" if world > local else ""
        cmd = f"torchrun{nodes} --nproc_per_node {local} -m bars_zoo " + cmd[len("bars-zoo ") :]
    return cmd


_DEFAULTS: dict[str, Any] = {
    "batch_size": 256,
    "seed": 0,
    "split_seed": 0,
    "label_smoothing": 0.0,
    "weight_decay": 0.0,
    "select": "best",
    "workers": 8,
    "eval_batch_size": 500,
    "amp": "off",
}


def run(args: argparse.Namespace) -> int:
    from bars_zoo.training import TrainConfig, train

    require_data_dir(args.dataset, args.data_dir)
    options: dict[str, Any] = {
        "dataset": args.dataset,
        "epochs": args.epochs,
        "out_dir": args.out,
        "data_dir": args.data_dir,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "seed": args.seed,
        "subset": args.subset,
        "resume": args.resume,
        "init": args.init,
        "val_fraction": args.val_fraction,
        "split_seed": args.split_seed,
        "aux_weight": args.aux_weight,
        "cutout": args.cutout,
        "label_smoothing": args.label_smoothing,
        "weight_decay": args.weight_decay,
        "select": args.select,
        "sync_bn": not args.no_sync_bn,
        "amp": args.amp == "bf16",
        "channels_last": args.channels_last,
        "compile": args.compile,
        "cuda_graph": args.cuda_graph,
        "workers": args.workers,
        "eval_batch_size": args.eval_batch_size,
        "stop_after": args.stop_after,
        "time_limit_s": parse_duration(args.time_limit) if args.time_limit is not None else None,
        "progress": progress_of(args),
        "command": recorded_command(args),
    }
    validated(TrainConfig, options, FLAGS, "train")  # a bad value is named by its flag
    set_threads(args.threads)
    if not (args.json or args.quiet):  # one line per epoch, under the bars on a terminal
        logging.getLogger("bars_zoo.trainer").setLevel(logging.INFO)
    result = train(args.genotype, **options)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    summary = {
        "finished": result.finished,
        "epochs_done": result.epochs_done,
        "out_dir": str(result.out_dir),
        "model_dir": str(result.model_dir) if result.model_dir else None,
        "metrics": result.metrics,
        "stopped_by": result.stopped_by,
    }
    # an image folder's test split is a folder of its own (DIR/val/ without DIR/test/), and its
    # "val" the share of DIR/train/ held out: both named, not to be taken for each other
    folder = getattr(result.model.pretrained_cfg, "test_split", None) if result.finished else None
    if folder:
        summary["test_split"] = folder
    if result.finished:  # a --subset run measured the test top-1 on part of the split
        summary["test_images"] = getattr(result.model.pretrained_cfg, "top1_images", None)
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not result.finished:
        print(
            f"{stop_reason(result.stopped_by)} after epoch {result.epochs_done}/{args.epochs}; "
            "continue with the same command plus --resume",
            file=sys.stderr,
        )
    else:
        m = result.metrics
        cfg = result.model.pretrained_cfg
        where = f" ({folder})" if folder else ""
        if getattr(cfg, "top1_images", None) is not None:  # a --subset run: part of the split
            where = f" on {cfg.top1_split()}"
        parts = [f"test top-1 {100 * m['test_top1']:.2f}%{where}"]
        if "test_top5" in m:
            parts.append(f"top-5 {100 * m['test_top5']:.2f}%")
        if "val_top1" in m:
            held = f"held out of {folder.rsplit('/', 1)[0]}/train, " if folder else ""
            parts.append(
                f"val top-1 {100 * m['val_top1']:.2f}% ({held}epoch {m['selected_epoch']})"
            )
        print(", ".join(parts))
        print(f"model folder: {result.model_dir}")
    return 0
