"""``bars-zoo demo``: the README's first command (see README.md)."""

from __future__ import annotations

import argparse

from bars_zoo._resources import resource_dir
from bars_zoo.dsl import read

HELP = "run the offline demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    del p


def run(args: argparse.Namespace) -> int:
    del args
    for path in sorted(resource_dir("genotypes").glob("*.geno")):
        spec = read(path)
        print(
            f"{spec.name:28s} input {'x'.join(map(str, spec.input_shape))}  cells {len(spec.cells)}"
        )
    return 0
