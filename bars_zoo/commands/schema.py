"""``bars-zoo schema``: print the JSON Schema of the network spec (for editors and tools)."""

from __future__ import annotations

import argparse
import json

from bars_zoo.dsl import schema

HELP = "print the JSON Schema of a genotype's spec (for editors)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compact", action="store_true", help="one line instead of indented JSON")


def run(args: argparse.Namespace) -> int:
    print(json.dumps(schema(), indent=None if args.compact else 2, sort_keys=True))
    return 0
