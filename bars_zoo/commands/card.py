"""``bars-zoo card DIR``: regenerate a model folder's README.md (its model card)."""

from __future__ import annotations

import argparse

HELP = "regenerate the model card (README.md) of a model folder from its config and genotype"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="a folder written by save_pretrained")


def run(args: argparse.Namespace) -> int:
    from bars_zoo.hub import write_card

    print(write_card(args.folder))
    return 0
