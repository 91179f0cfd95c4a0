"""``bars-zoo list [PATTERN] [--pretrained|--trained] [--json]``: the zoo, with costs and where weights are."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list zoo models (wildcards allowed), their complexity and whether weights are published"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "pattern",
        nargs="?",
        default="*",
        metavar="PATTERN",
        help="shell-style pattern, e.g. 'bars-*'",
    )
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="only models with weights (bundled, $BARS_ZOO_WEIGHTS_DIR or pinned on the Hub); "
        "weights that record no training (a `bars-zoo build -o` folder) are marked "
        "'(untrained: no training recorded)'",
    )
    p.add_argument(
        "--trained",
        action="store_true",
        help="only models with trained weights: --pretrained without the untrained ones "
        "(list_models(pretrained=True, untrained=False))",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable rows")


def rows(pattern: str, pretrained: bool, trained: bool = False) -> list[dict[str, Any]]:
    """One dict per model: name, input, classes, BOPs/FLOPs/params/packed bytes (``None`` when
    the genotype is only in a Hub repo), weights (where ``load`` takes them from), untrained
    (those weights are a folder that records no training, :func:`bars_zoo.lookup.untrained_weights`;
    ``None`` without weights), backbone (the pretrained model a new classifier's backbone comes
    from), top-1 with what it was measured on (``top1_split``, in words; ``full_test_split``:
    the data set's whole test split, not a ``--subset`` of it nor an image folder's split)."""
    from bars_zoo import registry, weightsdir
    from bars_zoo.complexity import complexity, format_shape
    from bars_zoo.lookup import local_genotype, untrained_weights
    from bars_zoo.zoo import list_models

    out = []
    # a $BARS_ZOO_WEIGHTS_DIR folder load refuses is not listed: list_models logs why (stderr)
    for name in list_models(pattern, pretrained=pretrained or trained, untrained=not trained):
        cfg = registry.get(name)
        weights = registry.weights_source(name, cfg)
        spec = local_genotype(name)  # None: only in a Hub repo not yet pulled
        local = weightsdir.weights_dir(name)
        if weights == f"${weightsdir.WEIGHTS_DIR_ENV}" and local is not None:
            cfg = registry.read_config(local).pretrained_cfg  # what load gives the model
        c = complexity(spec) if spec is not None else None
        shape = spec.input_shape if spec is not None else cfg.input_size if cfg else None
        out.append(
            {
                "name": name,
                "input": format_shape(shape) if shape else None,
                "classes": spec.num_classes if spec else cfg.num_classes if cfg else None,
                "bops": c.bops if c else None,
                "flops": c.flops if c else None,
                "params": c.params if c else None,
                "packed_bytes": c.packed_bytes if c else None,
                "weights": weights,
                "untrained": untrained_weights(name),  # None without weights
                "dataset": cfg.dataset if cfg else None,
                "backbone": cfg.backbone.model if cfg and cfg.backbone else None,
                "top1": cfg.top1 if cfg else None,
                "top1_images": cfg.top1_images if cfg else None,
                # what top1 was measured on, in words (PretrainedCfg.top1_split)
                "top1_split": cfg.top1_split() if cfg and cfg.top1 is not None else None,
                "full_test_split": cfg.top1_images is None and cfg.test_split is None
                if cfg and cfg.top1 is not None
                else None,
            }
        )
    return out


def _count(x: float | None) -> str:
    from bars_zoo.complexity import format_count  # the numbers `bars-zoo show` prints

    return "?" if x is None else format_count(x)


def _size(n: int | None) -> str:
    from bars_zoo.complexity import format_bytes

    return "?" if n is None else format_bytes(n)


def run(args: argparse.Namespace) -> int:
    table = rows(args.pattern, args.pretrained, args.trained)
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    if not table:
        what = (
            "trained models"
            if args.trained
            else "pretrained models"
            if args.pretrained
            else "models"
        )
        print(f"no {what} match {args.pattern!r}")
        if not any(c in args.pattern for c in "*?["):
            print(f"  hint: patterns match whole names; try '{args.pattern}*'")
        return 0
    head = (
        f"{'name':<28} {'input':>10} {'BOPs':>9} {'FLOPs':>9} {'params':>9} {'packed':>10}  weights"
    )
    print(head)
    print("-" * len(head))
    for r in table:
        top1 = ""
        if r["top1"] is not None:
            # the data set's whole test split goes without saying; a --subset of it or an image
            # folder's split folder ("sketches/val") is named
            part = "" if r["full_test_split"] else f" on {r['top1_split']}"
            top1 = f" ({r['dataset']}, top-1 {r['top1']:.2f}%{part})"
        elif r["backbone"] is not None:
            top1 = f" (new classifier, backbone from {r['backbone']})"
        elif r["untrained"]:
            top1 = " (untrained: no training recorded)"
        print(
            f"{r['name']:<28} {r['input'] or '?':>10} {_count(r['bops']):>9} {_count(r['flops']):>9} "
            f"{_count(r['params']):>9} {_size(r['packed_bytes']):>10}  {r['weights'] or '-'}{top1}"
        )
    return 0
