"""``bars-zoo schema``: print the JSON Schema of the network spec."""

from __future__ import annotations

import argparse
import json

from bars_zoo.dsl import schema

HELP = "print the JSON Schema of a genotype's spec (for editors)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    del p


def run(args: argparse.Namespace) -> int:
    del args
    print(json.dumps(schema(), indent=2))
    return 0
