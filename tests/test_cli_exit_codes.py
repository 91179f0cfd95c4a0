"""One exit-status convention for every subcommand (README, "Exit status").

0 success; 1 the input was read and is wrong (or the work failed); 2 the command line cannot be
acted on: a usage error, a bad option value, a path or name that does not exist or cannot be read.
Each case checks the status, and that standard error holds one line that says what is wrong and
names the culprit, and no traceback.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_net import tiny_model

from bars_zoo._resources import resource_dir
from bars_zoo.cli import COMMANDS, main
from bars_zoo.folder import save_pretrained

# {workspace paths}: nope (nothing there), adir (an empty folder), bad.geno (does not parse),
# good.geno (parses), model (a model folder), broken (a model folder whose config.json is not
# JSON), samples (a demo --images folder), badsamples (its labels.json is not JSON)
MISSING = {
    "check": (["check", "nope.geno"], "nope.geno"),
    "fmt": (["fmt", "nope.geno"], "nope.geno"),
    "show": (["show", "nope.geno"], "nope.geno"),
    "build": (["build", "nope.geno"], "nope.geno"),
    "draw": (["draw", "nope.geno", "-o", "x.svg"], "nope.geno"),
    "train": (
        ["train", "nope.geno", "--dataset", "synthetic", "--epochs", "1", "--out", "r"],
        "nope.geno",
    ),
    "card": (["card", "nope"], "nope"),
    "push": (["push", "nope", "org/x"], "nope"),
    "pull": (["pull", "local-dir:nope"], "nope"),
    "deploy": (["deploy", "nope", "-o", "out"], "nope"),
    "eval": (["eval", "nope"], "nope"),
    "demo": (["demo", "--images", "nope"], "nope"),
    "search": (["search", "--preset", "tiny", "--data-dir", "nope"], "nope"),
}
WRONG_KIND = {  # a folder where a file belongs, a file (or a folder of other things) for a folder
    "check": (["check", "adir"], "adir"),
    "fmt": (["fmt", "adir"], "adir"),
    "show": (["show", "adir"], "adir"),
    "build": (["build", "adir"], "adir"),
    "draw": (["draw", "adir", "-o", "x.svg"], "adir"),
    "train": (["train", "adir", "--dataset", "synthetic", "--epochs", "1", "--out", "r"], "adir"),
    "card": (["card", "good.geno"], "good.geno"),
    "push": (["push", "adir", "org/x"], "adir"),
    "pull": (["pull", "local-dir:adir"], "adir"),
    "deploy": (["deploy", "adir", "-o", "out"], "adir"),
    "eval": (["eval", "good.geno"], "good.geno"),
    "demo": (["demo", "--images", "good.geno"], "good.geno"),
    "search": (["search", "--preset", "tiny", "--data-dir", "good.geno"], "good.geno"),
}
UNREADABLE = {  # the file exists, reading it is refused (EACCES)
    "check": (["check", "good.geno"], "good.geno"),
    "fmt": (["fmt", "good.geno"], "good.geno"),
    "show": (["show", "good.geno"], "good.geno"),
    "build": (["build", "good.geno"], "good.geno"),
    "draw": (["draw", "good.geno", "-o", "x.svg"], "good.geno"),
    "train": (
        ["train", "good.geno", "--dataset", "synthetic", "--epochs", "1", "--out", "r"],
        "good.geno",
    ),
    "card": (["card", "model"], "model/config.json"),
    "push": (["push", "model", "org/x"], "model/config.json"),
    "pull": (["pull", "local-dir:model"], "model/config.json"),
    "deploy": (["deploy", "model", "-o", "out"], "model/config.json"),
    "eval": (["eval", "model"], "model/config.json"),
    "demo": (["demo", "--images", "samples"], "samples/labels.json"),
}
MALFORMED = {  # read, and wrong: exit status 1
    "check": (["check", "bad.geno"], "bad.geno"),
    "fmt": (["fmt", "bad.geno"], "bad.geno"),
    "show": (["show", "bad.geno"], "bad.geno"),
    "build": (["build", "bad.geno"], "bad.geno"),
    "draw": (["draw", "bad.geno", "-o", "x.svg"], "bad.geno"),
    "train": (
        ["train", "bad.geno", "--dataset", "synthetic", "--epochs", "1", "--out", "r"],
        "bad.geno",
    ),
    "card": (["card", "broken"], "broken/config.json"),
    "push": (["push", "broken", "org/x"], "broken/config.json"),
    "pull": (["pull", "local-dir:broken"], "broken/config.json"),
    "deploy": (["deploy", "broken", "-o", "out"], "broken/config.json"),
    "eval": (["eval", "broken"], "broken/config.json"),
    "demo": (["demo", "--images", "badsamples"], "badsamples/labels.json"),
}
BAD_OPTION = {  # every subcommand: a value its option cannot take, or a usage error
    "check": (["check"], "FILE"),
    "fmt": (["fmt", "good.geno", "--width", "3"], "--width"),
    "schema": (["schema", "extra"], "extra"),
    "demo": (["demo", "--device", "bogus"], "bogus"),
    "draw": (["draw", "good.geno", "-o", "x.svg", "--format", "gif"], "gif"),
    "show": (["show", "good.geno", "--x3"], "--x3"),
    "build": (["build", "good.geno", "--seed", "-1"], "--seed"),
    "list": (["list", "a*", "b*"], "b*"),
    "pull": (["pull", "bars-fmnist-s", "--revision", "a b"], "a b"),
    "push": (["push", "model", "not/a/repo"], "not/a/repo"),
    "card": (["card"], "DIR"),
    "search": (["search", "--budget-ops", "lots"], "lots"),
    "train": (
        ["train", "good.geno", "--dataset", "synthetic", "--epochs", "0", "--out", "r"],
        "--epochs",
    ),
    "eval": (["eval", "model", "--batch-size", "0"], "--batch-size"),
    "deploy": (["deploy", "model", "-o", "out", "--revision", "a b"], "a b"),
}

CASES = [
    pytest.param(kind, argv, culprit, status, id=f"{name}-{kind}")
    for kind, table, status in (
        ("missing", MISSING, 2),
        ("wrong-kind", WRONG_KIND, 2),
        ("unreadable", UNREADABLE, 2),
        ("malformed", MALFORMED, 1),
        ("bad-option", BAD_OPTION, 2),
    )
    for name, (argv, culprit) in table.items()
]

ERROR_LINE = re.compile(r"^(error: |bars-zoo( \w+)?: error: |\S+:\d+:\d+: error\[)")


def test_every_subcommand_has_a_bad_option_case():
    assert set(BAD_OPTION) == set(COMMANDS)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pretrained(tiny_model(), tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved_model: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "adir").mkdir()
    (tmp_path / "bad.geno").write_text('bars 1\nname "bad"\nbogus\n')
    (tmp_path / "good.geno").write_text((resource_dir("genotypes") / "example.geno").read_text())
    shutil.copytree(saved_model, tmp_path / "model")
    shutil.copytree(saved_model, tmp_path / "broken")
    (tmp_path / "broken" / "config.json").write_text("{")
    shutil.copytree(resource_dir("pretrained") / "samples", tmp_path / "samples")
    (tmp_path / "badsamples").mkdir()
    (tmp_path / "badsamples" / "labels.json").write_text("{")
    return tmp_path


@pytest.fixture
def refuse_reading(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """``refuse_reading(path)``: opening ``path`` fails with EACCES, as a file of another user
    does (``chmod 000`` alone does not stop root, who runs these tests in containers)."""
    refused: set[str] = set()
    real_open = io.open

    def guarded_open(file: object, *args: object, **kwargs: object) -> object:
        if isinstance(file, str | os.PathLike) and os.path.abspath(file) in refused:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    return lambda path: refused.add(os.path.abspath(path))


@pytest.mark.parametrize(("kind", "argv", "culprit", "status"), CASES)
def test_subcommand_exit_status_and_message_follow_the_convention(
    kind, argv, culprit, status, workspace, refuse_reading, capsys
):
    if kind == "unreadable":
        refuse_reading(workspace / culprit)
    try:
        got = main(argv)
    except SystemExit as e:  # argparse's usage errors
        got = e.code
    out, err = capsys.readouterr()
    assert got == status, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if ERROR_LINE.match(line)]
    assert errors, err
    assert culprit in errors[0], err  # the one line names what to change
    if argv[0] != "check":  # check --json aside, a failing command prints nothing on stdout
        assert out == ""


@pytest.mark.parametrize("command", ["show", "card"])
def test_a_file_the_user_may_not_read_is_exit_status_2(command, workspace, saved_model):
    """The real refusal of the operating system, not a stand-in: a file of mode 000, read by a
    process without CAP_DAC_OVERRIDE (root drops it through setpriv)."""
    target = workspace / ("good.geno" if command == "show" else "model/config.json")
    target.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a mode-000 file stays readable")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]
    arg = "good.geno" if command == "show" else "model"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "bars_zoo", command, arg],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Permission denied" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["eval"], ["deploy", "-o", "out"], ["pull"]])
def test_a_genotype_file_given_for_a_trained_model_says_to_train_it(command, workspace, capsys):
    assert main([command[0], "good.geno", *command[1:]]) == 2
    err = capsys.readouterr().err
    assert "'good.geno' is a genotype file, which has no weights" in err
    assert "bars-zoo train good.geno" in err


def test_top_level_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit status (every command):" in out
    for status in ("0 ", "1 ", "2 ", "130"):
        assert f"\n  {status}" in out


def test_every_positional_argument_is_named_in_capitals_in_the_usage():
    import argparse

    from bars_zoo.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if not action.option_strings:
                shown = action.metavar or action.dest
                assert shown == str(shown).upper(), f"bars-zoo {name}: {shown}"


@pytest.mark.parametrize(
    "argv",
    [
        ["deploy", "bars-fmnist-s", "-o", ""],
        ["draw", "example", "-o", " "],
        ["build", "example", "-o", ""],
        ["train", "example", "--dataset", "synthetic", "--epochs", "1", "--out", ""],
        ["search", "--preset", "tiny", "--out", ""],
        ["search", "--preset", "tiny", "--run-dir", ""],
        ["demo", "--images", ""],
        ["pull", "bars-fmnist-s", "--cache-dir", ""],
        ["eval", "bars-fmnist-s", "--data-dir", ""],
    ],
)
def test_an_empty_path_option_is_refused_not_taken_for_the_current_folder(argv, workspace, capsys):
    before = sorted(p.name for p in workspace.iterdir())
    assert main(argv) == 2
    assert re.match(r"error: (-o/)?--[a-z-]+ is empty\n", capsys.readouterr().err)
    assert sorted(p.name for p in workspace.iterdir()) == before


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["show", "example"], False),
        (["-v", "show", "example"], True),
        (["show", "example", "-v"], True),
        (["list", "--verbose"], True),
    ],
)
def test_verbose_is_taken_before_or_after_the_command(argv, verbose):
    from bars_zoo.cli import build_parser

    args, extra = build_parser().parse_known_args(argv)
    assert not extra and args.verbose is verbose
