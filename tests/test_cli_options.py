"""One spelling for one meaning across commands: options that ``train``, ``search`` and ``eval``
share, ``-o`` wherever ``--out`` is, and ``show --layers``."""

from __future__ import annotations

import argparse
import re

import pytest

from bars_zoo.cli import build_parser, main
from bars_zoo.commands.options import bare_amp, signed_durations


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


SHARED = {  # options with one meaning, and so one spelling, in each of these commands
    ("train", "search"): {
        "-o",
        "--out",
        "--amp",
        "--progress",
        "--no-progress",
        "--quiet",
        "--json",
        "--threads",
        "--device",
        "--data-dir",
        "--resume",
        "--stop-after",
        "--time-limit",
        "--cuda-graph",
    },
    ("train", "eval"): {"--amp", "--threads", "--workers", "--json", "--device", "--data-dir"},
}


@pytest.mark.parametrize("commands", sorted(SHARED))
def test_commands_spell_the_options_they_share_the_same_way(commands):
    parsers = _subparsers()
    for name in commands:
        missing = SHARED[commands] - _flags(parsers[name])
        assert not missing, f"bars-zoo {name} lacks {sorted(missing)}"


def test_every_out_or_output_option_takes_o_and_both_long_spellings():
    # build/draw/deploy said --output and train/search --out: each takes both, and -o
    for name, parser in _subparsers().items():
        for action in parser._actions:
            if {"--out", "--output"} & set(action.option_strings):
                assert {"-o", "--out", "--output"} <= set(action.option_strings), (
                    f"bars-zoo {name} {action.option_strings}"
                )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--amp", "g.geno", "--epochs", "1"], ["train", "--amp=bf16", "g.geno"]),
        (["train", "g.geno", "--amp", "off"], ["train", "g.geno", "--amp", "off"]),
        (["train", "g.geno", "--amp", "--json"], ["train", "g.geno", "--amp", "--json"]),
        (["-v", "eval", "--amp", "bars-b"], ["-v", "eval", "--amp=bf16", "bars-b"]),
        (["search", "--amp", "bogus"], ["search", "--amp", "bogus"]),  # argparse says why
        (["train", "--", "--amp", "g"], ["train", "--", "--amp", "g"]),
    ],
)
def test_a_bare_amp_before_a_positional_is_the_old_flag(argv, expected):
    assert bare_amp(argv)[: len(expected)] == expected


def test_the_old_amp_flag_before_the_positional_parses_as_bf16():
    args = build_parser().parse_args(
        bare_amp(["train", "--amp", "g.geno", "--dataset", "synthetic", "--epochs", "1", "-o", "r"])
    )
    assert (args.genotype, args.amp) == ("g.geno", "bf16")


def test_show_layers_prints_the_layer_table_and_refuses_summary(capsys):
    assert main(["show", "example", "--layers"]) == 0
    with_layers = capsys.readouterr().out
    assert main(["show", "example"]) == 0
    assert capsys.readouterr().out == with_layers  # the text table has every layer's row
    assert "\nlayer " in with_layers
    assert main(["show", "example", "--layers", "--summary"]) == 2
    assert "--layers and --summary contradict" in capsys.readouterr().err


def test_show_layers_adds_the_layer_rows_to_json(capsys):
    import json

    assert main(["show", "example", "--json"]) == 0
    assert "layers" not in json.loads(capsys.readouterr().out)
    assert main(["show", "example", "--json", "--layers"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"]


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "g.geno", "--dataset", "synthetic", "--epochs", "1", "-o", "r", "--amp", "fp8"],
        ["eval", "bars-fmnist-s", "--amp", "fp8"],
    ],
)
def test_a_wrong_amp_mode_after_the_positional_is_an_invalid_choice(argv, capsys):
    # bare_amp leaves the word for the positional; the parser then could not place it
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --amp: invalid choice: 'fp8' (choose from bf16, off)" in err
    assert "unrecognized arguments" not in err


