"""``bars-zoo list [PATTERN] [--pretrained] [--json]``: the zoo, with costs and where weights are."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list zoo models (wildcards allowed), their complexity and whether weights are published"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'bars-*'")
    p.add_argument("--pretrained", action="store_true", help="only models with weights")
    p.add_argument("--json", action="store_true", help="print machine-readable rows")


def rows(pattern: str, pretrained: bool) -> list[dict[str, Any]]:
    """One dict per model: name, input, classes, BOPs/FLOPs/params/packed bytes, weights, top-1."""
    from bars_zoo import registry
    from bars_zoo.complexity import complexity
    from bars_zoo.zoo import list_models, load_genotype

    out = []
    for name in list_models(pattern, pretrained=pretrained):
        spec = load_genotype(name)
        c = complexity(spec)
        cfg = registry.get(name)
        weights = registry.weights_source(name, cfg)
        out.append(
            {
                "name": name,
                "input": "x".join(map(str, spec.input_shape)),
                "classes": spec.num_classes,
                "bops": c.bops,
                "flops": c.flops,
                "params": c.params,
                "packed_bytes": c.packed_bytes,
                "weights": weights,
                "dataset": cfg.dataset if cfg else None,
                "top1": cfg.top1 if cfg else None,
                "top1_images": cfg.top1_images if cfg else None,
            }
        )
    return out


def _si(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def _bytes(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def run(args: argparse.Namespace) -> int:
    table = rows(args.pattern, args.pretrained)
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    if not table:
        what = "pretrained models" if args.pretrained else "models"
        print(f"no {what} match {args.pattern!r}")
        if not any(c in args.pattern for c in "*?["):
            print(f"  hint: patterns match whole names; try '{args.pattern}*'")
        return 0
    head = (
        f"{'name':<28} {'input':>10} {'BOPs':>9} {'FLOPs':>9} {'params':>9} {'packed':>9}  weights"
    )
    print(head)
    print("-" * len(head))
    for r in table:
        top1 = ""
        if r["top1"] is not None:
            part = f" on {r['top1_images']:,} test images" if r["top1_images"] else ""
            top1 = f" ({r['dataset']}, top-1 {r['top1']:.2f}%{part})"
        print(
            f"{r['name']:<28} {r['input']:>10} {_si(r['bops']):>9} {_si(r['flops']):>9} "
            f"{_si(r['params']):>9} {_bytes(r['packed_bytes']):>9}  {r['weights'] or '-'}{top1}"
        )
    return 0
