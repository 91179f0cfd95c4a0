"""A resumed search runs the schedules its checkpoint ran: the fingerprint covers the schedule
settings, and the values each finished epoch logged (temperature, entropy weight, learning rate)
cover the rule that maps them to an epoch, so a run begun under an earlier rule is refused instead
of going on under a second schedule."""

from __future__ import annotations

import json

import pytest
import torch

from bars_zoo.cli import main
from bars_zoo.errors import CheckpointMismatchError
from bars_zoo.search import search
from bars_zoo.search.presets import config_for


def _old_rule(cfg, epoch: int) -> float:
    """Where the schedules stood before they counted architecture epochs: warm-up included."""
    return epoch * cfg.anneal_over / cfg.epochs if cfg.anneal_over else float(epoch)


def _stopped_run(tmp_path, **kw):
    cfg = config_for("tiny", dataset="synthetic", epochs=3, **{"warmup_epochs": 1, **kw})
    out = tmp_path / "x.geno"
    search(cfg, out=out, progress=False, plots=False, stop_after=2)
    return cfg, out, tmp_path / "x.run" / "checkpoint.pt"


def _as_the_old_rule_wrote_it(cfg, path) -> None:
    state = torch.load(path, weights_only=True)
    history = json.loads(state["history"])
    for r in history:
        e = _old_rule(cfg, r["epoch"])
        r["temperature"] = cfg.temperature * cfg.temperature_decay**e
        r["entropy_weight"] = cfg.entropy_start + cfg.entropy_step * e
    torch.save({**state, "history": json.dumps(history)}, path)


def test_resume_refuses_a_checkpoint_that_ran_another_schedule_rule(tmp_path):
    # epoch 2 (the first architecture epoch) ran at tau 0.9^(50/3) under the old rule, 1.0 now
    cfg, out, path = _stopped_run(tmp_path)
    _as_the_old_rule_wrote_it(cfg, path)
    with pytest.raises(CheckpointMismatchError, match=r"epoch 2 ran at temperature 0\.17") as e:
        search(cfg, out=out, progress=False, plots=False, resume=True)
    assert "mix two schedules" in str(e.value) and "--run-dir" not in str(e.value)
    assert "run_dir" in (e.value.hint or "")


def test_cli_resume_refuses_a_checkpoint_of_another_schedule_rule_with_exit_2(tmp_path, capsys):
    cfg, out, path = _stopped_run(tmp_path)
    _as_the_old_rule_wrote_it(cfg, path)
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--epochs", "3"]
    argv += ["--warmup-epochs", "1", "-o", str(out), "--resume", "--no-plots", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "ran another schedule than these settings give" in err and "--run-dir" in err


def test_a_checkpoint_whose_schedules_agree_with_these_settings_still_resumes(tmp_path):
    # without a warm-up and anneal_over the old rule and this one give every epoch the same values
    cfg, out, path = _stopped_run(tmp_path, warmup_epochs=0, anneal_over=None)
    _as_the_old_rule_wrote_it(cfg, path)
    result = search(cfg, out=out, progress=False, plots=False, resume=True)
    assert result.finished and [r["epoch"] for r in result.history] == [0, 1, 2]
