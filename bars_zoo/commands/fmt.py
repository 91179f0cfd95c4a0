"""``bars-zoo fmt FILE...``: rewrite genotype files in canonical form (atomically)."""

from __future__ import annotations

import argparse
import difflib
import sys

from bars_zoo._io import atomic_write_text
from bars_zoo.commands.check import read_source
from bars_zoo.dsl import check, format

HELP = "format genotype files canonically, in place"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help=".geno files to format")
    p.add_argument(
        "--check", action="store_true", help="exit 1 if a file would change; write nothing"
    )
    p.add_argument("--diff", action="store_true", help="print a unified diff instead of writing")


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        data, err = read_source(path)
        if err is not None:
            print(err.render(), file=sys.stderr)
            status = 1
            continue
        assert data is not None
        doc = check(data, path)
        if doc.spec is None:
            for d in doc.errors:
                print(d.render(), file=sys.stderr)
            status = 1
            continue
        old = data.decode("utf-8")
        new = format(doc.spec, header=doc.header)
        if old == new:
            continue
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(keepends=True), new.splitlines(keepends=True), path, path
                )
            )
        if args.check or args.diff:
            print(f"would reformat {path}", file=sys.stderr)
            status = max(status, 1) if args.check else status
            continue
        atomic_write_text(path, new)
        print(f"reformatted {path}", file=sys.stderr)
    return status
