"""The semantic checks: cross-field rules of a spec that field types cannot express.

Each finding is a :class:`Problem` whose ``path`` names the offending field like a pydantic ``loc``;
the DSL turns it into a located diagnostic, :func:`ensure_valid` into a :class:`SpecError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from bars_zoo.errors import SpecError
from bars_zoo.spec._model import CellSpec, DownsampleSpec, Limits, NetworkSpec, StageSpec
from bars_zoo.spec._shapes import (
    _active_sources,
    _next_is_downsample,
    _next_stage,
    halve,
    live_edges,
    placements,
    stem_output,
)

# --------------------------------------------------------------------------- semantic checks


@dataclass(frozen=True)
class Problem:
    """A semantic finding; ``path`` names the offending field like a pydantic ``loc``."""

    code: str
    message: str
    path: tuple[str | int, ...]
    severity: Literal["error", "warning"] = "error"
    hint: str | None = None
    #: where the thing this finding repeats is first defined (the DSL says on which line)
    first: tuple[str | int, ...] | None = None


def check_spec(spec: NetworkSpec) -> list[Problem]:
    """Cross-field rules that pydantic field types cannot express.  Errors first, then warnings."""
    probs: list[Problem] = []
    names: dict[str, int] = {}
    broken: set[str] = set()  # cells with an error of their own
    defined = set(spec.cell_names())
    missing = list(dict.fromkeys(i.cell for i in spec.layout if i.cell not in defined))
    for ci, cell in enumerate(spec.cells):
        if cell.name in names:
            # a copied cell whose name was not changed: the name it should have is likely missing
            hint = (
                f"rename one of them; is it {missing[0]!r}, which the layout uses but no cell "
                "defines?"
                if missing
                else "rename one of them"
            )
            probs.append(
                Problem(
                    "duplicate-name",
                    f"cell {cell.name!r} is defined twice",
                    ("cells", ci, "name"),
                    hint=hint,
                )
            )
        names.setdefault(cell.name, ci)
        found = _check_cell(cell, ci)
        if any(p.severity == "error" for p in found):
            broken.add(cell.name)
        probs.extend(found)

    dups = [c.name for ci, c in enumerate(spec.cells) if names[c.name] != ci]
    used: set[str] = set()
    stage_names: set[str] = set()
    prev_stage_ch: int | None = None
    last_was_down = False
    for li, item in enumerate(spec.layout):
        if isinstance(item, StageSpec):
            last_was_down = False
            if item.name in stage_names:
                probs.append(
                    Problem(
                        "duplicate-name",
                        f"stage {item.name!r} is defined twice",
                        ("layout", li, "stage", "name"),
                    )
                )
            stage_names.add(item.name)
            if prev_stage_ch is not None and item.channels < prev_stage_ch:
                probs.append(
                    Problem(
                        "unusual-layout",
                        f"stage {item.name!r} is narrower ({item.channels}) than the stage before it "
                        f"({prev_stage_ch})",
                        ("layout", li, "stage", "channels"),
                        severity="warning",
                    )
                )
            before = spec.layout[li - 1] if li > 0 else None
            if isinstance(before, StageSpec):
                probs.append(
                    Problem(
                        "unusual-layout",
                        f"stage {item.name!r} follows stage {before.name!r} without a "
                        "downsample: it runs at the same resolution",
                        ("layout", li, "stage", "name"),
                        severity="warning",
                        hint="put a 'downsample cell=...' line between them if the resolution "
                        "should halve there",
                    )
                )
            prev_stage_ch = item.channels
            probs.extend(
                _check_cell_ref(spec, names, item.cell, 1, ("layout", li, "stage", "cell"), dups)
            )
        else:
            loc: tuple[str | int, ...] = ("layout", li, "downsample", "cell")
            if last_was_down:
                probs.append(
                    Problem(
                        "layout",
                        "two downsamples in a row",
                        loc,
                        hint="put a stage between them: a downsample takes its width from the next stage",
                    )
                )
            elif _next_stage(spec, li) is None and not _next_is_downsample(spec, li):
                probs.append(
                    Problem(
                        "layout",
                        "a downsample must be followed by a stage",
                        loc,
                        hint="its output width is the 'channels' of the stage after it; add one",
                    )
                )
            last_was_down = True
            probs.extend(_check_cell_ref(spec, names, item.cell, 2, loc, dups))
        used.add(item.cell)

    if not any(isinstance(i, StageSpec) for i in spec.layout):
        probs.append(
            Problem(
                "missing-section",
                "the network has no stage",
                ("layout",),
                hint="add a 'stage' line",
            )
        )

    total = 0
    for li, item in enumerate(spec.layout):
        total += item.depth if isinstance(item, StageSpec) else 1
        if total > Limits.MAX_TOTAL_CELLS:
            field = "depth" if isinstance(item, StageSpec) else "cell"
            probs.append(
                Problem(
                    "too-large",
                    f"the network has more than {Limits.MAX_TOTAL_CELLS} cells",
                    ("layout", li, item.kind, field),
                    hint="reduce the stage depths",
                )
            )
            break

    if not any(p.severity == "error" for p in probs):
        probs.extend(_check_sizes(spec))

    for ci, cell in enumerate(spec.cells):
        if cell.name not in used:
            probs.append(
                Problem(
                    "unused-cell",
                    f"cell {cell.name!r} is defined but never used",
                    ("cells", ci, "name"),
                    severity="warning",
                )
            )
    probs.extend(_mixed_reductions(spec, names, broken))
    probs.sort(key=lambda p: p.severity != "error")
    return probs


def _mixed_reductions(spec: NetworkSpec, names: dict[str, int], broken: set[str]) -> list[Problem]:
    """BARS shares one reduction cell between all downsamples: a downsample cell that computes
    something else than the first downsample's is legal (a hand-made network may want it) but
    unusual; warned once per such cell.  Downsamples whose cell has an error (not stride 2, or
    one of its own) take no part: the error says what to fix, and the warning would compare
    against, or recommend, a cell that cannot be a downsample's."""
    first: CellSpec | None = None
    warned: set[str] = set()
    probs: list[Problem] = []
    for li, item in enumerate(spec.layout):
        if not isinstance(item, DownsampleSpec) or item.cell not in names or item.cell in broken:
            continue
        cell = spec.cells[names[item.cell]]
        if cell.stride != 2:
            continue
        if first is None:
            first = cell
        elif cell.name not in warned and cell.model_copy(update={"name": first.name}) != first:
            warned.add(cell.name)
            probs.append(
                Problem(
                    "unusual-layout",
                    f"downsample cell {cell.name!r} differs from the first downsample's cell "
                    f"{first.name!r}; BARS shares one reduction cell between all downsamples",
                    ("layout", li, "downsample", "cell"),
                    severity="warning",
                    hint=f"use {first.name!r} for every downsample, unless the difference is meant",
                )
            )
    return probs


