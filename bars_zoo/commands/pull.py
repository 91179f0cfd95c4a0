"""``bars-zoo pull NAME``: fetch a model's files into the local cache and verify them."""

from __future__ import annotations

import argparse

HELP = "download and verify a pretrained model (zoo name or hf-hub:ORG/REPO[@REV]) for offline use"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="zoo name, hf-hub:ORG/REPO[@REV] or local-dir:PATH")
    p.add_argument(
        "--revision",
        metavar="REV",
        help="branch, tag or commit (default: the registry's pin / main)",
    )
    p.add_argument(
        "--cache-dir", metavar="DIR", help="Hugging Face cache folder (default: HF_HUB_CACHE)"
    )


def run(args: argparse.Namespace) -> int:
    from bars_zoo.hub import pull

    folder = pull(args.name, revision=args.revision, cache_dir=args.cache_dir)
    print(folder)
    return 0
