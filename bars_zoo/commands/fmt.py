"""``bars-zoo fmt FILE...``: rewrite genotype files in canonical form, atomically, keeping comments.

``--check`` writes nothing and exits 1 if a file would change; ``--diff`` prints a unified diff
instead of writing.  ``-`` formats standard input to standard output.  A file with errors is never
touched.  Exit status: 0 done, 1 errors (or changes under ``--check``), 2 a file that cannot be read
or written.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from bars_zoo._io import atomic_write_text
from bars_zoo.commands.check import load
from bars_zoo.dsl import check, format

HELP = "format genotype files canonically, in place (keeps comments)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help=".geno files to format ('-': stdin)")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file would change"
    )
    p.add_argument("--diff", action="store_true", help="print a unified diff instead of writing")


def unified_diff(old: str, new: str, name: str) -> list[str]:
    """A unified diff that ``patch`` accepts: a last line without a newline is marked as diff(1)
    marks it (``\\ No newline at end of file``)."""
    lines = []
    for line in difflib.unified_diff(
        _lines(old),
        _lines(new),
        f"{name} (original)",
        f"{name} (formatted)",
    ):
        lines.append(line)
        if not line.endswith("\n"):
            lines.append("\n\\ No newline at end of file\n")
    return lines


def _lines(text: str) -> list[str]:
    """Lines as diff(1) and patch(1) see them: ended by ``\n`` only (``str.splitlines`` also ends
    them at ``\r``, form feeds and Unicode separators, which makes a diff that patch refuses)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _only_endings(old: str, new: str) -> str:
    """`` (only line endings differ: CRLF -> LF)`` when that is the whole change, else ``""``:
    a diff of such a file marks every line changed and looks like a rewrite."""
    body = old.removeprefix("\ufeff")
    if body.replace("\r\n", "\n").replace("\r", "\n") != new:
        return ""
    changes = []
    if "\r\n" in body:
        changes.append("CRLF -> LF")
    if "\r" in body.replace("\r\n", ""):
        changes.append("CR -> LF")
    what = f"only line endings differ: {', '.join(changes)}" if changes else ""
    if body != old:
        what = "a byte order mark is dropped" + (f", and {what}" if what else "")
    return f" ({what})"


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        name = "<stdin>" if path == "-" else path
        data, unreadable = load(path)
        if unreadable is not None:
            print(unreadable.render(), file=sys.stderr)
            status = 2
            continue
        assert data is not None
        doc = check(data, name)
        if doc.spec is None:
            for d in doc.errors:
                print(d.render(), file=sys.stderr)
            status = max(status, 1)
            continue
        new = format(doc.spec, comments=doc.comments)
        if path == "-" and not (args.check or args.diff):
            sys.stdout.write(new)
            continue
        old = data.decode("utf-8")
        if old == new:
            continue
        note = _only_endings(old, new)
        if args.diff:
            sys.stdout.writelines(unified_diff(old, new, name))
        if args.check or args.diff:
            print(f"would reformat {name}{note}", file=sys.stderr)
            if args.check:
                status = max(status, 1)
            continue
        try:
            _write(path, new)
        except OSError as exc:
            print(f"error: cannot write {name}: {exc.strerror or exc}", file=sys.stderr)
            status = 2
            continue
        print(f"reformatted {name}{note}", file=sys.stderr)
    return status


def _write(path: str, text: str) -> None:
    """Replace the file atomically, keeping its permissions (and writing through a symlink)."""
    atomic_write_text(Path(path).resolve(), text)
