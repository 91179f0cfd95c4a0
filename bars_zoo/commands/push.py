"""``bars-zoo push DIR REPO_ID``: publish a model folder to the Hugging Face Hub in one commit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "upload a model folder (save_pretrained layout) to a Hub repo; prints the commit sha"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folder",
        metavar="DIR",
        help="a folder written by save_pretrained, or a finished `bars-zoo train` --out folder "
        "(its model/ folder is uploaded)",
    )
    p.add_argument("repo_id", metavar="REPO_ID", help="ORG/NAME on the Hub (created if needed)")
    p.add_argument(
        "--revision", metavar="BRANCH", help="branch to commit to (created if needed; default main)"
    )
    p.add_argument(
        "--private",
        action="store_true",
        help="create the repo private (default: the Hub's default for its owner); an existing "
        "public repo is refused, nothing uploaded",
    )
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead")
    p.add_argument("--message", metavar="MSG", help="commit message")
    p.add_argument(
        "--allow-untrained",
        action="store_true",
        help="publish untrained weights (a folder that records no training, e.g. from "
        "`bars-zoo build -o`); refused without it. The card says they are untrained",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="verify and stage the folder, then print the files, their sizes, config.json and "
        "the card a push would upload; no network call",
    )


def run(args: argparse.Namespace) -> int:
    from bars_zoo.publish import push_to_hub
    from bars_zoo.trainfolder import finished_model_folder

    folder = finished_model_folder(args.folder)  # a finished training run: its model/ folder
    out = push_to_hub(
        folder,
        args.repo_id,
        revision=args.revision,
        private=True if args.private else None,  # left out: the Hub's default for the owner
        create_pr=args.create_pr,
        commit_message=args.message,
        allow_untrained=args.allow_untrained,
        dry_run=args.dry_run,
    )
    if args.dry_run:
        print(out, end="")
        return 0
    print(out)
    print(pin_hint(folder, args.repo_id, out), file=sys.stderr)
    return 0


def pin_hint(folder: Path, repo_id: str, sha: str) -> str:
    """How to pin the pushed commit: in the registry entry of its architecture when the folder
    holds that entry's model (:func:`registry_match`; docs/hub.md), else how others load exactly
    this commit."""
    from bars_zoo import registry

    config = registry.read_config(folder)
    name = config.architecture
    loads = f'others load exactly this commit with bars_zoo.load("hf-hub:{repo_id}@{sha}")'
    if not registry_match(config):
        return loads
    return (
        f'pin it: set "hub_repo": "{repo_id}", "revision": "{sha}", "sha256": '
        f'"{config.weights_sha256}" in the registry entry of {name!r} '
        f"(bars_zoo.registry.add_entry; docs/hub.md); {loads}"
    )


def registry_match(config: Any) -> bool:
    """Whether a folder's ``config`` holds the model of the registry (or zoo) entry named after
    its architecture: trained weights of the very genotype the package has for that name (genotype
    sha256), on the entry's data set (a zoo name without an entry: its genotype's).  A fine-tuned
    ``bars-b`` on another data set, an edited genotype under the name, untrained weights, or an
    entry whose genotype is only on the Hub: no match."""
    from bars_zoo import registry
    from bars_zoo.lookup import zoo_genotype
    from bars_zoo.trainedness import folder_trained

    name = config.architecture
    entry = registry.get(name)
    spec = zoo_genotype(name, entry)
    if spec is None or not folder_trained(config):
        return False
    dataset = entry.dataset if entry is not None else registry.default_cfg(spec).dataset
    return bool(
        config.genotype_sha256 == registry.genotype_sha256(spec)
        and dataset is not None
        and config.pretrained_cfg.dataset == dataset
    )
