"""Errors name options as the caller spells them: ``--resume`` on the command line, ``resume=True``
from Python (bars_zoo.errors.option), and every option an error names is a real keyword and flag."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import bars_zoo
from bars_zoo.cli import build_parser, main
from bars_zoo.errors import ConfigError, flag, option, render_options

PACKAGE = Path(bars_zoo.__file__).parent
GENOTYPE = """bars 1
name "tiny-hints"
input 3x8x8 classes=10
stem conv3x3 channels=8 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
}
stage s1: channels=8 depth=1 cell=normal
head avgpool linear
"""
# flags an error may name as command-line text: they have no keyword in the Python API
CLI_ONLY = {"--dry-run", "--format", "--help", "--nproc_per_node"}
# (file, flag) left as they are: write_card's hint names both spellings ("--force (force=True)"),
# and push_to_hub, which also calls it, has no force keyword to point to
KNOWN = {("foldercard.py", "--force")}


@pytest.fixture
def finished(tmp_path):
    """A training run folder that looks finished (its files are refused before being read)."""
    (tmp_path / "checkpoint.pt").write_bytes(b"not read")
    (tmp_path / "results.json").write_text("{}")
    geno = tmp_path.parent / "tiny-hints.geno"
    geno.write_text(GENOTYPE)
    return geno, tmp_path


def test_python_train_on_a_finished_run_hints_the_resume_keyword_not_the_flag(finished):
    geno, out = finished
    with pytest.raises(ConfigError) as err:
        bars_zoo.train(geno, dataset="synthetic", epochs=1, out_dir=out)
    assert err.value.hint == (
        "pass resume=True to get its recorded result (nothing is trained again), "
        "or choose another out_dir"
    )
    assert "--" not in str(err.value)


def test_cli_train_on_a_finished_run_still_hints_the_flags(finished, capsys):
    geno, out = finished
    argv = ["train", str(geno), "--dataset", "synthetic", "--epochs", "1", "--out", str(out)]
    assert main([*argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "hint: pass --resume to get its recorded result (nothing is trained again), " in err
    assert "or choose another --out" in err
    assert "resume=True" not in err and "out_dir" not in err


def test_python_search_refuses_a_time_limit_naming_the_keyword(tmp_path):
    with pytest.raises(ConfigError, match=r"^time_limit_s must be positive"):
        bars_zoo.search(
            preset="tiny", dataset="synthetic", out=tmp_path / "x.geno", time_limit_s=-1
        )


def test_cli_search_refuses_a_time_limit_naming_the_flag(tmp_path, capsys):
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--time-limit", "0s"]
    assert main([*argv, "--out", str(tmp_path / "x.geno")]) == 2
    assert "error: --time-limit must be positive" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("marker", "cli", "python"),
    [
        (option("resume", True), "--resume", "resume=True"),
        (option("out_dir"), "--out", "out_dir"),
        (option("out_dir", "runs/x"), "--out runs/x", 'out_dir="runs/x"'),
        (option("batch_size", 64), "--batch-size 64", "batch_size=64"),
        (option("init", "NAME"), "--init NAME", "init=NAME"),
        (option("init", repr("")), "--init ''", "init=''"),
        (option("time_limit_s"), "--time-limit", "time_limit_s"),
    ],
)
def test_an_option_marker_renders_as_a_flag_or_a_keyword(marker, cli, python):
    assert render_options(f"x {marker} y", cli=True) == f"x {cli} y"
    assert render_options(f"x {marker} y", cli=False) == f"x {python} y"


def _error_calls(tree: ast.AST):
    """(text, opt keywords) of every ``...Error(...)`` call: its string pieces joined."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
        if name == "option":
            yield "", [node.args[0].value]  # type: ignore[attr-defined]
        elif name.endswith("Error"):
            parts = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
            yield " ".join(p for p in parts if isinstance(p, str)), []


def _library_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if not (rel.startswith("commands/") or rel in ("cli.py", "__main__.py")):
            yield rel, ast.parse(path.read_text())


def _public_keywords() -> set[str]:
    from bars_zoo.search import SearchConfig
    from bars_zoo.training import TrainConfig

    names = {"train", "evaluate", "load", "save_pretrained", "push_to_hub", "deploy", "preprocess"}
    found = {p for n in names for p in inspect.signature(getattr(bars_zoo, n)).parameters}
    found |= set(inspect.signature(bars_zoo.search.search).parameters)
    return found | set(TrainConfig.model_fields) | set(SearchConfig.model_fields)


def _cli_flags() -> set[str]:
    parser, flags = build_parser(), set()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for sub in action.choices.values():  # type: ignore[union-attr]
            flags |= {s for a in sub._actions for s in a.option_strings}
    return flags


def test_library_errors_name_options_through_opt_not_as_flag_text():
    """A ``--flag`` written in a library error would reach a Python caller as a flag."""
    stray = []
    for rel, tree in _library_files():
        for text, _ in _error_calls(tree):
            for f in re.findall(r"(?<![\w-])--[a-z][\w-]*", text):
                if (
                    f not in CLI_ONLY and (rel, f) not in KNOWN and "`bars-zoo " not in text
                ):  # a command line, quoted
                    stray.append(f"{rel}: {f} in {text[:60]!r}")
    assert not stray, "\n".join(stray)


def test_every_option_an_error_names_is_a_public_keyword_and_a_cli_flag():
    keywords, flags = _public_keywords(), _cli_flags()
    named = {k for _, tree in _library_files() for _, ks in _error_calls(tree) for k in ks}
    assert named  # the scan sees them
    assert named <= keywords, named - keywords
    assert {flag(k) for k in named} <= flags, {flag(k) for k in named} - flags
