"""Pass 2 of the assembler: :func:`~bars_zoo.spec.check_spec` on the best-effort spec, minus echoes.

Pass 1 leaves a spec with stand-ins wherever something was wrong, and a record of its
:class:`Doubts`.  A cross-statement finding that may only be a consequence of a pass-1 error (about
a poisoned cell, a reference to a cell that failed, the layout when a layout line failed, sizes when
the input or stem failed) is dropped, so that every reported error is real.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bars_zoo.dsl._values import Path, Reader
from bars_zoo.errors import Diagnostic
from bars_zoo.spec import FORMAT_VERSION, NetworkSpec, Problem, check_spec

#: Problem codes about the layout as a whole: meaningless when a layout line failed.
_LAYOUT_CODES = frozenset(
    {
        "layout",
        "spatial-size",
        "bad-channels",
        "unusual-layout",
        "unused-cell",
        "too-large",
        "missing-section",
    }
)
#: Cell findings that do not depend on the cell's options (kept when an option had an error).
_STRUCTURAL = frozenset({"node-order", "bad-edge", "duplicate-edge", "duplicate-name"})

#: What stands in for a section that is missing or wrong.
STANDINS: dict[str, Any] = {
    "name": "unnamed",
    "input": {"channels": 3, "height": 32, "width": 32},
    "num_classes": 10,
    "stem": {"op": "conv3x3", "channels": 64, "stride": 1, "pool": "none"},
    "head": {"pool": "avgpool", "classifier": "linear"},
}


@dataclass
class Doubts:
    """What pass 1 could not vouch for."""

    poisoned: dict[Path, str] = field(default_factory=dict)  # cell -> "edges" | "options"
    failed_cells: set[str] = field(default_factory=set)  # references to these are not checked
    zero_based: set[Path] = field(default_factory=set)  # cells numbered from n0, read shifted
    nameless_cell: bool = False  # a cell line without a name failed: any unknown cell may be it
    layout_incomplete: bool = False  # a stage or downsample line failed
    sizes_unknown: bool = False  # the input or the stem failed

    def echoes(self, p: Problem, spec: NetworkSpec) -> bool:
        """Whether ``p`` may only be a consequence of a pass-1 error."""
        for q, level in self.poisoned.items():
            if p.path[: len(q)] == q and (
                p.severity == "warning" or (level == "options" and p.code not in _STRUCTURAL)
            ):
                return True
        if self.layout_incomplete and p.code in _LAYOUT_CODES:
            return True
        if self.sizes_unknown and p.code == "spatial-size":
            return True
        if p.code == "unknown-cell" and self.nameless_cell:
            return True
        if p.code == "unusual-layout" and p.path[2:3] == ("downsample",):
            # "differs from the first downsample's cell": not if either cell lost a bad part
            doubtful = {spec.cells[int(q[1])].name for q in self.poisoned}
            return any(i.kind == "downsample" and i.cell in doubtful for i in spec.layout)
        if p.code in ("unknown-cell", "bad-stride") and p.path[:1] == ("layout",):
            item = spec.layout[int(p.path[1])]
            # a cell line that failed may have been meant to define this name (a typo in it)
            close = difflib.get_close_matches(item.cell, self.failed_cells, n=1, cutoff=0.75)
            return item.cell in self.failed_cells or bool(close)
        return False


_NODE_REF = re.compile(r"\bn([1-9][0-9]*)\b")
_RULE = "n1, n2, ..."  # "nodes are named n1, n2, ...": the rule, not node names


def unshift(text: str) -> str:
    """``text`` about a cell numbered from ``n0`` and checked renumbered up by one, with its
    node names as written (``'n3'`` -> ``'n2'``)."""
    parts = text.split(_RULE)
    return _RULE.join(_NODE_REF.sub(lambda m: f"n{int(m.group(1)) - 1}", t) for t in parts)


def cross_check(
    reader: Reader, parts: dict[str, Any], doubts: Doubts
) -> tuple[NetworkSpec | None, list[Diagnostic], list[Diagnostic]]:
    """The spec (``None`` if pass 1 left no cell or no layout), errors and warnings.

    ``parts`` holds the sections pass 1 read (``cells``, ``layout`` and ``meta`` always).
    """
    if not parts["cells"] or not parts["layout"]:
        return None, [], []
    if "input" not in parts or "stem" not in parts:
        doubts.sizes_unknown = True
    d = {k: parts.get(k, v) for k, v in STANDINS.items()}
    d.update(
        version=FORMAT_VERSION, cells=parts["cells"], layout=parts["layout"], meta=parts["meta"]
    )
    try:
        spec = NetworkSpec.model_validate(d)
    except ValidationError as ve:  # pragma: no cover - pass 1 enforces every field rule
        errs = [
            reader.diag("bad-value", e["msg"], reader.locate(tuple(e["loc"]))) for e in ve.errors()
        ]
        return None, errs, []
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for p in check_spec(spec):
        if doubts.echoes(p, spec):
            continue
        msg = p.message
        if p.first is not None:  # what this finding repeats is written further up
            msg += f" (first on line {reader.locate(p.first)[0]})"
        hint = p.hint
        if p.path[:2] in doubts.zero_based:  # checked renumbered: name the nodes as written
            msg, hint = unshift(msg), hint and unshift(hint)
        diag = reader.diag(p.code, msg, reader.locate(p.path), hint, p.severity)
        (errors if p.severity == "error" else warnings).append(diag)
    return spec, errors, warnings
