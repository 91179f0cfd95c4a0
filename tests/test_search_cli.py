"""``bars-zoo search`` options shared with ``train``: spellings, ``-o``, flag names in errors, and
``--data-dir`` where a data set has no default location."""

from __future__ import annotations

import pytest

from bars_zoo.cli import build_parser, main
from bars_zoo.commands.search import _config
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
