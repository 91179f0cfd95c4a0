"""``bars-zoo show NAME|FILE``: what a network costs, per stage and per layer, with totals."""

from __future__ import annotations

import argparse
import json

from bars_zoo.errors import ConfigError

HELP = "show a genotype's complexity (BOPs, FLOPs, OPs, params, packed size) per stage and layer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        metavar="NAME|FILE|-",
        help="a zoo name (bars-b; any name `bars-zoo list` lists), a .geno file, or - for standard input",
    )
    p.add_argument("--json", action="store_true", help="print the totals as JSON")
    p.add_argument("--x2", action="store_true", help="2xMAC convention (doubles BOPs and FLOPs)")
    p.add_argument("--summary", action="store_true", help="per-stage table only, no layer rows")
    p.add_argument(
        "--layers",
        action="store_true",
        help="every layer's row: the text table has them (unless --summary); --json adds them",
    )


def run(args: argparse.Namespace) -> int:
    from bars_zoo.commands.options import genotype_argument
    from bars_zoo.complexity import complexity

    if args.layers and args.summary:
        raise ConfigError(
            "--layers and --summary contradict: --summary leaves the layer rows out",
            hint="give one of them (the text table without --summary has every layer)",
        )
    c = complexity(genotype_argument(args.model), x2=args.x2)
    if args.json:
        data = c.to_dict(layers=args.layers)
        data["stages"] = [g.model_dump(mode="json") for g in c.groups()]
        print(json.dumps(data, indent=2))
    else:
        print(c.summary() if args.summary else c.table())
    return 0
