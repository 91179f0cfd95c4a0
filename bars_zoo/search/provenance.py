"""The derived genotype as a file: its ``meta`` provenance and a header with the command that
reproduces the run.

The header names a ``bars-zoo search`` command line when every setting that differs from the
preset has an option (``--dataset``, ``--epochs`` ...), else the ``bars_zoo.search(...)`` call that
sets them.  A :class:`SearchConfig` made without a preset (``preset="custom"``) holds the paper's
settings, which are its defaults, so it is written as ``--preset paper`` with its differences.
"""

from __future__ import annotations

import datetime
import logging
import shlex
import textwrap
from typing import Any

from bars_zoo.dsl import check, format
from bars_zoo.search.config import SearchConfig, format_size
from bars_zoo.search.derive import Derived
from bars_zoo.search.presets import PRESETS, config_for
from bars_zoo.search.space import SearchSpace
from bars_zoo.spec import NetworkSpec

log = logging.getLogger("bars_zoo.search")

# SearchConfig field -> its option of `bars-zoo search`, in the order the command writes them
CLI_OPTIONS = {
    "dataset": "--dataset",
    "input_shape": "--input-shape",
    "subset": "--subset",
    "epochs": "--epochs",
    "warmup_epochs": "--warmup-epochs",
    "batch_size": "--batch-size",
    "base_channels": "--base-channels",
    "stem_channels": "--stem-channels",
    "reduce_preprocess": "--reduce-preprocess",
    "reduce_shortcut": "--reduce-shortcut",
    "budget_ops": "--budget-ops",
    "budget_params": "--budget-params",
    "theta_under": "--theta-under",
    "seed": "--seed",
    "name": "--name",
    "amp": "--amp",
    "search_time_s": "--search-time",
}
_WIDTH = 96  # header lines are wrapped at about this many characters


def base_preset(cfg: SearchConfig) -> str:
    """The preset ``cfg`` starts from (``paper`` for a config made without one)."""
    return cfg.preset if cfg.preset in PRESETS else "paper"


def changed_settings(cfg: SearchConfig) -> dict[str, Any]:
    """The settings of ``cfg`` that differ from its preset's (``preset`` itself and
    ``search_time_s``, which says where a run ends and not what it searches, left out)."""
    base = config_for(base_preset(cfg)).model_dump()
    skip = {"preset", "search_time_s"}
    return {k: v for k, v in cfg.model_dump().items() if k not in skip and v != base[k]}


def reproduce(cfg: SearchConfig, *, timed_out: bool = False) -> list[str]:
    """The command (as lines, wrapped) that runs this search again: a ``bars-zoo search`` line
    when every changed setting has an option, else the Python call.  ``timed_out``: its
    ``search_time_s`` ended the search (the command names it: its epochs then depend on the
    machine's speed)."""
    changed = changed_settings(cfg)
    time_s = cfg.search_time_s if timed_out else None
    by_cli = all(
        k in CLI_OPTIONS and (v is not None or k.startswith("budget_")) for k, v in changed.items()
    )
    settings = {**changed, "seed": cfg.seed}
    if by_cli:
        words = ["bars-zoo", "search", "--preset", base_preset(cfg)]
        for key, flag in CLI_OPTIONS.items():
            if key in settings:
                words += [flag, _option_value(key, settings[key])]
        if cfg.dataset in ("cifar10", "imagefolder"):
            words += ["--data-dir", "DIR"]  # no default: where the user keeps the images
        if time_s is not None:
            words += ["--search-time", _duration(time_s)]
        return _wrap([shlex.quote(w) for w in words], " \\")
    args = [f"preset={base_preset(cfg)!r}", *(f"{k}={v!r}" for k, v in settings.items())]
    if time_s is not None:
        args.append(f"search_time_s={time_s!r}")
    args = [f"{a}," for a in args[:-1]] + [f"{args[-1]})"]
    return _wrap(["bars_zoo.search(" + args[0], *args[1:]], "")


def _option_value(key: str, value: Any) -> str:
    if key.startswith("budget_"):
        return "none" if value is None else format_size(value, exact=True)
    if key == "base_channels":
        return ",".join(map(str, value))
    if key == "input_shape":
        return "x".join(map(str, value))
    return str(value)


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _wrap(words: list[str], continuation: str) -> list[str]:
    """Words joined into lines of about :data:`_WIDTH` characters; every line but the last ends
    with ``continuation`` and the next is indented."""
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) + len(continuation) > _WIDTH:
            lines.append(line + continuation)
            line = "    " + word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line]


def _wrap_prose(sentences: list[str]) -> list[str]:
    return textwrap.wrap(" ".join(sentences), _WIDTH, break_long_words=False)


