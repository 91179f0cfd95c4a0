"""Deriving the searched architecture: sample candidates, keep the best one within the budget.

BARS appendix A (Zhao et al. 2021): after the search, sample 8 architectures from the final
distributions (``none`` is allowed on any edge: BARS keeps it on purpose), evaluate each on
validation data with the supernet's weights, keep the one with the lowest validation loss.

Our additions, written down in ``docs/search.md``:

* candidates are scored with one-hot samples (:meth:`ArchParams.one_hot`): the supernet then computes
  the candidate network (same channels, cells and edges), with batch statistics - up to ``beta``,
  which it takes over the widest weight block and batch norm cancels up to its ``eps``
  (docs/search.md, "Supernet");
* a budget is a hard constraint on the output: draws whose ``complexity(spec).ops`` exceed it (or,
  with ``budget_params``, whose ``complexity(spec).params`` exceed that) are rejected and redrawn (up to ``derive_max_draws`` draws; this samples the distribution conditioned on
  the budget).  If no draw fits, the cheapest draw is shrunk greedily (narrower stage, shallower
  stage, an edge to a cheaper op; one step at a time, the step saving most OPs first) until it fits,
  else the cheapest network of the space is taken; if even that does not fit, it is returned with
  ``budget_met = False`` (and the CLI exits with status 1);
* identical draws are scored once;
* the ranking (:func:`best_candidate`) is deterministic: the lowest validation loss as written in
  ``meta candidate_losses`` (4 decimals: the supernet scores a candidate only up to sign ties,
  docs/search.md), then fewer OPs, fewer parameters, the earlier draw; a NaN loss ranks last.
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from bars_zoo.batches import BatchLoader
from bars_zoo.complexity import count
from bars_zoo.dsl import check, format
from bars_zoo.search.config import SearchConfig, format_size
from bars_zoo.search.space import Choice, SearchSpace
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet
from bars_zoo.spec import NetworkSpec

log = logging.getLogger("bars_zoo.search")


@dataclass(frozen=True)
class Candidate:
    """One derived architecture and how it scored."""

    choice: Choice
    ops: float
    params: float = float("nan")
    val_loss: float = float("nan")
    val_acc: float = float("nan")
    source: str = "sampled"  # "sampled" | "shrunk"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ops": self.ops,
            "params": self.params,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "source": self.source,
            "edges": [list(r) for r in self.choice.edges],
            "width": list(self.choice.width),
            "depth": list(self.choice.depth),
        }


@dataclass(frozen=True)
class Derived:
    """The outcome of :func:`derive`: the winner, every scored candidate, bookkeeping."""

    best: Candidate
    candidates: tuple[Candidate, ...]
    draws: int
    rejected: int
    budget_met: bool


def choice_cost(space: SearchSpace, choice: Choice) -> tuple[float, float]:
    """``(ops, params)`` of a choice (``complexity(spec)``)."""
    c = count(space.to_spec(choice, name="candidate"))
    return c.ops, float(c.params)


def excess(cfg: SearchConfig, ops: float, params: float) -> float:
    """How far over its budgets a network is: ``max(OPs/F, params/F_p)`` over the budgets set
    (``<= 1``: within them; 0 without budgets)."""
    ratios = [ops / cfg.budget_ops] if cfg.budget_ops is not None else []
    if cfg.budget_params is not None:
        ratios.append(params / cfg.budget_params)
    return max(ratios, default=0.0)


def shrink_to_budget(
    space: SearchSpace, choice: Choice, budget: float | None, budget_params: float | None = None
) -> tuple[Choice, float]:
    """Greedy one-step reductions (narrower or shallower stage, ``bconv`` -> ``shortcut``/``none``,
    ``shortcut`` -> ``none``), the one that leaves the least excess over the budgets first, until
    the network fits (``ops <= budget`` and ``params <= budget_params``) or no step helps.
    Returns the choice and its OPs."""
    cfg = space.config.model_copy(update={"budget_ops": budget, "budget_params": budget_params})

    def over(c: Choice) -> tuple[float, float]:
        ops, params = choice_cost(space, c)
        return excess(cfg, ops, params), ops

    ex, ops = over(choice)
    cheaper: dict[int, list[int]] = {}  # op index -> cheaper op indices
    for i, op in enumerate(cfg.edge_ops):
        targets = (
            ("shortcut", "none")
            if op.startswith("bconv")
            else ("none",)
            if op == "shortcut"
            else ()
        )
        cheaper[i] = [cfg.edge_ops.index(t) for t in targets if t in cfg.edge_ops]
    by_width = sorted(range(len(cfg.width_ratios)), key=lambda i: cfg.width_ratios[i])
    by_depth = sorted(range(len(cfg.depth_choices)), key=lambda i: cfg.depth_choices[i])
    while ex > 1.0:
        moves: list[Choice] = []
        for s in range(space.num_stages):
            w = by_width.index(choice.width[s])
            if w:
                moves.append(replace(choice, width=_set(choice.width, s, by_width[w - 1])))
            d = by_depth.index(choice.depth[s])
            if d:
                moves.append(replace(choice, depth=_set(choice.depth, s, by_depth[d - 1])))
        for t, row in enumerate(choice.edges):
            for e, o in enumerate(row):
                for c in cheaper[o]:
                    moves.append(replace(choice, edges=_set(choice.edges, t, _set(row, e, c))))
        if not moves:
            break
        scored = [(*over(m), m) for m in moves]
        best_ex, best_ops, best = min(scored, key=lambda x: (x[0], x[1]))
        if best_ex >= ex:
            break
        choice, ex, ops = best, best_ex, best_ops
    return choice, ops


def _set(t: tuple, i: int, v: object) -> tuple:  # type: ignore[type-arg]
    return (*t[:i], v, *t[i + 1 :])


@torch.no_grad()
def evaluate(
    net: Supernet,
    arch: ArchParams,
    choice: Choice,
    loader: BatchLoader,
    batches: int | None,
    autocast: Callable[[], torch.autocast],
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``choice`` (one-hot sample) on the first ``batches`` batches."""
    sample = arch.one_hot(choice)
    net.train()  # batch statistics (the supernet has no running statistics)
    loss = torch.zeros((), device=arch.edge.device)
    correct = torch.zeros((), device=arch.edge.device)
    n = 0
    for i, (x, y) in enumerate(loader):
        if batches is not None and i >= batches:
            break
        with autocast():
            logits = net(x, sample)
        loss += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        n += int(y.shape[0])
    return float(loss) / max(n, 1), float(correct) / max(n, 1)


