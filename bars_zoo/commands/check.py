"""``bars-zoo check FILE...``: parse and validate genotype files.

Exit status: 0 every file is clean (warnings allowed), 1 a file has errors, 2 a file cannot be read
(or the arguments are wrong).  ``-`` reads standard input.  ``--json`` prints one JSON document on
standard output instead of the rendered diagnostics on standard error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from bars_zoo._read import read_stdin
from bars_zoo.dsl import check, read_source
from bars_zoo.errors import Diagnostic, GenotypeError
from bars_zoo.spec import Limits, NetworkSpec

HELP = "check genotype files (exit 0 clean, 1 errors found, 2 unreadable file or usage error)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help=".geno files to check ('-': stdin)")
    p.add_argument("--json", action="store_true", help="print machine-readable diagnostics")
    p.add_argument("--no-warnings", action="store_true", help="do not report warnings")


def load(path: str) -> tuple[bytes | None, Diagnostic | None]:
    """The bytes of ``path`` (``-``: stdin), or the diagnostic that says why it cannot be read."""
    if path == "-":
        return read_stdin(Limits.MAX_FILE_BYTES + 1), None
    try:
        return read_source(path), None
    except GenotypeError as err:
        return None, err.diagnostics[0]


# on a meta line: a quoted value (skipped), a comment (the end), or a key and its '='
_META_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|#.*|(?<![\w.\-])([A-Za-z_][\w.\-]*)\s*=', re.ASCII)


def _meta_keys(text: str) -> dict[str, int]:
    """The keys of a ``meta`` line and where each starts (0-based), read as the language writes
    them: ``ops`` is not found inside ``budget_ops`` nor inside a quoted value or a comment."""
    head = re.match(r"\s*meta\b", text)
    if head is None:
        return {}
    found: dict[str, int] = {}
    for m in _META_TOKEN.finditer(text, head.end()):
        if m.group(1) is not None:
            found.setdefault(m.group(1), m.start(1))
    return found


def stale_meta_warnings(spec: NetworkSpec, data: bytes, name: str) -> list[Diagnostic]:
    """A warning at each ``meta`` line stating a number the architecture no longer has
    (:func:`bars_zoo.metacheck.stale_meta`: the file was edited after the search)."""
    from bars_zoo.metacheck import describe_stale, stale_meta

    stale = stale_meta(spec)
    if not stale:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    out = []
    for i, text in enumerate(lines, 1):
        at = _meta_keys(text)
        keys = {k: v for k, v in stale.items() if k in at}
        if not keys:
            continue
        col = min(at[k] for k in keys) + 1
        out.append(
            Diagnostic(
                code="stale-meta",
                message=f"meta {describe_stale(keys)}: no longer matches the architecture",
                severity="warning",
                filename=name,
                line=i,
                column=col,
                source_line=text,
                hint="the file was edited after the search: delete these meta keys or update "
                "them (`bars-zoo show FILE --summary` counts the architecture)",
            )
        )
    return out


def run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    status = 0
    for path in args.files:
        name = "<stdin>" if path == "-" else path
        data, unreadable = load(path)
        if unreadable is not None:
            errors, warnings = [unreadable], []
            status = 2
        else:
            assert data is not None
            doc = check(data, name)
            errors, warnings = doc.errors, doc.warnings
            if errors:
                status = max(status, 1)
            elif doc.spec is not None:
                warnings = [*warnings, *stale_meta_warnings(doc.spec, data, name)]
        if args.no_warnings:
            warnings = []
        results.append(
            {
                "file": name,
                "ok": not errors,
                "errors": len(errors),
                "warnings": len(warnings),
                "diagnostics": [d.to_dict() for d in errors + warnings],
            }
        )
        if not args.json:
            for d in errors + warnings:
                print(d.render(), file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": status == 0, "files": results}, indent=2))
    else:
        bad = sum(1 for r in results if not r["ok"])
        n_warn = sum(int(r["warnings"]) for r in results)
        print(
            f"checked {len(results)} file(s): {bad} with errors, {n_warn} warning(s)",
            file=sys.stderr,
        )
    return status
