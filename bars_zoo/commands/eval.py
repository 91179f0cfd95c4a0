"""``bars-zoo eval MODEL --dataset D``: top-1 (and top-5) accuracy of a trained model."""

from __future__ import annotations

import argparse
import json

from bars_zoo.commands.options import (
    add_amp,
    add_batch_size,
    add_device,
    add_threads,
    check_workers,
    require_data_dir,
    set_threads,
)
from bars_zoo.errors import ConfigError

HELP = "evaluate a trained model (zoo name, model folder, local-dir:PATH or training --out folder)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="NAME, DIR, local-dir:PATH or hf-hub:org/repo")
    p.add_argument(
        "--dataset",
        choices=("fashion-mnist", "cifar10", "imagenet", "imagefolder", "synthetic"),
        help="data set (default: the one the model was trained on; a model trained on an image "
        "folder: --dataset imagefolder --data-dir DIR)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="where the data set lives")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--subset", type=int, metavar="N", help="evaluate a seeded sample of N images")
    add_batch_size(p, "%(default)s", default=500)
    add_device(p)
    p.add_argument(
        "--workers", type=int, default=8, metavar="N", help="ImageNet loader worker processes"
    )
    add_threads(p)
    add_amp(p, ("bf16", "off"), "bfloat16 autocast: bf16 or off (default off; --amp alone is bf16)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run(args: argparse.Namespace) -> int:
    from bars_zoo.data import DATASETS
    from bars_zoo.evaluation import default_device, evaluate
    from bars_zoo.modelref import load_model, run_holdout
    from bars_zoo.runmodel import RUN_PROGRESS

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {args.batch_size}")
    check_workers(args.workers)
    set_threads(args.threads)
    device = default_device(args.device)
    model = load_model(args.model, device)
    dataset = args.dataset
    if dataset is None:
        cfg = getattr(model, "pretrained_cfg", None)
        dataset = getattr(cfg, "dataset", None)
        if dataset is None:
            backbone = getattr(cfg, "backbone", None)
            new = f" (a new classifier on the {backbone.model} backbone)" if backbone else ""
            raise ConfigError(
                f"{args.model} does not record the data set it was trained on{new}",
                hint="pass --dataset",
            )
        if dataset not in DATASETS:  # a name the user gave save_pretrained, not one we load
            raise ConfigError(
                f"the model's config names data set {dataset!r}, which bars-zoo cannot load",
                hint="pass --dataset: a model trained on an image folder records the folder's "
                "name, evaluate it with --dataset imagefolder --data-dir DIR; otherwise one of: "
                f"{', '.join(d for d in DATASETS if d != 'imagefolder')}",
            )
    require_data_dir(dataset, args.data_dir)
    data_dir = args.data_dir
    if dataset == "imagefolder":  # walked once: evaluated on, and its split named in the result
        from bars_zoo.imagefolder import scan

        data_dir = scan(args.data_dir)
    metrics = evaluate(
        model,
        dataset,
        args.split,
        data_dir=data_dir,
        batch_size=args.batch_size,
        device=device,
        subset=args.subset,
        workers=args.workers,
        amp=args.amp == "bf16",
        holdout_from=run_holdout(args.model, args.split),
    )
    spec = getattr(model, "spec", None)
    result = {"model": args.model, "dataset": dataset, "split": args.split, **metrics}
    where = f"{dataset} {args.split}"
    if dataset == "imagefolder":  # its "test" split is DIR/test/ or DIR/val/: name the folder
        from bars_zoo.imagefolder import split_name

        where = result["split_folder"] = split_name(data_dir, args.split)
    if spec is not None:
        result["architecture"] = spec.name
    progress = getattr(model, RUN_PROGRESS, None)  # an unfinished training run's checkpoint
    result["unfinished"] = progress is not None
    if progress is not None:
        result.update(progress)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        line = f"{args.model} on {where} ({metrics['n']} images): "
        line += f"top-1 {100 * metrics['top1']:.2f}%"
        if "top5" in metrics:
            line += f", top-5 {100 * metrics['top5']:.2f}%"
        print(line + f", loss {metrics['loss']:.4f}")
        if progress is not None:
            total = progress["epochs"] or "?"
            print(
                f"unfinished run: stopped after epoch {progress['epochs_done']} of {total}; "
                f"evaluated the weights of epoch {progress['weights_epoch']} (finish the run: the "
                "same `bars-zoo train` command with --resume)"
            )
    return 0
