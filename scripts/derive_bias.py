"""What a search's budget rejection does to the widths the derive step sees.

The derive step (``bars_zoo.search.derive``) draws architectures from the final distributions and
rejects the draws over budget before it scores any.  With broad distributions the rejected draws
are mostly those wide in the most expensive stage (the first, at full resolution), so the kept
draws are narrower there than the distribution itself.  This script rebuilds the final
distributions from a search's ``log.jsonl`` (its last line's ``dist``), draws ``--draws``
architectures and prints, per stage, the width of all draws and of the draws within budget.

    python scripts/derive_bias.py benchmarks/results/fmnist_zoo/run2/bars-fmnist-l.search.jsonl \
        --budget-ops 7M
    python scripts/derive_bias.py benchmarks/results/fmnist_zoo/run3/bars-fmnist-m.search.jsonl \
        --budget-ops 4M --base-channels 48,96,192 --stem-channels 48
"""

from __future__ import annotations

import argparse
import collections
import json

import torch

from bars_zoo.commands.search import parse_budget, parse_channels
from bars_zoo.data import dataset_info
from bars_zoo.search.derive import choice_cost, excess
from bars_zoo.search.presets import config_for
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.strategy import ArchParams


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("log", help="a search's log.jsonl")
    ap.add_argument("--preset", default="fmnist")
    ap.add_argument("--budget-ops", default=None)
    ap.add_argument("--budget-params", default=None)
    ap.add_argument("--base-channels", default=None)
    ap.add_argument("--stem-channels", type=int, default=None)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with open(args.log) as f:
        last = [json.loads(line) for line in f if line.strip()][-1]
    cfg = config_for(
        args.preset,
        budget_ops=parse_budget(args.budget_ops),
        budget_params=parse_budget(args.budget_params),
        base_channels=parse_channels(args.base_channels) if args.base_channels else None,
        stem_channels=args.stem_channels,
    )
    info = dataset_info(cfg.dataset)
    space = SearchSpace(cfg, info.input_shape, info.num_classes)
    arch = ArchParams(space)
    dist = last["dist"]
    with torch.no_grad():  # logits = log p reproduce the logged distributions
        for t, ct in enumerate(space.cell_types):
            arch.edge[t] = torch.tensor(list(dist["edges"][ct].values())).clamp_min(1e-6).log()
        arch.width[:] = torch.tensor(list(dist["width"].values())).clamp_min(1e-6).log()
        arch.depth[:] = torch.tensor(list(dist["depth"].values())).clamp_min(1e-6).log()

    gen = torch.Generator().manual_seed(args.seed)
    every = [collections.Counter[int]() for _ in range(space.num_stages)]
    kept = [collections.Counter[int]() for _ in range(space.num_stages)]
    ops_all = []
    n_kept = 0
    for _ in range(args.draws):
        choice = arch.sample_choice(gen)
        ops, params = choice_cost(space, choice)
        ops_all.append(ops)
        fits = excess(cfg, ops, params) <= 1.0
        n_kept += fits
        for s in range(space.num_stages):
            width = space.channels[s][choice.width[s]]
            every[s][width] += 1
            kept[s][width] += fits
    ops_all.sort()
    print(
        f"{args.log}: budget {cfg.budget_text()}; {n_kept}/{args.draws} draws fit; "
        f"median draw {ops_all[len(ops_all) // 2] / 1e6:.2f}M OPs"
    )
    for s in range(space.num_stages):
        widths = space.channels[s]
        share = " ".join(
            f"{w}:{every[s][w] / args.draws:.0%}->{kept[s][w] / max(n_kept, 1):.0%}" for w in widths
        )
        print(f"  s{s + 1} width (all draws -> kept draws): {share}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
