"""Search provenance that no longer matches the architecture: a genotype edited by hand after
``bars-zoo search`` keeps ``meta ops="1.589M" budget_met=true ...`` lines that state the searched
network's numbers.  :func:`stale_meta` compares each number-stating key
(:data:`bars_zoo.spec.STALE_WITH_CLASSIFIER`) the counter can check with the counter's value, at
the precision the file prints it; ``bars-zoo check``, ``load``, ``train`` warn, and the card leaves
the keys out (:func:`current_meta`).  Torch-free.
"""

from __future__ import annotations

import logging
import re

from bars_zoo.complexity import complexity
from bars_zoo.spec import STALE_WITH_CLASSIFIER, NetworkSpec

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMG]?)\s*$")
_UNITS = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def _parse(text: str) -> tuple[float, int] | None:
    """``"1.589M"`` -> ``(1589000.0, 4)``: the value and its significant digits."""
    m = _NUMBER.match(text)
    if m is None:
        return None
    digits = len(m.group(1).replace(".", "").lstrip("0")) or 1
    return float(m.group(1)) * _UNITS[m.group(2)], digits


def _differs(stated: float, digits: int, actual: float) -> bool:
    return float(f"{actual:.{digits}g}") != float(f"{stated:.{digits}g}")


def stale_meta(spec: NetworkSpec) -> dict[str, tuple[str, str]]:
    """The ``meta`` keys whose stated number disagrees with the architecture: key -> (what the
    file says, what the counter gives).  ``ops``, ``bops``, ``flops``, ``params`` (all
    parameters, as the search counts them) are compared at the file's precision; ``budget_met``
    with ``budget_ops``/``budget_params``.  Empty when nothing can be checked or all agree."""
    meta = spec.meta
    if not any(k in meta for k in STALE_WITH_CLASSIFIER):
        return {}
    cx = complexity(spec)
    actual = {"ops": cx.ops, "bops": float(cx.bops), "flops": float(cx.flops)}
    actual["params"] = float(cx.params)
    out: dict[str, tuple[str, str]] = {}
    for key, value in actual.items():
        parsed = _parse(meta[key]) if key in meta else None
        if parsed is not None and _differs(parsed[0], parsed[1], value):
            out[key] = (meta[key], _short(value))
    if meta.get("budget_met") in ("true", "false"):
        met = True
        for key, value in (("budget_ops", cx.ops), ("budget_params", float(cx.params))):
            budget = _parse(meta.get(key, ""))
            if budget is not None and value > budget[0]:
                met = False
        if (meta["budget_met"] == "true") != met:
            out["budget_met"] = (meta["budget_met"], "true" if met else "false")
    return out


def _short(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):  # as the search writes them
        if x >= div:
            return f"{x / div:.4g}{unit}"
    return f"{x:g}"


def describe_stale(stale: dict[str, tuple[str, str]]) -> str:
    """``ops=1.589M (the architecture has 882.6K), budget_met=true (false)``."""
    return ", ".join(f"{k}={was} (the architecture has {now})" for k, (was, now) in stale.items())


def current_meta(spec: NetworkSpec) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """``spec.meta`` without the number-stating search keys when any of them is stale (the file
    is no longer the searched architecture, so none of them describes it), and what was stale."""
    stale = stale_meta(spec)
    if not stale:
        return dict(spec.meta), {}
    return {k: v for k, v in spec.meta.items() if k not in STALE_WITH_CLASSIFIER}, stale


def warn_stale_meta(spec: NetworkSpec, where: str) -> None:
    """Log a warning naming the stale ``meta`` keys of ``spec`` (read from ``where``)."""
    stale = stale_meta(spec)
    if stale:
        log.warning(
            "%s: meta %s no longer match the architecture (edited after the search?); "
            "hint: delete or update those meta keys",
            where,
            describe_stale(stale),
        )


__all__ = ["current_meta", "describe_stale", "stale_meta", "warn_stale_meta"]
