"""Two time limits: ``search_time_s`` (``--search-time``) ends the whole search after the epoch
that passes it and still derives a genotype; ``time_limit_s`` (``--time-limit``, as in training)
only stops this call, keeps the checkpoint and derives nothing."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bars_zoo.dsl import check
from bars_zoo.search import search
from bars_zoo.search.presets import config_for


def test_search_time_ends_the_search_early_and_derives_from_the_distributions_so_far(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "found.geno"
    result = search(cfg, out=out, progress=False, plots=False, search_time_s=1e-6)

    assert len(result.history) == 1  # the first epoch always completes
    assert result.finished and result.spec is not None
    doc = check(out.read_text(), str(out))
    assert doc.spec == result.spec
    assert result.spec.meta["epochs"] == "1 of 3 (time limit)"
    assert result.epochs_run == 1 < result.config.epochs  # the API says it was cut short too


def test_a_search_time_longer_than_the_search_changes_nothing(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=1, warmup_epochs=0)
    result = search(cfg, out=tmp_path / "a.geno", progress=False, plots=False, search_time_s=1e9)
    assert len(result.history) == 1
    assert result.spec is not None and result.spec.meta["epochs"] == "1"
    assert result.epochs_run == result.config.epochs == 1


def test_search_time_counts_the_search_time_of_every_call_of_a_time_sliced_run(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "sliced.geno"
    first = search(cfg, out=out, progress=False, plots=False, stop_after=1)
    assert not first.finished
    used = first.history[0]["seconds"]
    # the next slice: the limit was used up by the first one, so it derives instead of searching on
    result = search(
        cfg, out=out, resume=True, progress=False, plots=False, stop_after=1, search_time_s=used / 2
    )
    assert result.finished and result.epochs_run == 1
    assert result.spec is not None and result.spec.meta["epochs"] == "1 of 3 (time limit)"


def test_a_search_time_passed_in_the_last_epoch_that_stop_after_allows_still_derives(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "both.geno"
    result = search(cfg, out=out, progress=False, plots=False, stop_after=1, search_time_s=1e-6)
    assert result.finished and out.is_file()
    assert result.spec is not None and result.spec.meta["epochs"] == "1 of 3 (time limit)"


def test_rerunning_a_search_ended_by_its_search_time_with_its_command_derives_the_same_genotype(
    tmp_path,
):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "again.geno"
    first = search(cfg, out=out, progress=False, plots=False, search_time_s=1e-6)
    text = out.read_text()
    again = search(cfg, out=out, resume=True, progress=False, plots=False, search_time_s=1e-6)
    assert again.epochs_run == first.epochs_run == 1  # no epoch more: the time was up
    assert out.read_text() == text


def test_time_limit_stops_only_this_call_keeps_the_checkpoint_and_derives_nothing(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "slot.geno"
    first = search(cfg, out=out, progress=False, plots=False, time_limit_s=1e-6)
    assert not first.finished and first.spec is None and not out.exists()
    assert first.epochs_run == 1 and first.stopped_by == "time-limit"
    assert (tmp_path / "slot.run" / "checkpoint.pt").is_file()
    # the same call again, plus resume, searches on (one epoch a call), and then derives
    second = search(cfg, out=out, resume=True, progress=False, plots=False, time_limit_s=1e-6)
    assert not second.finished and second.epochs_run == 2
    last = search(cfg, out=out, resume=True, progress=False, plots=False, time_limit_s=1e-6)
    assert last.finished and last.epochs_run == 3 and out.is_file()
    assert last.spec is not None and last.spec.meta["epochs"] == "3"


def test_cli_time_limit_says_it_stopped_the_search_and_how_to_go_on(tmp_path, capsys):
    from bars_zoo.cli import main

    out = tmp_path / "cli.geno"
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--epochs", "3", "--quiet"]
    argv += ["--no-plots", "--out", str(out), "--time-limit", "0.001s"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert (
        "stopped by --time-limit after epoch 1/3; continue with the same command plus --resume"
        in err
    )
    assert not out.exists()
    assert main([*argv, "--resume"]) == 0
    assert "stopped by --time-limit after epoch 2/3" in capsys.readouterr().err


def test_a_resume_without_search_time_keeps_the_runs_and_derives_again(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "kept.geno"
    search(cfg, out=out, progress=False, plots=False, search_time_s=1e-6)  # derived at 1 of 3
    text = out.read_text()
    again = search(cfg, out=out, resume=True, progress=False, plots=False)
    assert again.config.search_time_s == 1e-6 and again.epochs_run == 1
    assert out.read_text() == text
    # a larger one given on the resume replaces it: the search goes on
    more = search(cfg, out=out, resume=True, progress=False, plots=False, search_time_s=1e9)
    assert more.finished and more.epochs_run == 3


def _as_before_search_time(run_dir: Path) -> None:
    """Rewrite a run's checkpoint as a version before ``search_time_s`` wrote it (no such key)."""
    path = run_dir / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    config = json.loads(state["config"])
    del config["search_time_s"]
    state["config"] = json.dumps(config)
    torch.save(state, path)


def test_an_old_run_its_whole_run_time_limit_ended_still_only_derives_on_resume(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "old.geno"
    search(cfg, out=out, progress=False, plots=False, search_time_s=1e-6)  # derived at 1 of 3
    _as_before_search_time(tmp_path / "old.run")
    network = out.read_text().split("\nbars 1")[1]  # the header's command names the time now
    again = search(cfg, out=out, resume=True, progress=False, plots=False)
    assert again.finished and again.epochs_run == 1
    assert out.read_text().split("\nbars 1")[1] == network


def test_an_old_run_stopped_by_stop_after_goes_on_when_resumed(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=2)
    out = tmp_path / "sliced.geno"
    search(cfg, out=out, progress=False, plots=False, stop_after=1)
    _as_before_search_time(tmp_path / "sliced.run")
    again = search(cfg, out=out, resume=True, progress=False, plots=False)
    assert again.finished and again.epochs_run == 2
