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
  ``budget_met = False`` (and the CLI exits with status 1).  Such a fallback is never silent:
  :attr:`Derived.derived` (``"shrunk"``, ``"cheapest"``), a warning, and the genotype's header
  and ``meta derived`` say so;
* identical draws are scored once;
* the ranking (:func:`best_candidate`) is deterministic: the lowest validation loss as written in
  ``meta candidate_losses`` (4 decimals: the supernet scores a candidate only up to sign ties,
  docs/search.md), then fewer OPs, fewer parameters, the earlier draw; a NaN loss ranks last.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from bars_zoo.batches import BatchLoader
from bars_zoo.complexity import count
from bars_zoo.search.config import SearchConfig, format_size
from bars_zoo.search.space import Choice, SearchSpace
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet

log = logging.getLogger("bars_zoo.search")


@dataclass(frozen=True)
class Candidate:
    """One derived architecture and how it scored."""

    choice: Choice
    ops: float
    params: float = float("nan")
    val_loss: float = float("nan")
    val_acc: float = float("nan")
    source: str = "sampled"  # "sampled" | "shrunk" (no draw fit) | "cheapest" (of the space)

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

    @property
    def derived(self) -> str:
        """How the winner came about: ``"sampled"`` (a draw within the budget), ``"shrunk"`` (no
        draw fit: the closest one made smaller) or ``"cheapest"`` (the space's cheapest network)."""
        return self.best.source

    def fallback_note(self) -> str | None:
        """A sentence on a winner that was not sampled (``None`` for a sampled one)."""
        if self.best.source == "sampled":
            return None
        what = (
            "the closest of them made smaller until it fit"
            if self.best.source == "shrunk"
            else "the cheapest network of the search space"
        )
        return f"none of the {self.draws} draws fit the budget: derived {what}"


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
        fallback = _fallback(space, over)
        budget_met = excess(cfg, fallback.ops, fallback.params) <= 1.0
        picked = [fallback]
    scores: dict[Choice, tuple[float, float]] = {}
    scored = []
    for c in picked:
        if c.choice not in scores:
            scores[c.choice] = evaluate(net, arch, c.choice, loader, cfg.derive_batches, autocast)
        loss, acc = scores[c.choice]
        scored.append(replace(c, val_loss=loss, val_acc=acc))
    derived = Derived(best_candidate(scored), tuple(scored), draws, rejected, budget_met)
    note = derived.fallback_note()
    if note is not None:
        closest = min(over, key=lambda c: excess(cfg, c.ops, c.params))
        log.warning(
            "derive: %s (%s OPs, %s params; the closest draw needed %s OPs, %s params; budget "
            "%s; meta derived=%s)",
            note,
            format_size(derived.best.ops),
            format_size(derived.best.params),
            format_size(closest.ops),
            format_size(closest.params),
            cfg.budget_text(),
            derived.derived,
        )
    return derived


def _fallback(space: SearchSpace, over: list[Candidate]) -> Candidate:
    """No draw fits: the closest one shrunk greedily, else the space's cheapest network."""
    cfg = space.config
    closest = min(over, key=lambda c: excess(cfg, c.ops, c.params))
    choice, _ = shrink_to_budget(space, closest.choice, cfg.budget_ops, cfg.budget_params)
    ops, params = choice_cost(space, choice)
    source = "shrunk"
    if excess(cfg, ops, params) > 1.0:  # greedy steps can stall: try the cheapest network
        floor = space.extreme_choices()[0]
        f_ops, f_params = choice_cost(space, floor)
        if excess(cfg, f_ops, f_params) < excess(cfg, ops, params):
            choice, ops, params, source = floor, f_ops, f_params, "cheapest"
    if excess(cfg, ops, params) > 1.0:
        log.warning(
            "derive: the cheapest network of the space (%s OPs, %s params) is over budget",
            format_size(ops),
            format_size(params),
        )
    return Candidate(choice, ops, params, source=source)


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


__all__ = [
    "Candidate",
    "Derived",
    "best_candidate",
    "choice_cost",
    "derive",
    "evaluate",
    "shrink_to_budget",
    "written_loss",
]
