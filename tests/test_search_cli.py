"""``bars-zoo search`` options shared with ``train``: spellings, ``-o``, ``--json``, flag names in
errors, and ``--data-dir`` where a data set has no default location."""

from __future__ import annotations

import json

import pytest

import bars_zoo
from bars_zoo.cli import build_parser, main
from bars_zoo.commands.search import _config
from bars_zoo.complexity import count
from bars_zoo.errors import ConfigError
from bars_zoo.search import search
from bars_zoo.search.presets import config_for

TINY = ["search", "--preset", "tiny", "--dataset", "synthetic", "--no-plots", "--device", "cpu"]


def _args(*argv: str):
    return build_parser().parse_args(["search", "--preset", "tiny", *argv])


@pytest.mark.parametrize(
    ("argv", "amp"),
    [
        ([], "auto"),  # the preset's
        (["--amp"], "bf16"),  # train's older flag spelling
        (["--amp", "off"], "off"),
        (["--amp", "bf16"], "bf16"),
    ],
)
def test_search_amp_takes_trains_bare_flag_too(argv, amp):
    assert _config(_args(*argv)).amp == amp


@pytest.mark.parametrize(
    ("argv", "progress"),
    [([], None), (["--progress"], True), (["--no-progress"], False), (["--quiet"], False)],
)
def test_search_takes_trains_progress_flags(argv, progress):
    from bars_zoo.commands.options import progress_of

    assert progress_of(_args(*argv)) is progress


def test_search_refuses_quiet_with_progress(tmp_path, capsys):
    assert main([*TINY, "--quiet", "--progress", "-o", str(tmp_path / "x.geno")]) == 2
    assert "--quiet and --progress contradict" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_search_takes_o_for_out():
    assert _args("-o", "net.geno").out == "net.geno"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "error: --epochs must be at least 1, got 0"),
        (["--batch-size", "1"], "error: --batch-size must be at least 2, got 1"),
        (["--seed", "-1"], "error: --seed must be at least 0, got -1"),
        (["--theta-under", "0.5"], "error: --theta-under must be at most 0.0, got 0.5"),
        (["--name", ""], "error: --name '': string should have at least 1 character"),
        (["--warmup-epochs", "9"], "error: --warmup-epochs (9) must be below --epochs (2)"),
        (["--base-channels", "3,5,7"], "widen the stage (--base-channels)"),
    ],
)
def test_search_option_errors_name_the_flag_not_the_setting(argv, message, tmp_path, capsys):
    assert main([*TINY, *argv, "-o", str(tmp_path / "x.geno"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and "search setting" not in err


def test_python_search_errors_still_name_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="invalid search setting batch_size"):
        search(config_for("tiny", dataset="synthetic", batch_size=1), out=tmp_path / "x.geno")


def test_search_without_data_dir_for_cifar10_is_a_usage_error_naming_the_option(tmp_path, capsys):
    out = tmp_path / "c.geno"
    assert main(["search", "--preset", "tiny", "--dataset", "cifar10", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 needs --data-dir: it has no default location" in err
    assert "hint: pass --data-dir DIR" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("shell_log_levels")
def test_search_json_prints_the_result_and_no_epoch_lines(tmp_path, capsys, caplog):
    out = tmp_path / "j.geno"
    assert main([*TINY, "--budget-ops", "400k", "-o", str(out), "--json", "--threads", "1"]) == 0
    shown = json.loads(capsys.readouterr().out)  # stdout is the JSON and nothing else
    params = count(bars_zoo.read(out)).params
    assert shown["finished"] and shown["path"] == str(out)
    assert shown["params"] == params and shown["ops"] == count(bars_zoo.read(out)).ops
    assert shown["budget_met"] is True and shown["budget"] == "400k OPs"
    assert shown["derived"] == "sampled" and shown["note"] is None
    assert shown["epochs_run"] == shown["epochs"] == 2
    assert shown["run_dir"] == str(tmp_path / "j.run")
    assert not [r for r in caplog.records if r.getMessage().startswith("epoch")]


def test_search_json_of_a_stopped_run_says_it_has_not_finished(tmp_path, capsys):
    out = tmp_path / "s.geno"
    argv = [*TINY, "-o", str(out), "--json", "--stop-after", "1", "--threads", "1"]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert not shown["finished"] and shown["epochs_run"] == 1 and shown["epochs"] == 2
    assert shown["path"] is None and shown["budget_met"] is None


def test_search_json_with_dry_run_is_refused(tmp_path, capsys):
    assert main([*TINY, "--json", "--dry-run", "-o", str(tmp_path / "x.geno")]) == 2
    assert "--json is the search's result" in capsys.readouterr().err


def test_search_reduce_cell_flags_write_the_zoos_reduction_cell_and_rerun_by_cli(tmp_path, capsys):
    """--reduce-preprocess/--reduce-shortcut let a search write the reduction cell of the zoo's
    bars-a..f (docs/paper-fidelity.md); the genotype's re-run command names them."""
    from typing import get_args

    from bars_zoo.commands.search import _REDUCE_OPS
    from bars_zoo.search.config import ReduceOp

    assert get_args(ReduceOp) == _REDUCE_OPS
    out = tmp_path / "r.geno"
    argv = ["search", "--preset", "tiny", "--reduce-preprocess", "bconv3x3"]
    argv += ["--reduce-shortcut", "bfr", "-o", str(out), "--no-plots", "--quiet"]
    assert main(argv) == 0
    text = out.read_text()
    assert "stride=2 preprocess=bconv3x3 shortcut=bfr" in text
    assert "--reduce-preprocess bconv3x3 --reduce-shortcut bfr" in text
    assert "bars_zoo.search(" not in text
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--preset", "tiny", "--reduce-shortcut", "identity"])
    assert exit_.value.code == 2
    assert "invalid choice: 'identity'" in capsys.readouterr().err
