"""How the ``bars-zoo`` command ends on a signal: Ctrl-C (SIGINT) and SIGTERM alike.

SLURM, Kubernetes, ``timeout`` and ``torchrun`` (to its ranks) stop a job with SIGTERM, whose
default action kills the process on the spot: no message, and a temporary file or folder of an
atomic write left behind.  :func:`handled_signals` makes both signals raise :class:`Interrupted`,
a :class:`KeyboardInterrupt`, so that everything that cleans up after Ctrl-C (atomic writes,
locks, torch's data-loader workers) does so after SIGTERM too, and the command reports it in one
line and exits with ``128 + signal`` (130, 143).

Once the command has caught the interrupt it ignores both signals (:meth:`Guard.ignore`): a
second Ctrl-C during torch's shutdown at exit would otherwise raise inside an ``atexit`` callback
and print a traceback.  Not earlier, in the handler itself: code that swallows a
``KeyboardInterrupt`` (some imports do) would then leave the job deaf to every later SIGTERM.
A second signal while the first unwinds raises again and ends in the same one line.
Installed by the command only, never on import: a program that imports :mod:`bars_zoo` keeps its
own handlers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: the signals that interrupt a command
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised by the command's handler of ``signum`` (SIGINT or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(err: KeyboardInterrupt) -> int:
    """``128 + signal``, as a shell reports a process its signal ended: 130 for Ctrl-C (also a
    ``KeyboardInterrupt`` raised before the handler was installed), 143 for SIGTERM."""
    return 128 + getattr(err, "signum", signal.SIGINT)


class Guard:
    """The signal handling :func:`handled_signals` installed for its block."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}  # signal -> the handler before ours
        self.ignoring = False

    def _raise(self, signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    def ignore(self) -> None:
        """Ignore the signals from now on: the command is handling an interrupt, and its cleanup
        and exit (torch's shutdown included) run to their end without a traceback."""
        for s in self.previous:
            signal.signal(s, signal.SIG_IGN)
        self.ignoring = True


@contextmanager
def handled_signals(*, ending: bool) -> Iterator[Guard]:
    """For the block, SIGINT and SIGTERM raise :class:`Interrupted`; a signal the process was
    started ignoring (``nohup``, a background job of a script) stays ignored.  After the block the
    previous handlers come back, unless :meth:`Guard.ignore` was called and ``ending`` (the block
    is the whole program, about to exit: a second Ctrl-C during the interpreter's shutdown must
    not print a traceback either).  Outside the main thread (where Python allows no handler) it
    does nothing."""
    guard = Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    # (a handler set outside Python, which getsignal reports as None, is left alone)
    for s in SIGNALS:
        handler = signal.getsignal(s)
        if handler not in (signal.SIG_IGN, None):
            guard.previous[s] = handler
            signal.signal(s, guard._raise)
    try:
        yield guard
    finally:
        if not (guard.ignoring and ending):
            for signum, before in guard.previous.items():
                signal.signal(signum, before)


__all__ = ["SIGNALS", "Guard", "Interrupted", "exit_status", "handled_signals"]
