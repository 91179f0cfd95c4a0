"""Running Graphviz for :mod:`bars_zoo.draw`: lay out the parts of a drawing apart, then pack them.

``dot`` lays a graph out in time that grows faster than the graph: its x-coordinate pass (network
simplex) works on every node of the graph at once, clusters that share no edge included.  One graph
holding eight dense cells took about 30 s, 28 of them in that pass (``dot -v``); 32 took over 300 s.
So the parts of a drawing (the layout row, each cell, the legend) are graphs of their own:

1. ``dot`` lays each one out (one process, the graphs one after another in its input);
2. ``gvpack -array_il1`` puts them in one graph, one column, in input order, left aligned;
3. ``neato -n2`` renders that graph without moving anything.

The cost is then the sum of the parts.  Without ``gvpack`` (a Graphviz install without its tools)
the parts are drawn as one graph by ``dot``, which is the same picture but slow for large files.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from bars_zoo.errors import MissingDependencyError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: apt install graphviz; macOS: brew install graphviz; "
    "conda: conda install graphviz) so that `dot` is on PATH, or write the source with --format dot"
)


def _run(argv: list[str], data: bytes, what: str) -> bytes:
    try:
        done = subprocess.run(argv, input=data, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise MissingDependencyError(
            f"drawing to {what} needs Graphviz's `{argv[0]}` program, which is not installed",
            hint=INSTALL_HINT,
        ) from exc
    message = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode:
        # our own DOT text was refused: a bug, not a user mistake
        raise RuntimeError(f"{' '.join(argv)} failed (exit {done.returncode}): {message}")
    if message:
        log.warning("%s: %s", argv[0], message)
    return done.stdout


def packing_available() -> bool:
    """Whether ``gvpack`` is installed (then parts are laid out apart, see the module docstring)."""
    return shutil.which("gvpack") is not None


def render_parts(parts: list[str], fmt: str, name: str) -> bytes:
    """Lay out every graph in ``parts`` on its own, stack them top to bottom, render as ``fmt``.

    ``name`` (letters, digits, ``_.-`` only) names the packed graph: SVG shows it as the title.
    """
    laid_out = _run(["dot"], "\n".join(parts).encode("utf-8"), fmt)
    packed = _run(["gvpack", "-array_il1", f"-s{name}"], laid_out, fmt)
    return _run(["neato", "-n2", f"-T{fmt}"], packed, fmt)


def render_one(source: str, fmt: str) -> bytes:
    """Lay out and render one graph with ``dot``."""
    return _run(["dot", f"-T{fmt}"], source.encode("utf-8"), fmt)
