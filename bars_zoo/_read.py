"""Reading what a command is given: files named by a path, and standard input.

Only a regular file is read by its path.  A FIFO, a device or a pipe (``/dev/fd/63`` of a shell's
``<(...)``) is refused with :class:`~bars_zoo.errors.ConfigError` (exit status 2) before it is
opened for more than a look: reading one could wait forever for a writer, or never end
(``/dev/zero``).  A genotype on a pipe is read from standard input, ``-``, where a command takes
one.  The readers every command goes through (the DSL's ``read_source``, a model folder's
``config.json`` and weights, a demo image, a data set's files) call :func:`open_regular` or
:func:`check_regular`.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from typing import BinaryIO

from bars_zoo.errors import ConfigError

_HINT = "give a file; a FIFO, device or pipe is not read by its path (use '-' for standard input)"


def not_regular(path: str | os.PathLike[str]) -> ConfigError:
    """The error that says ``path`` exists and is not a regular file."""
    return ConfigError(f"{os.fspath(path)} is not a regular file", hint=_HINT)


def _refuse_special(path: str | os.PathLike[str], mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    if not stat.S_ISREG(mode):
        raise not_regular(path)


def check_regular(path: str | os.PathLike[str]) -> None:
    """Raise :func:`not_regular` when ``path`` exists and is neither a regular file nor a folder
    (for a path a library opens itself: ``torch.load``, PIL); a missing path passes."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return  # the caller's own open says what is wrong (no such file, no permission)
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise not_regular(path)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")``, refusing (:func:`not_regular`) anything but a regular file and
    raising :class:`IsADirectoryError` for a folder.  The open itself does not wait: a FIFO that
    appears between the check and the open is seen by ``fstat`` and refused too."""
    _refuse_special(path, os.stat(path).st_mode)
    f = open(path, "rb", opener=_nonblocking)  # noqa: SIM115 - returned open
    try:
        _refuse_special(path, os.fstat(f.fileno()).st_mode)
        os.set_blocking(f.fileno(), True)
        return f
    except BaseException:
        f.close()
        raise


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)


def read_regular(path: str | os.PathLike[str], limit: int = -1) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit`` of them when given)."""
    with open_regular(path) as f:
        return f.read(limit)


def read_regular_text(path: str | os.PathLike[str], errors: str = "strict") -> str:
    """The UTF-8 text of the regular file ``path``."""
    return read_regular(path).decode("utf-8", errors=errors)


def read_stdin(limit: int = -1) -> bytes:
    """Standard input's bytes (at most ``limit``); a closed standard input (``exec 0<&-``) raises
    :class:`~bars_zoo.errors.ConfigError`."""
    stream = sys.stdin
    try:
        if stream is None or stream.closed:
            raise ValueError("closed")
        return stream.buffer.read(limit)
    except (ValueError, OSError) as err:  # OSError: EBADF, descriptor 0 closed under us
        if isinstance(err, OSError) and err.errno != errno.EBADF:
            raise
        raise ConfigError(
            "standard input is closed",
            hint="pipe a genotype into it (bars-zoo show - < FILE), or give the file's path",
        ) from None
