"""``push --dry-run``: what a push would upload, without any network call; and the pin line."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakehub import SHA
from tiny_net import tiny_model

from bars_zoo.cli import main
from bars_zoo.errors import UnknownModelError
from bars_zoo.folder import save_pretrained
from bars_zoo.publish import push_to_hub
from bars_zoo.registry import read_config


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return save_pretrained(tiny_model(), tmp_path / "m")


def test_dry_run_lists_files_config_and_card_without_a_network_call(hub, folder, monkeypatch):
    import huggingface_hub

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("HfApi was created")

    monkeypatch.setattr(huggingface_hub.HfApi, "__init__", refuse)
    plan = push_to_hub(folder, "org/tiny", dry_run=True)
    assert plan.startswith("dry run: nothing uploaded; a push would commit to org/tiny:")
    size = (folder / "model.safetensors").stat().st_size
    assert f"{'model.safetensors':<18} {size:>12,} bytes" in plan
    assert '"hub_repo": "org/tiny"' in plan and "--- README.md ---" in plan
    assert hub.calls == []


def test_push_command_dry_run_prints_the_plan(hub, folder, capsys):
    assert main(["push", str(folder), "org/tiny", "--dry-run"]) == 0
    assert "dry run: nothing uploaded" in capsys.readouterr().out
    assert hub.calls == []


def test_pin_line_of_a_model_outside_the_registry_says_how_to_load_it_pinned(hub, folder, capsys):
    assert main(["push", str(folder), "org/tiny"]) == 0
    err = capsys.readouterr().err
    assert f'bars_zoo.load("hf-hub:org/tiny@{SHA}")' in err
    assert "registry.json" not in err and "pin it" not in err


def test_pin_line_of_a_zoo_model_gives_all_three_registry_fields(hub, tmp_path, capsys):
    import bars_zoo

    folder = save_pretrained(bars_zoo.load("bars-fmnist-s"), tmp_path / "s")
    assert main(["push", str(folder), "org/s"]) == 0
    err = capsys.readouterr().err
    sha256 = read_config(folder).weights_sha256
    assert f'"hub_repo": "org/s", "revision": "{SHA}", "sha256": "{sha256}"' in err


def test_push_of_a_missing_folder_does_not_hint_local_dir(hub, tmp_path):
    with pytest.raises(UnknownModelError) as err:
        push_to_hub(tmp_path / "nope", "org/tiny")
    assert "local-dir:" not in str(err.value)
