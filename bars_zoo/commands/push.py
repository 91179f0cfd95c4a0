"""``bars-zoo push DIR REPO_ID``: publish a model folder to the Hugging Face Hub in one commit."""

from __future__ import annotations

import argparse
import sys

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


def run(args: argparse.Namespace) -> int:
    from bars_zoo.publish import push_to_hub
    from bars_zoo.trainfolder import finished_model_folder

    sha = push_to_hub(
        finished_model_folder(args.folder),  # a finished training run: its model/ folder
        args.repo_id,
        revision=args.revision,
        private=True if args.private else None,  # left out: the Hub's default for the owner
        create_pr=args.create_pr,
        commit_message=args.message,
    )
    print(sha)
    print(
        f'pin it: add "hub_repo": "{args.repo_id}", "revision": "{sha}" to the model\'s entry '
        "in bars_zoo/pretrained/registry.json (docs/hub.md)",
        file=sys.stderr,
    )
    return 0