def derive(
    net: Supernet,
    arch: ArchParams,
    loader: BatchLoader,
    generator: torch.Generator,
    autocast: Callable[[], torch.autocast],
) -> Derived:
    """Sample ``derive_candidates`` architectures within the budget, score them, keep the best."""
    space = arch.space
    cfg = space.config
    budgets = cfg.budget_ops is not None or cfg.budget_params is not None
    picked: list[Candidate] = []
    over: list[Candidate] = []
    draws = rejected = 0
    while len(picked) < cfg.derive_candidates and draws < cfg.derive_max_draws:
        choice = arch.sample_choice(generator)
        draws += 1
        ops, params = choice_cost(space, choice)
        if excess(cfg, ops, params) > 1.0:
            rejected += 1
            over.append(Candidate(choice, ops, params))
            continue
        picked.append(Candidate(choice, ops, params))
    budget_met = True
    if not picked:
        assert budgets
        cheapest = min(over, key=lambda c: excess(cfg, c.ops, c.params))
        log.warning(
            "derive: none of %d draws fits the budget (%s; the closest needs %s OPs, %s params): "
            "shrinking it",
            draws,
            cfg.budget_text(),
            format_size(cheapest.ops),
            format_size(cheapest.params),
        )
        choice, _ = shrink_to_budget(space, cheapest.choice, cfg.budget_ops, cfg.budget_params)
        ops, params = choice_cost(space, choice)
        if excess(cfg, ops, params) > 1.0:  # greedy steps can stall: try the cheapest network
            floor = space.extreme_choices()[0]
            f_ops, f_params = choice_cost(space, floor)
            if excess(cfg, f_ops, f_params) < excess(cfg, ops, params):
                choice, ops, params = floor, f_ops, f_params
        budget_met = excess(cfg, ops, params) <= 1.0
        if not budget_met:
            log.warning(
                "derive: the cheapest network of the space (%s OPs, %s params) is over budget",
                format_size(ops),
                format_size(params),
            )
        picked = [Candidate(choice, ops, params, source="shrunk")]
    scores: dict[Choice, tuple[float, float]] = {}
    scored = []
    for c in picked:
        if c.choice not in scores:
            scores[c.choice] = evaluate(net, arch, c.choice, loader, cfg.derive_batches, autocast)
        loss, acc = scores[c.choice]
        scored.append(replace(c, val_loss=loss, val_acc=acc))
    return Derived(best_candidate(scored), tuple(scored), draws, rejected, budget_met)


