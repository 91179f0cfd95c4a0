"""The semantic checks: cross-field rules of a spec that field types cannot express.

Each finding is a :class:`Problem` whose ``path`` names the offending field like a pydantic ``loc``;
the DSL turns it into a located diagnostic, :func:`ensure_valid` into a :class:`SpecError`.
"""

from __future__ import annotations

from pydantic import ValidationError

from bars_zoo.errors import ArgumentTypeError, SpecError
from bars_zoo.spec._cells import check_cell
from bars_zoo.spec._model import CellSpec, DownsampleSpec, Limits, NetworkSpec, StageSpec
from bars_zoo.spec._problem import Problem
from bars_zoo.spec._shapes import (
    _next_is_downsample,
    _next_stage,
    halve,
    placements,
    stem_output,
)

# --------------------------------------------------------------------------- semantic checks


def check_spec(spec: NetworkSpec) -> list[Problem]:
    """Cross-field rules that pydantic field types cannot express.  Errors first, then warnings."""
    probs: list[Problem] = []
    names: dict[str, int] = {}
    broken: set[str] = set()  # cells with an error of their own
    defined = set(spec.cell_names())
    missing = list(dict.fromkeys(i.cell for i in spec.layout if i.cell not in defined))
    # A copied cell whose name was not changed: the k-th repeated definition is taken to be the
    # k-th name that the layout uses and no cell defines.  That name's references are part of the
    # one mistake (no unknown-cell of their own); missing names left over are mistakes of their own.
    repeats = [ci for ci, c in enumerate(spec.cells) if spec.cell_names().index(c.name) != ci]
    meant = dict(zip(repeats, missing, strict=False))
    misdeclared = _misdeclared_strides(spec)
    for ci, cell in enumerate(spec.cells):
        if cell.name in names:
            hint = (
                f"rename one of them; is it {meant[ci]!r}, which the layout uses but no cell "
                "defines?"
                if ci in meant
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
        found = check_cell(cell, ci)
        if ci in misdeclared:  # the stride is the mistake: 'bfr needs stride=2' is its echo
            found = [misdeclared[ci], *(p for p in found if p.code != "bad-op")]
        if any(p.severity == "error" for p in found):
            broken.add(cell.name)
        probs.extend(found)

    # names whose uses are part of a mistake reported at a cell definition
    reported = set(meant.values()) | {spec.cells[ci].name for ci in misdeclared}
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
                _check_cell_ref(
                    spec, names, item.cell, 1, ("layout", li, "stage", "cell"), reported
                )
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
            probs.extend(_check_cell_ref(spec, names, item.cell, 2, loc, reported))
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


def _misdeclared_strides(spec: NetworkSpec) -> dict[int, Problem]:
    """A cell that only downsamples use but is declared ``stride=1`` (or only stages, declared
    ``stride=2``), where the stride is clearly the mistake: several lines use the cell, or it
    holds a ``bfr`` that only a stride-2 cell takes.  That is one error at its ``stride``,
    instead of one at every line that uses it and one at the ``bfr``.  (A cell that one line
    uses keeps the error at that line: the reference may be the mistake as well.)"""
    uses: dict[str, list[str]] = {}
    for item in spec.layout:
        uses.setdefault(item.cell, []).append(item.kind)
    names = spec.cell_names()
    found: dict[int, Problem] = {}
    for ci, cell in enumerate(spec.cells):
        kinds = uses.get(cell.name, [])
        if names.index(cell.name) != ci or len(set(kinds)) != 1:  # repeated, unused, or mixed
            continue
        bfr = "bfr" in (cell.preprocess, cell.shortcut)
        if kinds[0] == "downsample" and cell.stride == 1 and (bfr or len(kinds) > 1):
            msg = "downsamples use it: a downsample cell must have stride=2"
            hint = "declare it with stride=2: a downsample halves the resolution"
        elif kinds[0] == "stage" and cell.stride == 2 and len(kinds) > 1:
            msg = "stages use it: a stage cell must have stride=1"
            hint = "declare it with stride=1: a stage keeps the resolution (a downsample halves it)"
        else:
            continue
        found[ci] = Problem(
            "bad-stride",
            f"cell {cell.name!r} has stride={cell.stride}, but {msg}",
            ("cells", ci, "stride"),
            hint=hint,
        )
    return found


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
                    f"downsample cell {cell.name!r} differs from {first.name!r}, the cell of an "
                    "earlier downsample; BARS shares one reduction cell between all downsamples",
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
    reported: set[str],
) -> list[Problem]:
    if ref in reported:  # a repeated cell definition is this cell, or its stride is wrong
        return []
    if ref not in names:
        from difflib import get_close_matches

        close = get_close_matches(ref, list(names), n=1)
        if close:
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
        raise ArgumentTypeError(
            f"expected a NetworkSpec, got {type(spec).__name__}",
            hint="get one with bars_zoo.load_genotype(name), bars_zoo.read(path) or "
            "bars_zoo.parse(text); a model's is model.spec",
        )
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


#: ``meta`` keys that state the whole network's numbers (its classifier's included: OPs, params,
#: whether it met its search budget): stale once the classifier is replaced
STALE_WITH_CLASSIFIER = (
    "ops",
    "bops",
    "flops",
    "params",
    "expected_ops",
    "candidate_ops",
    "budget_met",
)


def with_new_classifier(spec: NetworkSpec, num_classes: int) -> NetworkSpec:
    """``spec`` with a classifier for ``num_classes`` classes (``reset_classifier``, ``load(name,
    num_classes=N)``, a fine-tuning run on a data set of another class count).  Its ``meta``
    loses the search provenance that states the whole network's numbers
    (:data:`STALE_WITH_CLASSIFIER`) and ``dataset=``, which would call the old data set the new
    model's; that data set is kept as ``searched_on`` (the architecture was searched on it).
    Raises :class:`SpecError` for a class count out of bounds."""
    meta = {k: v for k, v in spec.meta.items() if k not in (*STALE_WITH_CLASSIFIER, "dataset")}
    if "dataset" in spec.meta:
        meta.setdefault("searched_on", spec.meta["dataset"])
    return ensure_valid(spec.model_copy(update={"num_classes": num_classes, "meta": meta}))
