"""Atomic file writes: a temporary file in the same folder, fsync, then rename.

Only a regular file (or a new one) is replaced so: a path that names a character device or a FIFO
(``-o /dev/null``, ``-o /dev/stdout``, a named pipe) is written into as it is, never renamed over,
and any other special file (a socket, a block device) is refused.  A symlink is written through:
the file it points to gets the new content, the link stays.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, NoReturn

from bars_zoo.errors import ConfigError


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


LOCK = ".lock"  # the file a run folder's lock is taken on (while it is held; deleted after)


@contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive advisory lock (``flock``) on ``folder/.lock`` for the block; yields
    whether it was taken (``False``: another process holds it).  The kernel drops the lock when
    its holder ends, however it ends, so a killed run never leaves a stale lock (a ``.lock`` a
    killed run leaves is taken by the next run as if it were not there).  The holder deletes the
    file when the block ends (a finished or interrupted run leaves no empty ``.lock``); a process
    that locked the file just as it was deleted sees that it is no longer the folder's ``.lock``
    and tries again.  Without ``fcntl`` (Windows) nothing is locked and it yields ``True``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    path = folder / LOCK
    while True:
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current != os.fstat(f.fileno()).st_ino:
                continue  # its holder deleted it after we opened it: lock the new one
            try:
                yield True
            finally:
                # before the unlock: a waiting process then retries; a file that cannot go (a
                # folder made read-only or on a read-only mount meanwhile) stays, and is unlocked
                with suppress(OSError):
                    path.unlink()
                fcntl.flock(f, fcntl.LOCK_UN)
            return


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
    """Re-raise an :class:`OSError` of making or writing a temporary sibling of ``target`` as
    ``target``'s, so that the user reads the path they asked for, not ``.NAME.xxxx.tmp`` (or no
    path at all: a full disk's ``write`` names none)."""
    try:
        yield
    except OSError as e:
        if e.errno is None:  # not the file system's (no errno to rebuild it from)
            raise
        raise type(e)(e.errno, e.strerror, str(target)) from e


def written_in_place(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`atomic_write_with` writes into ``path`` as it is (a character device such
    as ``/dev/null``, a FIFO, a link to one), not through a temporary file renamed over it."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _write_in_place(target: Path, writer: Callable[..., object]) -> None:
    """Write into the character device or FIFO ``target``: a FIFO nobody reads is refused (its
    open would wait for a reader forever); a device's error (``/dev/full``) names ``target``."""
    with blamed_on(target):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as err:
            if err.errno != errno.ENXIO:
                raise
            raise OSError(
                errno.ENXIO, "a FIFO that nobody reads (start its reader first)"
            ) from None
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as f:
            _write_through(f, writer)


def _write_through(f: IO[bytes], writer: Callable[..., object]) -> None:
    """``writer(f)``, then flush; a write error that ``writer`` turned into another exception
    (``torch.save``) is raised as the write's own :class:`OSError` (:class:`_WriteErrors`)."""
    sink = _WriteErrors(f)
    try:
        writer(sink)
    except Exception as exc:
        sink.reraise(exc)
    f.flush()


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[..., object]) -> None:
    """Call ``writer(fileobj)`` on a temporary file, then rename it over ``path``.

    A ``path`` that names (also through a symlink) a character device or a FIFO is written into
    directly (:func:`written_in_place`); another special file (a socket, a block device) raises
    :class:`~bars_zoo.errors.ConfigError`; a symlink to a regular file, or one that dangles, is written
    through (the file it names is replaced, the link stays).

    The file gets the mode an ordinary write would give it: the old file's, else the umask's
    (``mkstemp`` alone would leave it readable by its owner only).  A ``path`` that is a folder,
    or under a file, raises the matching :class:`OSError` naming ``path``, not the temporary file;
    so does a failed write (a full disk), also when ``writer`` turned the write's error into
    another exception (``torch.save``).  On any failure the temporary file is removed and the old
    ``path`` stays as it was.
    """
    target = Path(path)
    check_file_path(target)
    try:
        kind = os.stat(target).st_mode
    except FileNotFoundError:  # a new file, or a symlink that dangles
        kind = stat.S_IFREG
    if stat.S_ISCHR(kind) or stat.S_ISFIFO(kind):
        _write_in_place(target, writer)
        return
    if not stat.S_ISREG(kind):
        raise ConfigError(
            f"{os.fspath(path)} is not a regular file: it is not written over",
            hint="choose another path (a socket or a block device is never replaced)",
        )
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o7777 if target.exists() else _new_file_mode()
    with blamed_on(target):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with blamed_on(target):
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as f:
                _write_through(f, writer)
                os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _WriteErrors:
    """A file object that remembers the :class:`OSError` its ``write`` raised (a full disk), for
    writers that turn it into another exception: ``torch.save`` raises ``RuntimeError: [enforce
    fail at inline_container.cc] unexpected pos``, which names neither the file nor the cause."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._f.write(data)
        except OSError as err:
            self.error = err
            raise

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)

    def reraise(self, exc: Exception) -> NoReturn:
        """Raise the write's :class:`OSError` in place of ``exc`` when there was one."""
        if self.error is not None and self.error is not exc:
            raise self.error from exc
        raise exc
