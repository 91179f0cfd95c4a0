"""Options that several commands share, spelled and checked the same way everywhere.

``train``, ``search`` and ``eval`` take ``--amp [MODE]``, ``--threads N`` and (train, search)
``-o/--out``, ``--progress/--no-progress``, ``--quiet`` and ``--json``.  Imported when the
parser is built: no torch at import time.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bars_zoo.errors import ConfigError

#: every mode ``--amp`` takes somewhere (``auto`` only in search: training fingerprints on/off)
AMP_MODES = ("auto", "bf16", "off")


def add_amp(p: argparse.ArgumentParser, modes: Sequence[str], help: str) -> None:
    """``--amp MODE``; ``--amp`` alone is ``--amp bf16`` (the older flag spelling)."""
    p.add_argument(
        "--amp", nargs="?", const="bf16", choices=tuple(modes), metavar="MODE", help=help
    )


#: commands with a positional argument that a bare ``--amp`` may come before
_POSITIONAL_AFTER_AMP = ("train", "eval")


def bare_amp(argv: Sequence[str]) -> list[str]:
    """``argv`` with a bare ``--amp`` written ``--amp=bf16`` where the next word is no mode.

    ``--amp`` takes an optional value, and argparse would take the word after a bare ``--amp``
    for it: ``bars-zoo train --amp bars-b ...`` (the older flag before the positional) would
    fail.  Only for commands with a positional; elsewhere a wrong mode is argparse's error."""
    words = list(argv)
    command = next((w for w in words if not w.startswith("-")), None)
    if command not in _POSITIONAL_AFTER_AMP:
        return words
    for i, word in enumerate(words):
        if word == "--":
            break
        follows = words[i + 1] if i + 1 < len(words) else "-"
        if word == "--amp" and not follows.startswith("-") and follows not in AMP_MODES:
            words[i] = "--amp=bf16"
    return words


def add_progress(p: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress`` (bars; default: when stderr is a terminal) and ``--quiet``."""
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="progress bars (default: when stderr is a terminal); the epoch lines stay",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars and no epoch lines")


def progress_of(args: argparse.Namespace) -> bool | None:
    """The ``progress`` keyword of ``--progress/--no-progress/--quiet`` (``None``: on a terminal)."""
    if args.quiet and args.progress:
        raise ConfigError("--quiet and --progress contradict", hint="give one of them")
    return False if args.quiet else args.progress


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (default: torch's; 1 is often fastest on a busy machine)",
    )


def set_threads(threads: int | None) -> None:
    """``--threads N``: torch's CPU threads (``None``: torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def check_workers(workers: int) -> None:
    if workers < 0:
        raise ConfigError(
            f"--workers must be at least 0, got {workers}",
            hint="0 loads in the main process; the workers only serve ImageNet",
        )


__all__ = [
    "AMP_MODES",
    "add_amp",
    "add_progress",
    "add_threads",
    "bare_amp",
    "check_workers",
    "progress_of",
    "set_threads",
]
