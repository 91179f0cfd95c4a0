"""A/B experiment: a BatchNorm before every binary activation (XNOR-Net's BN -> sign -> bconv order).

Not a feature of the package: variant ``prebn`` wraps every :class:`~bars_zoo.binary.BinaryConv2d`
of the built model as ``Sequential(BatchNorm2d(C_in), conv)``, which keeps each binary conv's input
near unit scale (see ``scripts/ste_window.py``), and trains it beside the unchanged model
(``base``) with the same data, seed and schedule: Adam 2e-3, cosine to 0 per step, batch 256,
crop + flip, ``N`` training images and 2,000 validation images of the recipe's hold-out.  One JSON
line per epoch.

    python scripts/prebn_ab.py benchmarks/results/fmnist_zoo/run2/bars-fmnist-l.geno base 6000 5 1
    python scripts/prebn_ab.py benchmarks/results/fmnist_zoo/run2/bars-fmnist-l.geno prebn 6000 5 1
    python scripts/prebn_ab.py ... prebn 55000 50 --device cuda      # full length, on a GPU
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

import bars_zoo
from bars_zoo.batches import Augment, BatchLoader
from bars_zoo.binary import BinaryConv2d
from bars_zoo.evaluation import split_images


def add_prebn(module: nn.Module) -> None:
    """Replace every binary conv below ``module`` by ``BatchNorm2d(C_in)`` followed by it."""
    for name, child in module.named_children():
        if isinstance(child, BinaryConv2d):
            setattr(module, name, nn.Sequential(nn.BatchNorm2d(child.in_channels), child))
        else:
            add_prebn(child)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("genotype")
    ap.add_argument("variant", choices=("base", "prebn"))
    ap.add_argument("train_images", type=int)
    ap.add_argument("epochs", type=int)
    ap.add_argument("threads", type=int, nargs="?", default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    net = bars_zoo.build(bars_zoo.load_genotype(args.genotype))
    if args.variant == "prebn":
        add_prebn(net)
    net.to(args.device)
    train = split_images("fashion-mnist", "train")
    val = split_images("fashion-mnist", "val")
    g = torch.Generator().manual_seed(0)
    train = train.subset(torch.randperm(len(train), generator=g)[: args.train_images])
    val = val.subset(torch.randperm(len(val), generator=g)[:2000])
    aug = Augment.for_dataset("fashion-mnist")
    tl = BatchLoader(train, 256, augment=aug, drop_last=True, seed=0, device=args.device)
    vl = BatchLoader(val, 500, shuffle=False, device=args.device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=0)
    steps = args.epochs * len(tl)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    for ep in range(args.epochs):
        tl.set_epoch(ep)
        net.train()
        t0 = time.time()
        total = correct = n = 0
        for x, y in tl:
            out = net(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(y)
            correct += int((out.detach().argmax(1) == y).sum())
            n += len(y)
        net.eval()
        vc = vn = 0
        with torch.no_grad():
            for x, y in vl:
                vc += int((net(x).argmax(1) == y).sum())
                vn += len(y)
        row = {
            "variant": args.variant,
            "epoch": ep + 1,
            "train_loss": round(total / n, 4),
            "train_top1": round(correct / n, 4),
            "val_top1": round(vc / vn, 4),
            "s": round(time.time() - t0, 1),
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
