"""``bars-zoo search`` options shared with ``train``: spellings and ``-o``."""

from __future__ import annotations

import pytest

from bars_zoo.cli import build_parser, main
from bars_zoo.commands.search import _config

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
