"""Where the package's data lives: ``grammars/``, ``genotypes/`` and ``pretrained/``.

In a wheel they sit inside the package (``bars_zoo/grammars``...); in a source checkout (editable
install) they sit beside it at the repository root.  Everything that reads them goes through here.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The directory of bundled resource ``name`` (``grammars``, ``genotypes``, ``pretrained``)."""
    inside = _PKG / name
    if inside.is_dir():
        return inside
    beside = _PKG.parent / name
    if beside.is_dir():
        return beside
    return inside