def _check_cell_ref(
    spec: NetworkSpec,
    names: dict[str, int],
    ref: str,
    stride: int,
    loc: tuple[str | int, ...],
    dups: list[str],
) -> list[Problem]:
    if ref not in names:
        from difflib import get_close_matches

        close = get_close_matches(ref, list(names), n=1)
        if dups:  # a copied cell that kept its name, or a typo here
            hint = f"cell {dups[0]!r} is defined twice: was one of them meant to be {ref!r}?"
            hint += f" (or did you mean {close[0]!r}?)" if close else ""
        elif close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = f"defined cells: {', '.join(names) or 'none'}"
        return [Problem("unknown-cell", f"no cell named {ref!r}", loc, hint=hint)]
    cell = spec.cells[names[ref]]
    if cell.stride != stride:
        where = "a downsample" if stride == 2 else "a stage"
        want = "stride=2" if stride == 2 else "stride=1"
        return [
            Problem(
                "bad-stride",
                f"cell {ref!r} has stride={cell.stride} but {where} needs {want}",
                loc,
                hint=f"use a cell declared with {want} here",
            )
        ]
    return []


def _node_order(
    cell: CellSpec, base: tuple[str | int, ...]
) -> tuple[list[Problem], dict[int, list[str]]]:
    """One finding per numbering mistake, so that a duplicated, missing or misnumbered node does
    not make every node after it "out of order" too.  Also the names that the edges of node ``ni``
    and later may use without a finding of their own (``excused[ni]``): a missing node's, and the
    name a misnumbered node should have had, whose absence has been reported."""
    nums = [int(n.name[1:]) for n in cell.nodes]
    first: dict[int, int] = {}
    excused: dict[int, list[str]] = {}
    probs: list[Problem] = []
    expected = 1  # the number the next node should have
    for ni, k in enumerate(nums):
        loc = (*base, "nodes", ni, "name")
        name, want = f"n{k}", f"n{expected}"
        later = nums[ni + 1 :]
        if k == expected and k not in first:
            first[k] = ni
            expected += 1
            continue
        if k in first:
            hint = "remove one of them, or renumber: nodes are named n1, n2, ... in order"
            if expected not in later:  # a copied line whose name was not changed
                hint = f"rename this one: is it {want!r}, which no node defines?"
                excused[ni + 1] = [want]
                expected += 1
            probs.append(
                Problem(
                    "node-order",
                    f"node {name!r} is defined twice",
                    loc,
                    hint=hint,
                    first=(*base, "nodes", first[k], "name"),
                )
            )
            continue
        first[k] = ni
        if expected in later:  # this node is out of place; the one expected here comes later
            msg = f"node {name!r} out of order: expected {want!r}"
            hint = f"move it below {want!r}, or renumber: nodes are named n1, n2, ... in order"
        elif k > expected and not any(expected <= j < k for j in later):  # a gap: nodes missing
            gap = [want] if k == expected + 1 else [want, f"n{k - 1}"]
            msg = (
                f"node {want!r} is missing"
                if len(gap) == 1
                else f"nodes {want!r} to {gap[1]!r} are missing"
            )
            msg += f" (the node after {f'n{expected - 1}'!r} is {name!r})" if expected > 1 else ""
            hint = (
                f"add it, or rename {name!r} and the nodes after it: nodes are named n1, n2, ... "
                "without gaps"
            )
            excused[ni] = [f"n{j}" for j in range(expected, min(k, expected + Limits.MAX_NODES))]
            expected = k + 1
        else:  # misnumbered: taken as the node expected here
            msg = f"node {name!r} out of order: expected {want!r}"
            hint = f"rename it to {want!r}: nodes are named n1, n2, ... in order"
            excused[ni + 1] = [want]
            expected += 1
        probs.append(Problem("node-order", msg, loc, hint=hint))
    return probs, excused


