"""Derive's ranking and its fallback when no draw fits, and the genotype file it becomes: its
header's command that reproduces the run and its provenance in ``meta``."""

from __future__ import annotations

import contextlib
import math
import shlex

import pytest
import torch

from bars_zoo.batches import BatchLoader
from bars_zoo.cli import build_parser, main
from bars_zoo.commands.search import _overrides
from bars_zoo.data import make_synthetic
from bars_zoo.dsl import check
from bars_zoo.search import SearchConfig, search
from bars_zoo.search import derive as derive_module
from bars_zoo.search.config import format_size
from bars_zoo.search.derive import Candidate, Derived, best_candidate, derive
from bars_zoo.search.presets import config_for
from bars_zoo.search.provenance import genotype, reproduce
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


# --------------------------------------------------------------------------- fallback


def test_derive_that_finds_no_draw_within_budget_says_so_everywhere(caplog):
    space = _space(derive_max_draws=3)
    lo, _ = space.ops_range()
    space = _space(derive_max_draws=3, budget_ops=lo)  # only the cheapest network fits
    net, arch = Supernet(space), ArchParams(space)
    with caplog.at_level("WARNING", logger="bars_zoo.search"):
        derived = derive(net, arch, _val_loader(), torch.Generator().manual_seed(0), _nullcontext)
    assert derived.budget_met and derived.derived in ("shrunk", "cheapest")
    assert "none of the 3 draws fit the budget" in caplog.text
    spec, text = genotype(space, derived, expected_ops=3e5)
    assert spec.meta["derived"] == derived.derived
    assert "# Note: none of the 3 draws fit the budget: derived" in text


def test_a_search_whose_derive_falls_back_reports_it_in_the_result_and_the_summary(
    tmp_path, capsys
):
    lo, _ = _space().ops_range()
    out = tmp_path / "f.geno"
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--quiet", "--no-plots"]
    assert main([*argv, "--budget-ops", format_size(lo, exact=True), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "note: none of the 512 draws fit the budget: derived" in printed
    doc = check(out.read_text(), str(out))
    assert doc.spec is not None and doc.spec.meta["derived"] in ("shrunk", "cheapest")
    result = search(
        config_for("tiny", dataset="synthetic", budget_ops=lo),
        out=tmp_path / "g.geno",
        progress=False,
        plots=False,
    )
    assert result.derived == doc.spec.meta["derived"]
    assert result.note is not None and "none of the 512 draws" in result.note


def test_a_sampled_network_is_recorded_as_sampled():
    space = _space()
    derived = Derived(_candidate(space, 2.3, 2.3e5), (_candidate(space, 2.3, 2.3e5),), 1, 0, True)
    spec, text = genotype(space, derived, expected_ops=3e5)
    assert derived.derived == spec.meta["derived"] == "sampled"
    assert derived.fallback_note() is None and "Note:" not in text


# --------------------------------------------------------------------------- the header's command


CONFIGS = {
    "custom": SearchConfig(
        dataset="synthetic",
        stem_channels=8,
        base_channels=(8, 16, 32),
        epochs=3,
        warmup_epochs=1,
        batch_size=16,
        subset=128,
        budget_ops=2.3e5,
    ),
    "tiny-options": config_for(
        "tiny", epochs=3, seed=4, theta_under=-0.2, budget_params=12345.0, name="my net", amp="off"
    ),
    "fmnist-none": config_for("fmnist", budget_ops=2e6),
    "paper-cifar": config_for("paper", budget_ops=18e6),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_header_command_reproduces_the_settings_of_the_run(name):
    cfg = CONFIGS[name]
    lines = reproduce(cfg)
    command = " ".join(line.removesuffix(" \\").strip() for line in lines)
    assert command.startswith("bars-zoo search --preset ") and "custom" not in command
    words = shlex.split(command)[2:]
    args = build_parser().parse_args(["search", *words])
    again = config_for(args.preset, **_overrides(args))
    assert again.model_copy(update={"preset": cfg.preset}) == cfg
    assert ("--data-dir DIR" in command) == (cfg.dataset == "cifar10")
    assert all(len(line) <= 100 for line in lines)


def test_the_header_command_of_a_search_its_search_time_ended_gives_it_back_to_the_cli():
    cfg = config_for("tiny", epochs=3, search_time_s=5400.0)
    command = " ".join(line.removesuffix(" \\").strip() for line in reproduce(cfg, timed_out=True))
    assert "--search-time 90m" in command and "--time-limit" not in command
    args = build_parser().parse_args(["search", *shlex.split(command)[2:]])
    assert config_for(args.preset, **_overrides(args)) == cfg
    assert "--search-time" not in " ".join(reproduce(cfg))  # not when it ran every epoch


def test_the_header_names_the_python_call_when_a_setting_has_no_option():
    cfg = config_for("tiny", weight_lr=1e-3, epochs=3)
    (line,) = reproduce(cfg)
    assert line == "bars_zoo.search(preset='tiny', epochs=3, weight_lr=0.001, seed=0)"
    assert reproduce(config_for("fmnist", subset=None))[0].startswith("bars_zoo.search(")


def test_a_search_without_a_preset_writes_a_header_with_a_command_a_user_can_run():
    cfg = CONFIGS["custom"].model_copy(update={"search_time_s": 5400.0})
    space = SearchSpace(cfg, SHAPE, 10)
    derived = Derived(_candidate(space, 2.3, 2.3e5), (_candidate(space, 2.3, 2.3e5),), 1, 0, True)
    spec, text = genotype(space, derived, expected_ops=3e5, epochs_run=2)
    head = text.split("\nbars 1")[0]
    assert "--preset custom" not in head
    assert "#   bars-zoo search --preset paper --dataset synthetic --subset 128 --epochs 3" in head
    assert "--search-time 90m" in head and "ended it after epoch 2 of 3" in head
    overrides = "subset=128,stem_channels=8,base_channels=8/16/32,warmup_epochs=1,batch_size=16"
    assert spec.meta["preset"] == "custom" and spec.meta["overrides"] == overrides


def test_a_search_result_repr_is_one_short_line_without_the_alpha_tensors() -> None:
    # the repr printed every alpha tensor and epoch record: ~9 KB for a one-epoch fmnist search
    import torch

    from bars_zoo.search import SearchResult, config_for

    result = SearchResult(
        config=config_for("fmnist"),
        spec=None,
        path=None,
        run_dir=None,
        finished=True,
        epochs_run=50,
        history=tuple({"epoch": e, "alphas": [[0.25] * 4] * 9} for e in range(50)),
        alphas={f"cell{i}": torch.rand(14, 3) for i in range(6)},
        ops=1.9e6,
        derived="sampled",
    )
    text = repr(result)
    assert len(text) < 400 and "\n" not in text and "tensor(" not in text
    assert "ops='1.9M'" in text and "history=<50 epochs>" in text and "alphas=<6 tensors>" in text
