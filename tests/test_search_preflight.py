"""What a search checks before its first epoch: ``--dry-run`` makes the same checks and refuses what
the search would refuse, leaves nothing behind, and ``--out`` of old run directories."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fake_data import write_fashion_mnist

from bars_zoo._io import folder_lock
from bars_zoo.cli import main
from bars_zoo.errors import ConfigError
from bars_zoo.search import search
from bars_zoo.search.presets import config_for

TINY = ["search", "--preset", "tiny", "--dataset", "synthetic", "--quiet", "--no-plots"]


def _stopped_run(tmp_path: Path, **kw: object) -> Path:
    """A tiny search stopped after its first epoch; returns its --out (not written yet)."""
    out = tmp_path / "r.geno"
    search(config_for("tiny", dataset="synthetic", **kw), out=out, stop_after=1, progress=False)
    return out


def _a_run_dir_in_use(tmp_path: Path) -> list[str]:
    (tmp_path / "u.run").mkdir()
    return ["--out", str(tmp_path / "u.geno")]


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    return tmp_path / "data"


REFUSALS = {  # name: (extra argv or a function of tmp_path giving it, message, exit status)
    "subset-below-two-batches": (["--subset", "20"], "smaller than one batch", 2),
    "budget-below-the-floor": (["--budget-ops", "1k"], "below the cheapest network", 2),
    "params-below-the-floor": (["--budget-params", "10"], "below the smallest network", 2),
    "missing-data-set": (
        lambda tmp: ["--dataset", "fashion-mnist", "--data-dir", str(_empty(tmp))],
        "Fashion-MNIST train files not found",
        1,
    ),
    "missing-data-dir": (
        lambda tmp: ["--dataset", "fashion-mnist", "--data-dir", str(tmp / "none")],
        "no such folder",
        2,
    ),
    "cuda-graph-on-the-cpu": (["--cuda-graph", "--device", "cpu"], "needs a CUDA device", 2),
    "unknown-device": (["--device", "tpu"], "unknown device", 2),
    "threads": (["--threads", "0"], "--threads must be at least 1", 2),
    "stop-after": (["--stop-after", "0"], "--stop-after must be at least 1", 2),
    "time-limit": (["--time-limit", "0s"], "--time-limit must be positive", 2),
    "out-is-a-folder": (lambda tmp: ["--out", str(tmp)], "is a folder", 2),
    "out-is-the-run-dir": (
        lambda tmp: ["--out", str(tmp / "x.run")],
        "also the run directory",
        2,
    ),
}


def _argv(tmp_path: Path, extra: object) -> list[str]:
    more = extra(tmp_path) if callable(extra) else list(extra)  # type: ignore[call-overload]
    out = [] if "--out" in more else ["--out", str(tmp_path / "x.geno")]
    return [*TINY, *out, *more]


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_dry_run_refuses_what_the_search_refuses_before_its_first_epoch(case, tmp_path, capsys):
    extra, message, status = REFUSALS[case]
    argv = _argv(tmp_path, extra)
    before = sorted(tmp_path.rglob("*"))
    assert main([*argv, "--dry-run"]) == status
    assert message in capsys.readouterr().err
    assert sorted(tmp_path.rglob("*")) == before  # the dry run left nothing behind
    assert main(argv) == status  # and the search itself refuses the same way
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.geno").exists()


def test_dry_run_refuses_an_existing_out_that_the_search_did_not_write(tmp_path, capsys):
    (tmp_path / "x.geno").write_text("my notes")
    argv = [*TINY, "--out", str(tmp_path / "x.geno")]
    assert main([*argv, "--dry-run"]) == 2
    assert "exists, and the search would replace it" in capsys.readouterr().err
    assert (tmp_path / "x.geno").read_text() == "my notes"


def test_dry_run_refuses_a_run_directory_in_use(tmp_path, capsys):
    argv = [*TINY, *_a_run_dir_in_use(tmp_path)]
    with folder_lock(tmp_path / "u.run") as taken:
        assert taken
        assert main([*argv, "--dry-run"]) == 2
        assert "another search is running in" in capsys.readouterr().err
    assert main([*argv, "--dry-run"]) == 0  # free again


@pytest.mark.usefixtures("temp_files_refused")
def test_dry_run_refuses_an_out_folder_it_cannot_write_in_and_leaves_no_folder(tmp_path, capsys):
    argv = [*TINY, "--out", str(tmp_path / "a" / "b" / "x.geno"), "--dry-run"]
    assert main(argv) == 2
    assert "cannot write in" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_dry_run_that_passes_leaves_nothing_behind_and_says_the_search_will_start(tmp_path, capsys):
    argv = [*TINY, "--out", str(tmp_path / "a" / "b" / "x.geno"), "--dry-run"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "2 epochs (1 warm-up) x 4 steps of batch 16 on 128 images" in text
    assert f"ready: starts a new search in {tmp_path / 'a' / 'b' / 'x.run'} on cpu" in text
    assert list(tmp_path.iterdir()) == []


def test_dry_run_checks_the_checkpoint_a_resume_would_continue(tmp_path, capsys):
    out = _stopped_run(tmp_path)
    argv = [*TINY, "--out", str(out), "--dry-run"]
    assert main(argv) == 2  # a checkpoint without --resume
    assert "already holds a search checkpoint" in capsys.readouterr().err
    assert main([*argv, "--resume", "--seed", "3"]) == 2
    assert "different settings (seed)" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert "ready: resumes the search in" in capsys.readouterr().out
    assert main([*argv, "--resume", "--search-time", "0.001s"]) == 0
    assert (
        "after epoch 1/2 (its --search-time is spent: it only derives)" in capsys.readouterr().out
    )
    (tmp_path / "r.run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main([*argv, "--resume"]) == 1
    assert "cannot read the checkpoint" in capsys.readouterr().err


def test_dry_run_reads_the_data_set_and_counts_the_steps_it_holds(tmp_path, capsys):
    data = write_fashion_mnist(tmp_path / "fm", n=300)
    argv = ["search", "--preset", "fmnist", "--data-dir", str(data), "--dry-run"]
    assert main([*argv, "--out", str(tmp_path / "x.geno")]) == 0
    assert "x 2 steps of batch 64 on 300 images" in capsys.readouterr().out
    # CIFAR-10 has no default location: no --data-dir is a command line that cannot be acted on
    assert (
        main(["search", "--preset", "paper", "--dry-run", "--out", str(tmp_path / "p.geno")]) == 2
    )
    shown = capsys.readouterr()
    assert "14 supernet cells" in shown.out  # the space is shown before the refusal
    assert "CIFAR-10 needs --data-dir: it has no default location" in shown.err


# --------------------------------------------------------------------------- old run directories


def _as_before_written_json(out: Path) -> Path:
    """A finished run as bars-zoo wrote it before ``written.json`` existed."""
    record = out.with_suffix(".run") / "written.json"
    record.unlink()
    return record


def test_a_resume_keeps_the_out_of_a_run_directory_from_before_written_json(tmp_path):
    cfg = config_for("tiny", dataset="synthetic")
    out = tmp_path / "old.geno"
    search(cfg, out=out, progress=False, plots=False)
    record = _as_before_written_json(out)
    before = out.read_bytes()
    result = search(cfg, out=out, resume=True, progress=False, plots=False)
    assert result.finished and result.path == out
    assert out.read_bytes() == before  # kept as it is
    assert json.loads(record.read_text())["sha256"] == hashlib.sha256(before).hexdigest()
    search(cfg, out=out, resume=True, progress=False, plots=False)  # and now it is this run's


def test_a_resume_refuses_an_old_runs_out_that_holds_another_network(tmp_path):
    cfg = config_for("tiny", dataset="synthetic")
    out = tmp_path / "old.geno"
    search(cfg, out=out, progress=False, plots=False)
    _as_before_written_json(out)
    text = out.read_text()
    edited = text.replace("depth=1 cell=normal1", "depth=2 cell=normal1", 1)
    if edited == text:
        edited = text.replace("depth=2 cell=normal1", "depth=1 cell=normal1", 1)
    out.write_text(edited)
    with pytest.raises(ConfigError, match="holds another network than the one this run derives"):
        search(cfg, out=out, resume=True, progress=False, plots=False)
    assert out.read_text() == edited


def test_a_resume_that_would_train_on_refuses_an_old_runs_out_and_says_what_to_do(tmp_path):
    cfg = config_for("tiny", dataset="synthetic", epochs=3)
    out = tmp_path / "old.geno"
    search(cfg, out=out, progress=False, plots=False, search_time_s=1e-6)  # derived at 1 of 3
    _as_before_written_json(out)
    before = out.read_bytes()
    with pytest.raises(ConfigError, match=r"keeps no record of writing it .* would replace it"):
        search(cfg, out=out, resume=True, progress=False, plots=False, search_time_s=1e9)
    assert out.read_bytes() == before
    # with its search time (used up, and kept) the resume only derives again: the file is kept
    again = search(cfg, out=out, resume=True, progress=False, plots=False)
    assert again.epochs_run == 1 and out.read_bytes() == before


def test_an_old_run_directory_does_not_adopt_a_file_of_other_settings(tmp_path):
    cfg = config_for("tiny", dataset="synthetic")
    out = tmp_path / "old.geno"
    search(cfg, out=out, progress=False, plots=False)
    _as_before_written_json(out)
    out.write_text(out.read_text().replace('meta config="', 'meta config="0', 1))
    with pytest.raises(ConfigError, match="exists, and the search would replace it"):
        search(cfg, out=out, resume=True, progress=False, plots=False)
