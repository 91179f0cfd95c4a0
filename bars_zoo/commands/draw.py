"""``bars-zoo draw NAME|FILE|- -o cells.svg``: draw every cell of a genotype and its macro layout."""

from __future__ import annotations

import argparse
import os
import sys

from bars_zoo.commands.options import add_output

HELP = "draw a genotype's cells and macro layout with graphviz (svg, png, pdf or dot source)"

FORMATS = ("svg", "png", "pdf", "dot")  # kept equal to bars_zoo.draw.FORMATS by a test
CELL_VIEWS = ("auto", "graph", "table")  # and to bars_zoo.draw.CELL_VIEWS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        metavar="NAME|FILE|-",
        help="a zoo name (bars-b; any name `bars-zoo list` lists), a .geno file, or '-' to read a "
        "genotype from standard input",
    )
    add_output(
        p,
        dest="output",
        required=True,
        metavar="PATH",
        help="file to write (cells.svg, cells.png); '-' writes to standard output (needs --format)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the file suffix)",
    )
    p.add_argument(
        "--cells",
        choices=CELL_VIEWS,
        default="auto",
        help="draw each cell as a graph or as a table of its edges (default auto: a table for a "
        "cell of more than 36 edges, whose graph would be unreadable and slow)",
    )


def run(args: argparse.Namespace) -> int:
    from bars_zoo.commands.options import genotype_argument
    from bars_zoo.draw import drawing_bytes, render
    from bars_zoo.errors import ConfigError

    if args.output == "-" and args.format is None:
        raise ConfigError(
            "-o - writes to standard output, which has no suffix to take the format from",
            hint="add --format svg (or png, pdf, dot)",
        )
    if args.output != "-" and _same_file(args.model, args.output):
        raise ConfigError(
            f"-o {args.output} is the genotype file being drawn: the drawing would replace it",
            hint="choose another output file (cells.svg)",
        )
    spec = genotype_argument(args.model)  # `-`: a genotype on standard input
    if args.output == "-":
        sys.stdout.buffer.write(drawing_bytes(spec, args.format, cells=args.cells))
        sys.stdout.buffer.flush()
        return 0
    out = render(spec, args.output, format=args.format, cells=args.cells)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _same_file(a: str, b: str) -> bool:
    """Whether both paths exist and are one file (also through a link or another spelling)."""
    try:
        return os.path.samefile(os.path.expanduser(a), os.path.expanduser(b))
    except (OSError, ValueError):
        return False