def _shared_actions() -> dict[str, dict[str, argparse.Action]]:
    """option -> {command: its action}, for every option of SHARED_OPTIONS, over every command."""
    from bars_zoo.cli import COMMANDS, build_parser
    from bars_zoo.commands.options import SHARED_OPTIONS

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: dict[str, dict[str, argparse.Action]] = {o: {} for o in SHARED_OPTIONS}
    for command in COMMANDS:
        for action in sub.choices[command]._actions:
            for option in SHARED_OPTIONS:
                if option in action.option_strings:
                    found[option][command] = action
    return found


#: shared options whose metavar and help say what differs between commands: only the spelling
#: (and for --amp the metavar) must agree
_OWN_TEXT = {
    "--out": 1,
    "--amp": 2,
    "--seed": 2,
}  # how many of (spellings, metavar, help) to compare


def test_shared_options_read_the_same_in_every_command_help() -> None:
    """Spellings, metavar and help (up to the stated default) of a shared option agree, so the
    subcommands' --help cannot drift apart again."""
    for option, actions in _shared_actions().items():
        assert len(actions) >= 2, f"{option} is shared by fewer than two commands: {actions}"
        seen = {
            command: (
                tuple(a.option_strings),
                a.metavar,
                re.sub(r" \(default: .*\)$", "", a.help or ""),
            )[: _OWN_TEXT.get(option, 3)]
            for command, a in actions.items()
        }
        assert len(set(seen.values())) == 1, f"{option} differs between commands: {seen}"


def test_seed_help_says_what_the_seed_seeds_in_each_command_and_refuses_a_bare_random_seed():
    # build's --seed said only "random seed": it seeds the initial weights that -o writes
    helps = {command: a.help or "" for command, a in _shared_actions()["--seed"].items()}
    assert set(helps) == {"build", "search", "train"}
    assert all(h.startswith("seed of ") and "random seed" not in h for h in helps.values()), helps
    assert helps["build"].startswith("seed of the random initial weights (the ones -o writes)")
    assert "initial weights" in helps["train"] and "batch order" in helps["train"]
    assert "Gumbel" in helps["search"]


def test_shared_options_with_a_default_state_it_in_their_help() -> None:
    for option, actions in _shared_actions().items():
        for command, a in actions.items():
            if a.default not in (None, False) and option != "--amp":
                assert "(default: " in (a.help or ""), f"{command} {option} hides its default"


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "bars-b", "--dataset", "synthetic", "--epochs", "1", "-o", "r", "--time-limit"],
        ["search", "--preset", "tiny", "--dataset", "synthetic", "--dry-run", "--time-limit"],
        ["search", "--preset", "tiny", "--dataset", "synthetic", "--dry-run", "--search-time"],
    ],
)
@pytest.mark.parametrize("value", ["-5m", "-0.5h", "-90", "0s"])
def test_a_negative_or_zero_duration_written_with_a_space_refuses_with_what_to_write(
    argv, value, tmp_path, monkeypatch, capsys
):
    # argparse took "-5m" for an option: "argument --time-limit: expected one argument"
    monkeypatch.chdir(tmp_path)
    try:
        status = main([*argv, value])
    except SystemExit as exc:  # argparse's own usage errors exit here
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert f"error: {argv[-1]} must be positive, got {value!r}" in err
    assert f"e.g. {argv[-1]} 30m" in err
    assert "expected one argument" not in err


def test_signed_durations_joins_only_a_duration_flag_to_its_signed_value():
    words = ["train", "g", "--time-limit", "-5m", "--lr", "-1", "--", "--search-time", "-1h"]
    assert signed_durations(words) == [
        "train", "g", "--time-limit=-5m", "--lr", "-1", "--", "--search-time", "-1h"
    ]  # fmt: skip
    assert signed_durations(["search", "--time-limit", "-v"]) == ["search", "--time-limit", "-v"]