def _check_cell(cell: CellSpec, ci: int) -> list[Problem]:
    probs: list[Problem] = []
    base: tuple[str | int, ...] = ("cells", ci)
    order, excused = _node_order(cell, base)
    probs.extend(order)
    seen: list[str] = []
    for ni, node in enumerate(cell.nodes):
        seen.extend(excused.get(ni, ()))
        sources: set[str] = set()
        for ei, e in enumerate(node.edges):
            loc = (*base, "nodes", ni, "edges", ei, "source")
            if e.source in sources:
                probs.append(
                    Problem(
                        "duplicate-edge",
                        f"node {node.name!r} lists an edge from {e.source!r} twice",
                        loc,
                        hint="keep one edge per source; a node sums its inputs",
                    )
                )
            sources.add(e.source)
            if e.source != "in" and e.source not in seen:
                if e.source == node.name:
                    msg = f"node {node.name!r} takes an edge from itself"
                elif any(n.name == e.source for n in cell.nodes):
                    msg = f"edge from {e.source!r}, which comes after {node.name!r}"
                else:
                    msg = f"edge from undefined node {e.source!r}"
                probs.append(
                    Problem(
                        "bad-edge",
                        msg,
                        loc,
                        hint=f"edges come from 'in' or an earlier node ({', '.join(['in', *seen])})",
                    )
                )
        seen.append(node.name)
    if cell.stride == 1 and "bfr" in (cell.preprocess, cell.shortcut):
        field = "preprocess" if cell.preprocess == "bfr" else "shortcut"
        probs.append(
            Problem(
                "bad-op",
                "'bfr' (binary factorized reduce) only works in a stride=2 cell",
                (*base, field),
                hint="use bconv3x3 or bconv1x1, or declare the cell with stride=2",
            )
        )
    if probs:
        return probs
    active = _active_sources(cell)
    live_nodes = {n for n, _ in live_edges(cell)}
    for ni, node in enumerate(cell.nodes):
        if node.name not in active:
            probs.append(
                Problem(
                    "dead-node",
                    f"node {node.name!r} has no live input and is always zero",
                    (*base, "nodes", ni, "name"),
                    severity="warning",
                    hint="BARS keeps 'none' on purpose, but edges leaving this node do nothing",
                )
            )
        elif ni < len(cell.nodes) - 1 and node.name not in live_nodes:
            probs.append(
                Problem(
                    "unused-node",
                    f"node {node.name!r} does not reach the cell output and is never computed",
                    (*base, "nodes", ni, "name"),
                    severity="warning",
                )
            )
    if cell.nodes[-1].name not in active and cell.shortcut == "none":
        probs.append(
            Problem(
                "dead-cell",
                f"cell {cell.name!r} always outputs zero (dead last node and shortcut=none)",
                (*base, "name"),
                severity="warning",
            )
        )
    return probs