def written_loss(loss: float) -> float:
    """A validation loss as ``meta candidate_losses`` writes it (4 decimals); NaN ranks last."""
    return float(f"{loss:.4f}") if math.isfinite(loss) else math.inf


def best_candidate(scored: list[Candidate]) -> Candidate:
    """The winner: the lowest loss as written, then fewer OPs, fewer params, the earlier draw.

    The supernet's loss of a candidate equals the built network's only up to sign ties (an
    activation on its channel mean, docs/search.md "Supernet"), so digits beyond the written ones
    do not decide; on equal written losses the cheaper network wins, and on a full tie the earlier
    draw - a fixed order, since the draws come from the seeded derive generator."""
    ranked = sorted(
        range(len(scored)),
        key=lambda i: (written_loss(scored[i].val_loss), scored[i].ops, scored[i].params, i),
    )
    return scored[ranked[0]]


def genotype(
    space: SearchSpace, derived: Derived, expected_ops: float, *, epochs_run: int | None = None
) -> tuple[NetworkSpec, str]:
    """The winner as a spec with its provenance in ``meta``, and its canonical, checked text.

    ``epochs_run`` (a search ended early by its time limit) is recorded in ``meta epochs``.
    """
    from bars_zoo import __version__

    cfg, best = space.config, derived.best
    stages = [f"s{s + 1}" for s in range(space.num_stages)]
    widths = zip(stages, best.choice.width, strict=True)
    depths = zip(stages, best.choice.depth, strict=True)
    meta = {
        "searched_by": "bars-zoo search (BARS, Zhao et al. 2021)",
        "preset": cfg.preset,
        "dataset": cfg.dataset,
        "budget_ops": format_size(cfg.budget_ops, exact=True) if cfg.budget_ops else "none",
        **(
            {"budget_params": format_size(cfg.budget_params, exact=True)}
            if cfg.budget_params
            else {}
        ),
        "budget_met": "true" if derived.budget_met else "false",
        "ops": format_size(best.ops),
        **({"params": format_size(best.params)} if cfg.budget_params else {}),
        "expected_ops": format_size(expected_ops),
        "seed": str(cfg.seed),
        "overrides": _overrides(cfg) or "none",
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
    header = [
        f"# {cfg.name}: found by `bars-zoo search --preset {cfg.preset}` on {cfg.dataset}{budget}",
        "# (BARS: Zhao et al. 2021).  Provenance in the meta lines below.",
    ]
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


def _overrides(cfg: SearchConfig) -> str:
    """Settings that differ from the preset's (beyond those with a meta line of their own)."""
    from bars_zoo.search.presets import PRESETS, config_for

    if cfg.preset not in PRESETS:
        return "custom"
    base = config_for(cfg.preset).model_dump()
    own = {"preset", "name", "dataset", "budget_ops", "budget_params", "seed", "epochs"}
    out = []
    for k, v in cfg.model_dump().items():
        if k not in own and v != base[k]:
            text = "/".join(map(str, v)) if isinstance(v, tuple) else str(v)
            out.append(f"{k}={text}")
    return ",".join(out)


__all__ = [
    "Candidate",
    "Derived",
    "best_candidate",
    "choice_cost",
    "derive",
    "evaluate",
    "genotype",
    "shrink_to_budget",
    "written_loss",
]
