"""A/B experiment: what keeps a binary conv's input inside the STE's window, and does it train faster?

Not a feature of the package.  Each variant changes every :class:`~bars_zoo.binary.BinaryConv2d`
of the built model and trains it beside the unchanged model (``base``) with the same data, seed and
schedule: Adam 2e-3, cosine to 0 per step, batch 256, crop + flip, ``N`` training images and 2,000
validation images of the recipe's hold-out.  One JSON line per epoch.

* ``prebn``: ``Sequential(BatchNorm2d(C_in), conv)`` - XNOR-Net's ``BN -> sign -> bconv`` order,
  which keeps each input near unit scale (see ``scripts/ste_window.py``) *and* gives each channel a
  learned threshold before ``sign`` (so it changes the forward pass and packed inference);
* ``rms``: divide the input by its per-channel batch RMS (detached, at least 1) in training only;
  ``sign`` is unchanged, so the forward pass and packed inference are too.  The STE then passes
  ``g / s`` where ``|x| <= s``;
* ``window``: the same window ``|x| <= s`` with the gradient not rescaled (``g``).

    python scripts/prebn_ab.py benchmarks/results/fmnist_zoo/run2/bars-fmnist-l.geno base 6000 5 1
    python scripts/prebn_ab.py benchmarks/results/fmnist_zoo/run2/bars-fmnist-l.geno prebn 6000 5 1
    python scripts/prebn_ab.py genotypes/bars-fmnist-m.geno window 6000 6 1 --seed 1
    python scripts/prebn_ab.py ... prebn 55000 50 --device cuda      # full length, on a GPU
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import bars_zoo
from bars_zoo.batches import Augment, BatchLoader
from bars_zoo.binary import BinaryConv2d
from bars_zoo.evaluation import split_images
from bars_zoo.trainer import cosine_lambda


class WindowSign(torch.autograd.Function):
    """``x / s`` forward, ``g`` backward: the binary conv's clipped STE (``|x / s| <= 1``) then
    passes the gradient unchanged in the widened window ``|x| <= s``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, s: Tensor) -> Tensor:
        return x / s

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


class StreamScale(nn.Module):
    """Training-only rescaling of a binary conv's input by its per-channel batch RMS ``s``
    (detached), which leaves ``sign`` - and so the forward pass and packed inference - unchanged:

    * ``rms``: ``x / s`` (the STE sees unit-scale inputs; the gradient into ``x`` is ``g/s`` in the
      window ``|x| <= s``), a batch norm without centring, affine or running statistics;
    * ``window``: ``x`` with the STE's window widened to ``|x| <= s`` (the gradient not rescaled).
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        s = x.detach().pow(2).mean(dim=(0, 2, 3), keepdim=True).sqrt().clamp_min(1.0)
        if self.mode == "rms":
            return x / s
        out: Tensor = WindowSign.apply(x, s)
        return out


def wrap_binary_convs(module: nn.Module, variant: str) -> None:
    """Put ``BatchNorm2d(C_in)`` (``prebn``) or a :class:`StreamScale` before every binary conv."""
    for name, child in module.named_children():
        if isinstance(child, BinaryConv2d):
            pre = nn.BatchNorm2d(child.in_channels) if variant == "prebn" else StreamScale(variant)
            setattr(module, name, nn.Sequential(pre, child))
        else:
            wrap_binary_convs(child, variant)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("genotype")
    ap.add_argument("variant", choices=("base", "prebn", "rms", "window"))
    ap.add_argument("train_images", type=int)
    ap.add_argument("epochs", type=int)
    ap.add_argument("threads", type=int, nargs="?", default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    ap.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    net = bars_zoo.build(bars_zoo.load_genotype(args.genotype))
    if args.variant != "base":
        wrap_binary_convs(net, args.variant)
    net.to(args.device)
    train = split_images("fashion-mnist", "train")
    val = split_images("fashion-mnist", "val")
    g = torch.Generator().manual_seed(0)
    train = train.subset(torch.randperm(len(train), generator=g)[: args.train_images])
    val = val.subset(torch.randperm(len(val), generator=g)[:2000])
    aug = Augment.for_dataset("fashion-mnist")
    tl = BatchLoader(train, 256, augment=aug, drop_last=True, seed=args.seed, device=args.device)
    vl = BatchLoader(val, 500, shuffle=False, device=args.device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=0)
    steps = args.epochs * len(tl)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(steps))
    for ep in range(args.epochs):
        tl.set_epoch(ep)
        net.train()
        t0 = time.time()
        total, correct, n = 0.0, 0, 0
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
            "seed": args.seed,
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