def _check_sizes(spec: NetworkSpec) -> list[Problem]:
    probs: list[Problem] = []
    _, h, w = stem_output(spec)
    for li, item in enumerate(spec.layout):
        if isinstance(item, DownsampleSpec):
            if h <= 1 and w <= 1:
                probs.append(
                    Problem(
                        "spatial-size",
                        f"downsample at 1x1 resolution: the input {spec.input.height}x"
                        f"{spec.input.width} is too small for this many downsamples",
                        ("layout", li, "downsample", "cell"),
                        hint="remove a downsample or use a larger input",
                    )
                )
                return probs
            h, w = halve(h), halve(w)
    for p in placements(spec):
        for op, field in ((p.cell.preprocess, "preprocess"), (p.cell.shortcut, "shortcut")):
            if op == "bfr" and p.c_out % 2:
                ci = spec.cell_names().index(p.cell.name)
                probs.append(
                    Problem(
                        "bad-channels",
                        f"'bfr' in cell {p.cell.name!r} needs an even output width, got {p.c_out}",
                        ("cells", ci, field),
                        hint="make the stage after this downsample an even number of channels",
                    )
                )
                return probs
    return probs


def validate_fields(spec: NetworkSpec) -> NetworkSpec:
    """Raise :class:`SpecError` when a field breaks its type or bounds.  A spec made by pydantic
    is checked as it is made, but ``spec.model_copy(update=...)`` checks nothing: an edited spec
    could hold ``num_classes=0`` or an unknown op, and be built or printed as something else."""
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"expected a NetworkSpec, got {type(spec).__name__}")
    try:
        NetworkSpec.model_validate(spec.model_dump())
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10]]
        raise SpecError(
            "invalid network spec:\n  " + "\n  ".join(lines),
            hint="fix the fields named above (model_copy(update=...) does not check its values; "
            "NetworkSpec.model_validate(...) does)",
        ) from None
    return spec


def ensure_valid(spec: NetworkSpec) -> NetworkSpec:
    """Raise :class:`SpecError` for a field out of its type or bounds (:func:`validate_fields`)
    and for every error of ``check_spec``; return the spec otherwise."""
    validate_fields(spec)
    errors = [p for p in check_spec(spec) if p.severity == "error"]
    if errors:
        lines = [f"{'.'.join(map(str, p.path))}: error[{p.code}]: {p.message}" for p in errors]
        raise SpecError(
            "invalid network spec:\n  " + "\n  ".join(lines),
            hint=errors[0].hint or "fix the fields named above",
        )
    return spec
