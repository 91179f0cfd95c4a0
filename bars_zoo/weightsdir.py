"""``$BARS_ZOO_WEIGHTS_DIR``: a folder of ``<name>/`` model folders that ``load(name)`` searches
after the bundled ones.  Which names may be folders there, the folders it holds, and why a value
set for it names no folder.  Reads only the environment and the file system; whether a folder
there is accepted for its name is :func:`bars_zoo.lookup.check_weights_folder`'s to decide.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("bars_zoo.weightsdir")

#: Environment variable naming a folder of ``<name>/`` model folders searched after the bundled ones.
WEIGHTS_DIR_ENV = "BARS_ZOO_WEIGHTS_DIR"


def weights_root_problem() -> str | None:
    """Why ``$BARS_ZOO_WEIGHTS_DIR`` is set but names no folder (unset, empty - the shell's way to
    unset it - or a folder: ``None``)."""
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if root is None or not root.strip() or Path(root).is_dir():
        return None
    what = "a file, not a folder" if Path(root).exists() else "missing (a typo in the path?)"
    return f"${WEIGHTS_DIR_ENV} is {root!r}, which is {what}"


def weights_dir_names() -> list[str]:
    """Names of the folders in ``$BARS_ZOO_WEIGHTS_DIR`` (hidden ones, ``.name``, left out), the
    names ``load`` looks there for; each is checked before it is listed."""
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if not root or not root.strip() or not Path(root).is_dir():
        return []
    try:
        return sorted(p.name for p in Path(root).iterdir() if p.is_dir() and weights_dir(p.name))
    except OSError as err:  # a folder we may not read: the others are still listed
        log.warning(
            "$%s is %r, which cannot be read (%s): its models are left out",
            WEIGHTS_DIR_ENV,
            root,
            err.strerror or err,
        )
        return []


def weights_dir(name: str) -> Path | None:
    """``$BARS_ZOO_WEIGHTS_DIR/<name>/`` when the variable is set and ``name`` can be a folder
    name there (not empty, no path separator, not hidden: ``load("../x")`` looks nowhere)."""
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if (
        not root
        or not root.strip()
        or not name
        or name.startswith(".")
        or "/" in name
        or os.sep in name
    ):
        return None
    return Path(root) / name


__all__ = ["WEIGHTS_DIR_ENV", "weights_dir", "weights_dir_names", "weights_root_problem"]
