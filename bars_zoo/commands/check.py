"""``bars-zoo check FILE...``: parse and validate genotype files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bars_zoo.dsl import check
from bars_zoo.errors import Diagnostic
from bars_zoo.spec import Limits

HELP = "check genotype files (exit 0 clean, 1 errors found, 2 usage error)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help=".geno files to check")
    p.add_argument("--json", action="store_true", help="print machine-readable diagnostics")
    p.add_argument("--no-warnings", action="store_true", help="do not print warnings")


def read_source(path: str) -> tuple[bytes | None, Diagnostic | None]:
    """The bytes of ``path`` (bounded), or a located diagnostic saying why it cannot be read."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            return f.read(Limits.MAX_FILE_BYTES + 1), None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        reason = exc.strerror or type(exc).__name__
        return None, Diagnostic("no-file", f"cannot read {path}: {reason}", "error", path, 1, 1)


def run(args: argparse.Namespace) -> int:
    results = []
    failed = False
    for path in args.files:
        data, err = read_source(path)
        if err is not None:
            errors, warnings = [err], []
        else:
            assert data is not None
            doc = check(data, path)
            errors, warnings = doc.errors, doc.warnings
        failed |= bool(errors)
        if args.no_warnings:
            warnings = []
        results.append(
            {
                "file": path,
                "ok": not errors,
                "diagnostics": [d.to_dict() for d in errors + warnings],
            }
        )
        if not args.json:
            for d in errors + warnings:
                print(d.render(), file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": not failed, "files": results}, indent=2))
    else:
        n_err = sum(1 for r in results if not r["ok"])
        print(f"checked {len(results)} file(s): {n_err} with errors", file=sys.stderr)
    return 1 if failed else 0
