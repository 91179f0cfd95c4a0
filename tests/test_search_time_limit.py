"""A search with a time limit stops after the epoch that passes it and still derives a genotype."""

from __future__ import annotations

from bars_zoo.dsl import check
from bars_zoo.search import search
from bars_zoo.search.presets import config_for


def test_time_limit_ends_the_search_early_and_derives_from_the_distributions_so_far(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "found.geno"
    result = search(cfg, out=out, progress=False, plots=False, time_limit_s=1e-6)

    assert len(result.history) == 1  # the first epoch always completes
    assert result.finished and result.spec is not None
    doc = check(out.read_text(), str(out))
    assert doc.spec == result.spec
    assert result.spec.meta["epochs"] == "1 of 3 (time limit)"
    assert result.epochs_run == 1 < result.config.epochs  # the API says it was cut short too


def test_a_time_limit_longer_than_the_search_changes_nothing(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=1, warmup_epochs=0)
    result = search(cfg, out=tmp_path / "a.geno", progress=False, plots=False, time_limit_s=1e9)
    assert len(result.history) == 1
    assert result.spec is not None and result.spec.meta["epochs"] == "1"
    assert result.epochs_run == result.config.epochs == 1


def test_a_time_limit_counts_the_search_time_of_every_call_of_a_time_sliced_run(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "sliced.geno"
    first = search(cfg, out=out, progress=False, plots=False, stop_after=1)
    assert not first.finished
    used = first.history[0]["seconds"]
    # the next slice: the limit was used up by the first one, so it derives instead of searching on
    result = search(
        cfg, out=out, resume=True, progress=False, plots=False, stop_after=1, time_limit_s=used / 2
    )
    assert result.finished and result.epochs_run == 1
    assert result.spec is not None and result.spec.meta["epochs"] == "1 of 3 (time limit)"


def test_a_time_limit_passed_in_the_last_epoch_that_stop_after_allows_still_derives(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "both.geno"
    result = search(cfg, out=out, progress=False, plots=False, stop_after=1, time_limit_s=1e-6)
    assert result.finished and out.is_file()
    assert result.spec is not None and result.spec.meta["epochs"] == "1 of 3 (time limit)"


def test_rerunning_a_time_limited_search_with_its_command_derives_the_same_genotype(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "again.geno"
    first = search(cfg, out=out, progress=False, plots=False, time_limit_s=1e-6)
    text = out.read_text()
    again = search(cfg, out=out, resume=True, progress=False, plots=False, time_limit_s=1e-6)
    assert again.epochs_run == first.epochs_run == 1  # no epoch more: the time was up
    assert out.read_text() == text
