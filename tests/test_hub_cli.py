"""``bars-zoo list | pull | push``: thin commands over the zoo and the hub."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from tiny_net import as_trained

import bars_zoo
from bars_zoo import registry, weightsdir
from bars_zoo.cli import main
from bars_zoo.folder import save_pretrained

COMMIT = "a1" * 20


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = as_trained(bars_zoo.build(bars_zoo.load_genotype("example")))
    return save_pretrained(model, tmp_path / "ex")


@pytest.fixture
def pretrained_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "pretrained"
    real = registry.resource_dir
    monkeypatch.setattr(registry, "resource_dir", lambda n: root if n == "pretrained" else real(n))
    monkeypatch.delenv(weightsdir.WEIGHTS_DIR_ENV, raising=False)
    return root


def test_list_prints_every_zoo_model_with_its_cost(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in bars_zoo.list_models():
        assert name in out
    assert "BOPs" in out.splitlines()[0]


def test_list_prints_the_numbers_show_prints(capsys):
    assert main(["list", "bars-fmnist-s"]) == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert main(["show", "bars-fmnist-s", "--summary"]) == 0
    words = capsys.readouterr().out.split()
    for label, value in (("BOPs", row[2]), ("FLOPs", row[3]), ("params", row[4])):
        assert words[words.index(label) + 1] == value, label
    assert " ".join(row[5:7]) in " ".join(words)  # the packed size, with its unit


def test_list_json_filters_by_pattern(capsys):
    assert main(["list", "exam*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["example"]
    from bars_zoo.complexity import complexity

    c = complexity("example")
    assert (rows[0]["bops"], rows[0]["params"], rows[0]["weights"]) == (c.bops, c.params, None)


def test_list_pretrained_shows_registry_models_only(pretrained_dir, capsys):
    assert main(["list", "--pretrained"]) == 0
    assert "no pretrained models match" in capsys.readouterr().out
    cfg = registry.default_cfg(bars_zoo.load_genotype("example")).model_copy(
        update={"hub_repo": "org/example", "revision": COMMIT, "sha256": "e" * 64, "top1": 90.0}
    )
    registry.add_entry("example", cfg)
    assert main(["list", "--pretrained", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["weights"], r["top1"]) for r in rows] == [
        ("example", "hf-hub:org/example", 90.0)
    ]


def test_pull_prints_the_verified_folder(folder, capsys):
    assert main(["pull", f"local-dir:{folder}"]) == 0
    assert capsys.readouterr().out.strip() == str(folder)


def test_pull_of_an_unpublished_model_fails_with_the_recipe(pretrained_dir, capsys):
    assert main(["pull", "example"]) == 1
    err = capsys.readouterr().err
    assert "no pretrained weights are published for 'example'" in err
    assert "bars-zoo train example" in err


def test_pull_offline_and_uncached_is_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["pull", "hf-hub:org/none", "--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not in the Hugging Face cache" in err
    assert "then run `bars-zoo pull hf-hub:org/none`" in err  # the command to run, in full


def test_push_prints_the_commit_and_how_to_pin_it(folder, monkeypatch, capsys):
    import huggingface_hub

    seen: dict[str, Any] = {}

    def create_repo(api: Any, repo_id: str, **kw: Any) -> None:
        seen["private"] = kw["private"]

    def upload_folder(api: Any, **kw: Any) -> SimpleNamespace:
        seen["files"] = sorted(p.name for p in Path(kw["folder_path"]).iterdir())
        seen["create_pr"] = kw["create_pr"]
        return SimpleNamespace(oid=COMMIT)

    def repo_info(api: Any, repo_id: str, **kw: Any) -> SimpleNamespace:
        return SimpleNamespace(id=repo_id, private=seen["private"])

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", repo_info)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    assert main(["push", str(folder), "org/example", "--private", "--create-pr"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == COMMIT
    assert f'"revision": "{COMMIT}"' in err
    assert seen == {
        "private": True,
        "create_pr": True,
        "files": ["README.md", "config.json", "genotype.geno", "model.safetensors"],
    }


def _training_folder(tmp_path: Path, finished: bool) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": "bars-zoo-train/1"}, run / "checkpoint.pt")
    torch.save({"format": "bars-zoo-train/1"}, run / "best.pt")
    if finished:
        torch.manual_seed(0)
        save_pretrained(bars_zoo.build(bars_zoo.load_genotype("example")), run / "model")
    return run


def test_deploy_accepts_a_finished_training_folder_like_eval(tmp_path, capsys):
    from bars_zoo.modelref import model_source

    run = _training_folder(tmp_path, finished=True)
    assert model_source(run) == f"local-dir:{run / 'model'}"  # what eval loads
    assert main(["deploy", str(run), "-o", str(tmp_path / "out"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["check_bit_exact"] is True
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_deploy_of_an_unfinished_training_folder_says_to_finish_the_run(tmp_path, capsys):
    run = _training_folder(tmp_path, finished=False)
    assert main(["deploy", str(run), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "training output folder" in err and "--resume" in err
    assert not (tmp_path / "out").exists()


def test_a_huggingface_hub_message_is_printed_once_by_the_cli(tmp_path):
    # huggingface_hub logs through its own stderr handler; the CLI's root handler must not repeat it
    import subprocess
    import sys

    code = (
        "import logging, sys\n"
        "from bars_zoo.cli import main\n"
        "main(['list', 'example'])\n"
        "import huggingface_hub.file_download\n"  # configures its logging
        "logging.getLogger('huggingface_hub.utils').warning('Retrying in 1s [Retry 1/5].')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Retrying in 1s") == 1, done.stderr