def genotype(
    space: SearchSpace,
    derived: Derived,
    expected_ops: float,
    *,
    epochs_run: int | None = None,
    dataset: str | None = None,
) -> tuple[NetworkSpec, str]:
    """The winner as a spec with its provenance in ``meta``, and its canonical, checked text.

    ``epochs_run`` (a search ended early by its ``search_time_s``) is recorded in ``meta
    epochs`` and in the header's command.  ``dataset``: the name ``meta dataset`` records
    (default ``cfg.dataset``; an image folder's is its name, as ``bars-zoo train`` records it).
    """
    from bars_zoo import __version__

    cfg, best = space.config, derived.best
    dataset = dataset or cfg.dataset
    stages = [f"s{s + 1}" for s in range(space.num_stages)]
    widths = zip(stages, best.choice.width, strict=True)
    depths = zip(stages, best.choice.depth, strict=True)
    meta = {
        "searched_by": "bars-zoo search (BARS, Zhao et al. 2021)",
        "preset": cfg.preset,
        "dataset": dataset,
        "budget_ops": format_size(cfg.budget_ops, exact=True) if cfg.budget_ops else "none",
        **(
            {"budget_params": format_size(cfg.budget_params, exact=True)}
            if cfg.budget_params
            else {}
        ),
        "budget_met": "true" if derived.budget_met else "false",
        "derived": derived.derived,
        "ops": format_size(best.ops),
        **({"params": format_size(best.params)} if cfg.budget_params else {}),
        "expected_ops": format_size(expected_ops),
        "seed": str(cfg.seed),
        "overrides": overrides(cfg) or "none",
        "epochs": (
            str(cfg.epochs) if epochs_run is None else f"{epochs_run} of {cfg.epochs} (time limit)"
        ),
        "width_ratios": ",".join(f"{st}={cfg.width_ratios[w]:g}" for st, w in widths),
        "optional_cells": ",".join(f"{st}={cfg.depth_choices[d]}" for st, d in depths),
        "candidate_losses": ",".join(f"{c.val_loss:.4f}" for c in derived.candidates),
        "candidate_ops": ",".join(format_size(c.ops) for c in derived.candidates),
        "val_loss": f"{best.val_loss:.4f}",
        "config": cfg.fingerprint(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "bars_zoo": __version__,
    }
    spec = space.to_spec(best.choice, name=cfg.name, meta=meta)
    budget = (
        f" under a budget of {cfg.budget_text()}" if cfg.budget_ops or cfg.budget_params else ""
    )
    where = dataset
    if cfg.input_shape is not None:  # an image folder, read at this shape
        where = f"the image folder {dataset} ({'x'.join(map(str, cfg.input_shape))} images)"
    found = f"{cfg.name}: found by the BARS search (Zhao et al. 2021) on {where}{budget}."
    timed_out = epochs_run is not None
    command = [f"#   {line}" for line in reproduce(cfg, timed_out=timed_out)]  # "#": kept indented
    notes = []
    if timed_out:
        notes.append(f"Its --search-time ended it after epoch {epochs_run} of {cfg.epochs}.")
    note = derived.fallback_note()
    if note is not None:
        notes.append(f"Note: {note} (meta derived={derived.derived}).")
    notes.append("Provenance in the meta lines below.")
    header = [*_wrap_prose([found]), "To run this search again:", *command, *_wrap_prose(notes)]
    text = format(spec, header=header)
    doc = check(text, f"{cfg.name}.geno")
    if doc.spec is None or doc.spec != spec:  # pragma: no cover - a bug, not a user error
        raise RuntimeError("derived genotype does not round-trip: " + str(doc.errors))
    if not derived.budget_met:
        log.warning(
            "the derived network needs %s OPs and %s params, over the budget of %s: no network of "
            "this search space fits (see meta budget_met)",
            format_size(best.ops),
            format_size(best.params),
            cfg.budget_text(),
        )
    return spec, text


def overrides(cfg: SearchConfig) -> str:
    """Settings that differ from the preset's (beyond those with a meta line of their own); for
    a config made without a preset, from the paper's (its defaults)."""
    own = {"name", "dataset", "input_shape", "budget_ops", "budget_params", "seed", "epochs"}
    out = []
    for k, v in changed_settings(cfg).items():
        if k not in own:
            text = "/".join(map(str, v)) if isinstance(v, tuple) else str(v)
            out.append(f"{k}={text}")
    return ",".join(out)


__all__ = ["CLI_OPTIONS", "base_preset", "changed_settings", "genotype", "overrides", "reproduce"]
