"""Where a trained binary network's activations sit against the clipped-STE window.

``SignSTE`` (``bars_zoo.binary``) passes the gradient only where ``|x| <= 1``.  For each binary conv
of each model this prints the share of its input values inside that window and their mean ``|x|``,
on ``--images`` test images (eval mode: the running BN statistics).  A cell's ``preprocess`` conv
reads the residual stream, whose scale grows from cell to cell; a small share there means the
stream gets almost no gradient through that conv.

    python scripts/ste_window.py bars-fmnist-l xnor-resnet18-fmnist
    python scripts/ste_window.py runs/l/model --summary
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

import bars_zoo
from bars_zoo.binary import BinaryConv2d
from bars_zoo.data import normalize
from bars_zoo.evaluation import split_images


def window_shares(net: nn.Module, x: Tensor) -> list[tuple[str, float, float]]:
    """``(module name, share of inputs with |x| <= 1, mean |x|)`` for every binary conv."""
    rows: list[tuple[str, float, float]] = []
    hooks = []
    for name, mod in net.named_modules():
        if isinstance(mod, BinaryConv2d):

            def hook(_m: nn.Module, inp: tuple[Tensor, ...], name: str = name) -> None:
                a = inp[0].detach().abs()
                rows.append((name, float((a <= 1).float().mean()), float(a.mean())))

            hooks.append(mod.register_forward_pre_hook(hook))
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", nargs="+", help="zoo names or model folders")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--summary", action="store_true", help="one line per model")
    args = ap.parse_args()
    data = split_images("fashion-mnist", "test", subset=args.images)
    x = normalize(data.images, data.info)  # what BatchLoader feeds the model
    for ref in args.models:
        rows = window_shares(bars_zoo.load(ref).eval(), x)
        shares = [s for _, s, _ in rows]
        print(
            f"{ref}: {len(rows)} binary convs; share of inputs with |x| <= 1: mean "
            f"{sum(shares) / len(shares):.2f}, min {min(shares):.2f}; largest mean |x| "
            f"{max(a for _, _, a in rows):.1f}"
        )
        if not args.summary:
            for name, share, absmean in rows:
                print(f"    {name:36s} {share:5.2f}   mean |x| {absmean:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
