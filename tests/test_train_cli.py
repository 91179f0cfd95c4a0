"""``bars-zoo train`` and ``bars-zoo eval`` from the command line (synthetic data, tiny shapes)."""

from __future__ import annotations

import argparse
import json
import logging

import pytest

from bars_zoo.cli import main
from bars_zoo.commands.train import parse_duration, recorded_command
from bars_zoo.errors import ConfigError

GENOTYPE = """bars 1
name "tiny-cli"
input {shape} classes=10
stem conv3x3 channels=8 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {{
  n1 <- in: bconv3x3
}}
stage s1: channels=8 depth=1 cell=normal
head avgpool linear
"""

FAST = ["--dataset", "synthetic", "--subset", "96", "--batch-size", "32", "--device", "cpu"]


@pytest.fixture
def geno(tmp_path):
    path = tmp_path / "tiny.geno"
    path.write_text(GENOTYPE.format(shape="3x8x8"))
    return str(path)


def test_cli_trains_then_evaluates_its_output_folder(geno, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", geno, *FAST, "--epochs", "2", "--out", str(out), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["finished"] and trained["epochs_done"] == 2
    assert trained["model_dir"] == str(out / "model")
    # the data set comes from the model folder's config; the accuracy is the recorded one
    assert main(["eval", str(out), "--subset", "96", "--device", "cpu", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["dataset"] == "synthetic"
    assert evaluated["top1"] == trained["metrics"]["test_top1"]
    results = json.loads((out / "results.json").read_text())
    assert results["command"] == (
        f"bars-zoo train {geno} --dataset synthetic --epochs 2 --out {out} --batch-size 32 "
        "--device cpu --subset 96"
    )


def test_cli_evaluates_an_unfinished_run_from_its_checkpoint(geno, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "3", "--out", str(out), "--stop-after", "1"]
    assert main(args) == 0
    assert "continue with the same command plus --resume" in capsys.readouterr().err
    assert main(["eval", str(out), "--split", "val", "--device", "cpu", "--subset", "96"]) == 0
    assert "on synthetic val (10 images): top-1" in capsys.readouterr().out


def test_cli_eval_of_a_training_folder_scores_that_runs_own_validation_split(
    geno, tmp_path, capsys
):
    out = tmp_path / "run"
    split = ["--val-fraction", "0.3", "--split-seed", "7"]
    args = ["train", geno, *FAST, *split, "--epochs", "2", "--out", str(out), "--json"]
    assert main(args) == 0
    trained = json.loads(capsys.readouterr().out)
    assert main(["eval", str(out), "--split", "val", "--device", "cpu", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["n"] == 29  # 30 % of the run's 96 images, not the recipe's 10 % of 2048
    assert evaluated["top1"] == trained["metrics"]["val_top1"]


def test_cli_eval_val_of_a_run_that_held_nothing_out_is_refused(geno, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--val-fraction", "0", "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--split", "val", "--device", "cpu"]) == 2
    assert "no validation images" in capsys.readouterr().err


def test_cli_stop_after_goes_on_slice_by_slice_with_resume(geno, tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["train", geno, *FAST, "--epochs", "3", "--out", out, "--stop-after", "1", "--json"]
    done = []
    for call in range(3):
        assert main([*args, *(["--resume"] if call else [])]) == 0
        done.append(json.loads(capsys.readouterr().out)["epochs_done"])
    assert done == [1, 2, 3]


def test_cli_training_where_it_cannot_write_fails_before_the_first_epoch(geno, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    out = tmp_path / "afile" / "run"
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write in {tmp_path / 'afile'}" in err
    assert "epoch 1/1" not in err
    assert (tmp_path / "afile").read_text() == "mine"


def test_cli_resume_removes_the_temporary_files_a_killed_write_left(geno, tmp_path):
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "2", "--out", str(out)]
    assert main([*args, "--stop-after", "1"]) == 0
    (out / ".checkpoint.pt.x7.tmp").write_bytes(b"half a checkpoint")
    (out / ".model.q1.tmp").mkdir()
    (out / ".model.q1.tmp" / "model.safetensors").write_bytes(b"half")
    (out / ".my-notes.tmp").write_text("mine")
    assert main([*args, "--resume"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".my-notes.tmp"]
    assert (out / "model" / "model.safetensors").is_file()


def test_a_run_killed_between_checkpoint_and_best_weights_gets_them_back_on_resume(geno, tmp_path):
    import torch

    from bars_zoo import checkpoint as ckpt

    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    (out / "best.pt").unlink()  # killed after checkpoint.pt of the best epoch, before best.pt
    assert main([*args, "--resume"]) == 0
    best, last = ckpt.load(out / "best.pt"), ckpt.load(out / "checkpoint.pt")
    assert best["epoch"] == last["epoch"] == 1
    assert all(torch.equal(best["model"][k], v) for k, v in last["model"].items())


def test_resuming_a_finished_run_whose_model_file_was_lost_makes_the_folder_again(geno, tmp_path):
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    weights = out / "model" / "model.safetensors"
    kept = weights.read_bytes()
    weights.unlink()
    assert main([*args, "--resume"]) == 0
    assert weights.read_bytes() == kept


def test_a_damaged_best_checkpoint_is_reported_on_resume_not_after_the_last_epoch(
    geno, tmp_path, capsys
):
    from bars_zoo import checkpoint as ckpt

    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "3", "--out", str(out)]
    assert main([*args, "--stop-after", "2"]) == 0
    state = ckpt.load(out / "checkpoint.pt")
    state["best"]["epoch"] = 1  # epoch 1 was the best: only best.pt holds its weights
    ckpt.save(state, out / "checkpoint.pt")
    (out / "best.pt").write_bytes(b"damaged")
    assert main([*args, "--resume"]) == 1
    err = capsys.readouterr().err
    assert "only it held the weights of epoch 1" in err and "--select last" in err
    assert ckpt.load(out / "checkpoint.pt")["epoch"] == 2  # nothing was trained
    assert main([*args, "--resume", "--select", "last"]) == 0


def test_cli_training_into_a_folder_with_foreign_run_files_is_refused(geno, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.json").write_text('{"my": "old results"}')
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out)]) == 2
    assert "holds the files of another training run" in capsys.readouterr().err
    assert (out / "results.json").read_text() == '{"my": "old results"}'
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]


def test_cli_resume_with_other_settings_fails_with_the_difference(geno, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", geno, *FAST, "--epochs", "2", "--out", out, "--stop-after", "1"]) == 0
    code = main(["train", geno, *FAST, "--epochs", "2", "--out", out, "--resume", "--seed", "1"])
    assert code == 2
    assert "belongs to a different run: seed: 0 -> 1" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet"])
def test_cli_refuses_a_data_set_without_default_location_and_no_data_dir_as_usage(
    dataset, tmp_path, capsys
):
    # README "Exit status": the command line cannot be acted on (2), and it says what to pass
    path = tmp_path / "cifar.geno"
    path.write_text(GENOTYPE.format(shape="3x32x32"))
    out = tmp_path / "run"
    args = ["train", str(path), "--dataset", dataset, "--epochs", "1", "--out", str(out)]
    assert main([*args, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "needs --data-dir: it has no default location" in err
    assert "hint: pass --data-dir DIR" in err
    assert not out.exists()


def test_cli_a_data_dir_without_the_data_set_files_is_still_a_failed_read(tmp_path, capsys):
    path = tmp_path / "fm.geno"
    path.write_text(GENOTYPE.format(shape="1x28x28"))
    (tmp_path / "empty").mkdir()
    args = ["train", str(path), "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "empty")]
    assert main([*args, "--epochs", "1", "--out", str(tmp_path / "run"), "--device", "cpu"]) == 1
    assert "Fashion-MNIST train files not found" in capsys.readouterr().err


def test_cli_rejects_a_nonpositive_epoch_count(geno, tmp_path, capsys):
    assert main(["train", geno, *FAST, "--epochs", "0", "--out", str(tmp_path / "r")]) == 2
    assert "error: --epochs must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--batch-size", "0", "--batch-size must be at least 1, got 0"),
        ("--workers", "-1", "--workers must be at least 0, got -1"),
        ("--label-smoothing", "1", "--label-smoothing must be below 1.0, got 1.0"),
        ("--val-fraction", "-0.5", "--val-fraction must be at least 0.0, got -0.5"),
        ("--eval-batch-size", "0", "--eval-batch-size must be at least 1, got 0"),
        ("--stop-after", "0", "--stop-after must be at least 1, got 0"),
        ("--seed", "-3", "--seed must be at least 0, got -3"),
    ],
)
def test_cli_option_errors_name_the_flag_not_the_training_keyword(
    flag, value, message, geno, tmp_path, capsys
):
    out = tmp_path / "r"
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out), flag, value]) == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err and "training option" not in err
    assert not out.exists()


def test_python_option_errors_name_the_keyword(geno, tmp_path):
    import bars_zoo

    with pytest.raises(ConfigError, match="invalid training option batch_size: Input should be"):
        bars_zoo.train(geno, dataset="synthetic", epochs=1, out_dir=tmp_path, batch_size=0)


@pytest.mark.parametrize(
    ("argv", "amp"),
    [
        ([], None),
        (["--amp"], "bf16"),  # the older flag spelling
        (["--amp", "bf16"], "bf16"),  # the search's spelling
        (["--amp", "off"], "off"),
        (["--amp=off"], "off"),
    ],
)
def test_cli_amp_takes_the_search_spelling_and_the_bare_flag(argv, amp):
    from bars_zoo.cli import build_parser

    base = ["train", "g.geno", "--dataset", "synthetic", "--epochs", "1", "-o", "r"]
    assert build_parser().parse_args([*base, *argv]).amp == amp


def test_cli_bare_amp_before_the_genotype_still_trains_with_bf16(geno, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--amp", geno, *FAST, "--epochs", "1", "-o", str(out), "--json"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["amp"] is True
    assert results["command"].endswith("--amp bf16")


def test_cli_amp_auto_is_refused_for_training(geno, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train", geno, *FAST, "--epochs", "1", "--out", str(tmp_path / "r"), "--amp", "auto"])
    assert exited.value.code == 2
    assert "invalid choice: 'auto' (choose from 'bf16', 'off')" in capsys.readouterr().err


def test_python_amp_takes_the_search_spellings_and_refuses_auto(tmp_path):
    from bars_zoo.training import TrainConfig

    def amp(value: object) -> bool:
        return TrainConfig(dataset="synthetic", epochs=1, out_dir=str(tmp_path), amp=value).amp

    assert (amp("bf16"), amp("off"), amp(True), amp(False)) == (True, False, True, False)
    import bars_zoo

    with pytest.raises(ConfigError, match="invalid training option amp: 'auto' is the search's"):
        bars_zoo.train("example", dataset="synthetic", epochs=1, out_dir=tmp_path, amp="auto")


@pytest.mark.usefixtures("shell_log_levels")
def test_cli_quiet_trains_without_epoch_lines_and_refuses_progress(geno, tmp_path, caplog, capsys):
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "1", "-o", str(out)]
    assert main([*args, "--quiet"]) == 0
    assert not [r for r in caplog.records if r.getMessage().startswith("epoch")]
    assert "test top-1" in capsys.readouterr().out  # the result is still printed
    assert main([*args, "--quiet", "--progress", "--resume"]) == 2
    assert "--quiet and --progress contradict" in capsys.readouterr().err


def test_cli_unknown_genotype_is_an_error_with_suggestions(tmp_path, capsys):
    args = ["train", "bars-zz", "--dataset", "synthetic", "--epochs", "1", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "unknown model 'bars-zz'" in capsys.readouterr().err


def test_time_limits_take_seconds_minutes_or_hours():
    assert [parse_duration(t) for t in ("30", "90s", "45m", "1.5h")] == [30, 90, 2700, 5400]
    with pytest.raises(ConfigError, match="bad --time-limit '2d'"):
        parse_duration("2d")


def test_recorded_command_leaves_out_flags_that_do_not_change_the_weights(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    args = argparse.Namespace(
        genotype="bars-b",
        dataset="cifar10",
        epochs=200,
        out="runs/b",
        resume=True,
        batch_size=256,
        lr=None,
        cutout=False,
        amp="bf16",
        time_limit="2h",
        progress=True,
        quiet=False,
        json=True,
        _run=print,
    )
    assert recorded_command(args) == (
        "bars-zoo train bars-b --dataset cifar10 --epochs 200 --out runs/b --no-cutout --amp bf16"
    )
    assert "--amp" not in recorded_command(argparse.Namespace(**{**vars(args), "amp": "off"}))
    monkeypatch.setenv("WORLD_SIZE", "16")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert recorded_command(args).startswith(
        "torchrun --nnodes 2 --nproc_per_node 8 -m bars_zoo train bars-b"
    )


def test_python_paths_with_a_tilde_are_expanded(geno, tmp_path, monkeypatch):
    import bars_zoo

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    result = bars_zoo.train(
        geno, dataset="synthetic", epochs=1, out_dir="~/run", subset=96, batch_size=32, device="cpu"
    )
    assert result.out_dir == tmp_path / "home" / "run"
    assert (tmp_path / "home" / "run" / "checkpoint.pt").is_file()
    assert (tmp_path / "home" / "run" / "model" / "config.json").is_file()
    assert not (tmp_path / "~").exists()


def test_cli_threads_must_be_positive(geno, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
    assert not out.exists()


def test_cli_eval_of_a_foreign_or_corrupt_checkpoint_is_one_clear_error(tmp_path, capsys):
    import torch

    run = tmp_path / "run"
    run.mkdir()
    torch.save({"x": [1, 2]}, run / "checkpoint.pt")
    assert main(["eval", str(run), "--device", "cpu"]) == 1
    assert "is not a bars-zoo-train/1 checkpoint" in capsys.readouterr().err
    (run / "checkpoint.pt").write_bytes(b"garbage")
    assert main(["eval", str(run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and "weights_only" not in err


def test_cli_resume_of_a_finished_run_keeps_its_recorded_result(geno, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "1", "--out", str(out), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    results = out / "results.json"
    recorded = json.loads(results.read_text())
    recorded["hardware"] = "the machine it was trained on"
    results.write_text(json.dumps(recorded))
    before = (out / "model" / "model.safetensors").stat().st_mtime_ns
    assert main([*args, "--resume"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["metrics"] == first["metrics"] and again["finished"]
    assert json.loads(results.read_text())["hardware"] == "the machine it was trained on"
    assert (out / "model" / "model.safetensors").stat().st_mtime_ns == before
    assert main([*args, "--resume", "--select", "last"]) == 0  # another selection: done again
    assert json.loads(results.read_text())["config"]["select"] == "last"


@pytest.mark.parametrize("out", ["", "  "])
def test_cli_train_with_an_empty_out_is_a_usage_error(out, geno, tmp_path, monkeypatch, capsys):
    # an unset $OUT in a script must not scatter a run into the current folder
    monkeypatch.chdir(tmp_path)
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "--out is empty" in err
    assert "leave it out" not in err  # train needs --out: the hint must not offer leaving it out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.geno"]


def test_a_second_run_into_a_folder_another_run_is_writing_is_refused(geno, tmp_path, capsys):
    from bars_zoo._io import folder_lock

    out = tmp_path / "run"
    out.mkdir()
    with folder_lock(out) as taken:  # as the first run holds it for its whole length
        assert taken
        assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out)]) == 2
        assert "another training run is writing in" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing of a run was written
    assert not list(out.iterdir())  # the holder deletes its .lock when it ends
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out)]) == 0  # free again


def test_cli_train_with_progress_bars_still_reports_every_epoch(
    geno, tmp_path, caplog, monkeypatch
):
    # the bars close at the end of each epoch; the epoch's line (val top-1) must stay behind

    monkeypatch.setattr(logging.getLogger("bars_zoo.trainer"), "level", logging.NOTSET)
    monkeypatch.setattr(logging.getLogger(), "level", logging.WARNING)
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "2", "--out", str(out), "--progress"]
    assert main(args) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "bars_zoo.trainer"]
    assert [line.split(":")[0] for line in lines if line.startswith("epoch")] == [
        "epoch 1/2",
        "epoch 2/2",
    ]
    assert all("val loss" in line for line in lines if line.startswith("epoch"))


def test_an_unknown_option_shows_the_subcommand_usage(geno, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train", geno, *FAST, "--epochs", "1", "--out", str(tmp_path / "r"), "--bogus"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "bars-zoo train: error: unrecognized arguments: --bogus" in err
    assert "usage: bars-zoo train" in err


def test_an_empty_time_limit_is_refused_not_ignored(geno, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out), "--time-limit", ""]) == 2
    assert "bad --time-limit ''" in capsys.readouterr().err
    assert not out.exists()


def test_training_into_a_search_run_directory_says_what_it_is(geno, tmp_path, capsys):
    from bars_zoo.search import search

    search(preset="tiny", out=tmp_path / "s.geno", progress=False, plots=False)
    before = sorted(p.name for p in (tmp_path / "s.run").iterdir())
    args = ["train", geno, *FAST, "--epochs", "1", "--out", str(tmp_path / "s.run")]
    for extra in ([], ["--resume"]):
        assert main([*args, *extra]) == 2
        assert "is the run directory of a `bars-zoo search`" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "s.run").iterdir()) == before


def test_the_trained_model_carries_the_runs_config_so_saving_it_again_keeps_it(geno, tmp_path):
    import bars_zoo

    common = dict(dataset="synthetic", subset=96, batch_size=32, device="cpu", progress=False)
    part = bars_zoo.train(geno, epochs=2, out_dir=tmp_path / "r", stop_after=1, **common)
    cfg = part.model.pretrained_cfg
    assert (cfg.dataset, cfg.mean, cfg.std, cfg.top1) == (
        "synthetic",
        (0.5,) * 3,
        (0.25,) * 3,
        None,
    )
    done = bars_zoo.train(geno, epochs=2, out_dir=tmp_path / "r", resume=True, **common)
    assert done.model.pretrained_cfg == bars_zoo.load(f"local-dir:{done.model_dir}").pretrained_cfg
    again = bars_zoo.save_pretrained(done.model, tmp_path / "again")
    cfg = bars_zoo.load(f"local-dir:{again}").pretrained_cfg
    assert (cfg.dataset, cfg.mean, cfg.top1) == (
        "synthetic",
        (0.5,) * 3,
        done.model.pretrained_cfg.top1,
    )


def test_cli_time_limit_says_it_stopped_the_training(geno, tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["train", geno, *FAST, "--epochs", "2", "--out", out, "--time-limit", "0.001s"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (
        "stopped by --time-limit after epoch 1/2; continue with the same command plus --resume"
        in err
    )


@pytest.mark.parametrize("text", ["0", "0s", "-5m", "+0h"])
def test_time_limits_refuse_durations_not_above_zero_saying_so(text):
    with pytest.raises(ConfigError, match="--search-time must be positive") as err:
        parse_duration(text, "--search-time")
    assert "s/m/h" not in str(err.value.hint)


def test_cli_time_limit_given_with_equals_refuses_a_negative_duration(geno, tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", geno, *FAST, "--epochs", "1", "--out", str(out), "--time-limit=-5m"]
    assert main(args) == 2
    assert "--time-limit must be positive, got '-5m'" in capsys.readouterr().err


def test_batch_size_above_the_training_images_hints_the_largest_without_subset(tmp_path):
    from test_imagefolder import _train, genotype, make_folder

    data = make_folder(tmp_path / "pets")  # 36 training images, 4 held out: 32 left
    with pytest.raises(ConfigError, match="larger than the 32 training images") as err:
        _train(data, tmp_path / "run", genotype("1x28x28"), batch_size=256)
    assert err.value.hint == "give batch_size=32 or less"


def test_train_init_pretrained_on_a_name_without_weights_hints_other_weights(tmp_path):
    import bars_zoo

    with pytest.raises(ConfigError, match='init="bars-a"') as err:
        bars_zoo.train(
            "bars-a", dataset="synthetic", epochs=1, out_dir=tmp_path / "r", init="pretrained"
        )
    hint = str(err.value.hint)
    assert 'init="pretrained"' not in hint and 'init="local-dir:DIR"' in hint


def test_train_summary_says_a_subset_top1_is_on_part_of_the_test_split(geno, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", geno, *FAST, "--epochs", "1", "--out", str(out)]) == 0
    assert "% on 96 images of the synthetic test split" in capsys.readouterr().out
    assert (
        main(["train", geno, *FAST, "--epochs", "1", "--out", str(out), "--resume", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["test_images"] == 96


def test_eval_of_an_unfinished_run_says_which_epochs_weights_it_measured(geno, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", geno, *FAST, "--epochs", "3", "--out", str(out), "--stop-after", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--device", "cpu", "--subset", "96"]) == 0
    text = capsys.readouterr().out
    assert "unfinished run: stopped after epoch 1 of 3" in text and "weights of epoch 1" in text
    assert main(["eval", str(out), "--device", "cpu", "--subset", "96", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["unfinished"] and (got["weights_epoch"], got["epochs_done"], got["epochs"]) == (
        1,
        1,
        3,
    )
