"""``bars-zoo card DIR``: regenerate a model folder's README.md (its model card)."""

from __future__ import annotations

import argparse

HELP = "regenerate the model card (README.md) of a model folder from its config and genotype"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folder",
        metavar="DIR",
        help="a folder written by save_pretrained, or a finished `bars-zoo train` --out folder "
        "(its model/ folder)",
    )
    p.add_argument(
        "--force", action="store_true", help="also replace a README.md that was written by hand"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bars_zoo.folder import load_folder
    from bars_zoo.foldercard import write_card
    from bars_zoo.trainfolder import finished_model_folder

    folder = finished_model_folder(args.folder)  # a finished training run: its model/ folder
    if Path(folder).is_dir():
        load_folder(folder)  # every check a load makes: no card for a broken folder
    print(write_card(folder, force=args.force))
    return 0
