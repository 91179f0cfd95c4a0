"""Derive's ranking of the candidates it scores."""

from __future__ import annotations

import contextlib
import math

import torch

from bars_zoo.batches import BatchLoader
from bars_zoo.data import make_synthetic
from bars_zoo.search import derive as derive_module
from bars_zoo.search.derive import Candidate, best_candidate, derive
from bars_zoo.search.presets import config_for
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet

SHAPE = (3, 32, 32)


def _val_loader() -> BatchLoader:
    return BatchLoader(make_synthetic("train", size=16, input_shape=SHAPE), 8, shuffle=False)


def _space(**kw: object) -> SearchSpace:
    return SearchSpace(config_for("tiny", dataset="synthetic", **kw), SHAPE, 10)


def _candidate(space: SearchSpace, loss: float, ops: float, params: float = 1.0) -> Candidate:
    return Candidate(space.extreme_choices()[0], ops, params, val_loss=loss)


# --------------------------------------------------------------------------- ranking


def test_derive_ranks_equal_written_losses_by_fewer_ops_then_params_then_the_earlier_draw():
    space = _space()
    a = _candidate(space, 0.50004, ops=3e5)
    b = _candidate(space, 0.50001, ops=2e5, params=9.0)  # same loss as written: 0.5000
    c = _candidate(space, 0.49996, ops=2e5, params=5.0)  # 0.5000 too, and fewer params
    assert best_candidate([a, b]) is b
    assert best_candidate([a, b, c]) is c
    d = _candidate(space, 0.50001, ops=2e5, params=5.0)  # a full tie: the earlier draw
    assert best_candidate([c, d]) is c and best_candidate([d, c]) is d
    assert best_candidate([a, _candidate(space, 0.4999, ops=9e5)]).ops == 9e5  # lower as written


def test_derive_never_ranks_a_candidate_whose_loss_is_nan_first():
    space = _space()
    broken = _candidate(space, math.nan, ops=1e5)
    fine = _candidate(space, 2.3, ops=3e5)
    assert best_candidate([broken, fine]) is fine
    assert best_candidate([fine, broken]) is fine


def test_derive_keeps_the_cheaper_of_candidates_whose_losses_differ_beyond_the_written_digits(
    monkeypatch,
):
    _, hi = _space().ops_range()
    space = _space(budget_ops=hi)  # every draw fits

    # the dearer a candidate, the lower its loss, but only in the sixth decimal
    def evaluate(net: object, arch: object, choice: object, *rest: object) -> tuple[float, float]:
        return 0.7 - 1e-11 * derive_module.choice_cost(space, choice)[0], 0.1  # type: ignore[arg-type]

    monkeypatch.setattr(derive_module, "evaluate", evaluate)
    net, arch = Supernet(space), ArchParams(space)
    derived = derive(net, arch, _val_loader(), torch.Generator().manual_seed(0), _nullcontext)
    assert len({c.ops for c in derived.candidates}) > 1
    assert derived.best.ops == min(c.ops for c in derived.candidates)


def _nullcontext() -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()
