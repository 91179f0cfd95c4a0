"""Atomic file writes: a temporary file in the same folder, fsync, then rename."""

from __future__ import annotations

import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    atomic_write_with(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_file_path(target: Path) -> None:
    """Raise the matching :class:`OSError`, naming the path, when ``target`` is a folder or lies
    under a file (so that a long job can check its output path before it starts)."""
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(target))
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(parent))
            break


def probe_writable(folder: Path) -> None:
    """Make ``folder`` (with its parents) and create and delete a file in it, so that a long job
    learns at its start, not at its end, that it cannot write its output there (a read-only
    mount, ``/sys``, a folder of another user).  Raises the :class:`OSError` naming ``folder``."""
    with blamed_on(folder):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(tmp)


def unwritable(folder: Path) -> str | None:
    """``"PATH (reason)"`` when :func:`probe_writable` fails for ``folder``, else ``None``."""
    try:
        probe_writable(folder)
    except OSError as err:
        return f"{err.filename} ({err.strerror})"
    return None


LOCK = ".lock"  # the file a run folder's lock is taken on (kept; it is empty)


@contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive advisory lock (``flock``) on ``folder/.lock`` for the block; yields
    whether it was taken (``False``: another process holds it).  The kernel drops the lock when
    its holder ends, however it ends, so a killed run never leaves a stale lock.  Without
    ``fcntl`` (Windows) nothing is locked and it yields ``True``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    with open(folder / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_leftovers(folder: Path, names: Iterable[str]) -> list[Path]:
    """Delete what an atomic write of one of ``names`` in ``folder`` leaves behind when its process
    is killed in the middle (SIGKILL, a lost node): the temporary ``.NAME.xxxx.tmp`` file or folder
    and a replaced folder's ``.NAME.xxxx.old``.  Nothing else is touched; returns what went."""
    gone = []
    for name in names:
        for suffix in (".tmp", ".old"):
            for path in sorted(folder.glob(f".{glob.escape(name)}.*{suffix}")):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                gone.append(path)
    return gone


@contextmanager
def blamed_on(target: Path) -> Iterator[None]:
    """Re-raise an :class:`OSError` of making a temporary sibling of ``target`` as ``target``'s, so
    that the user reads the path they asked for, not ``.NAME.xxxx.tmp``."""
    try:
        yield
    except OSError as e:
        raise type(e)(e.errno, e.strerror, str(target)) from e


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[..., object]) -> None:
    """Call ``writer(fileobj)`` on a temporary file, then rename it over ``path``.

    The file gets the mode an ordinary write would give it: the old file's, else the umask's
    (``mkstemp`` alone would leave it readable by its owner only).  A ``path`` that is a folder,
    or under a file, raises the matching :class:`OSError` naming ``path``, not the temporary file.
    """
    target = Path(path)
    check_file_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o7777 if target.exists() else _new_file_mode()
    with blamed_on(target):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
