"""A model argument that looks like a path is a folder that is missing, not an unknown zoo name;
an unfinished run's evaluation says which epoch's weights it measured; hints from Python name
keywords."""

from __future__ import annotations

import pytest

import bars_zoo
from bars_zoo.cli import main
from bars_zoo.errors import UnknownModelError
from bars_zoo.modelref import model_source


@pytest.mark.parametrize("command", [["eval"], ["deploy", "-o", "d"]])
def test_a_typoed_folder_is_no_such_folder_with_did_you_mean(
    tmp_path, monkeypatch, capsys, command
):
    (tmp_path / "runs" / "my-net").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert main([command[0], "runs/my-nett", *command[1:]]) == 2
    err = capsys.readouterr().err
    assert "no such folder runs/my-nett" in err and "did you mean 'runs/my-net'?" in err
    assert "unknown model" not in err


@pytest.mark.parametrize(
    ("ref", "hint"),
    [
        ("timm/bars-b", "did you mean hf-hub:timm/bars-b? (a Hub repo is written hf-hub:ORG/REPO"),
        ("me/net@v1", "did you mean hf-hub:me/net@v1?"),
        ("bars-fmnist-m/", "did you mean 'bars-fmnist-m' (a zoo name, no '/')?"),
        ("bars-fmnist-mm/", "did you mean 'bars-fmnist-m'"),
    ],
)
def test_a_hub_id_without_its_prefix_or_a_zoo_name_with_a_slash_hints_the_name_meant(
    tmp_path, monkeypatch, capsys, ref, hint
):
    # they said "no such folder ...; timm does not exist either" (or nothing of the zoo name)
    monkeypatch.chdir(tmp_path)
    assert main(["eval", ref]) == 2
    err = capsys.readouterr().err
    assert f"no such folder {ref}" in err and hint in err


def test_a_missing_path_under_an_existing_folder_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownModelError) as err:
        model_source("runs/x")
    assert "hf-hub" not in (err.value.hint or "")


def test_a_dot_path_that_is_missing_is_no_such_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownModelError, match=r"no such folder \./runs/x"):
        model_source("./runs/x")


def test_an_unfinished_run_hints_resume_as_a_keyword_from_python(tmp_path):
    run = tmp_path / "int"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not read")
    with pytest.raises(UnknownModelError) as err:
        bars_zoo.load(f"local-dir:{run}")
    assert "resume=True" in str(err.value) and "--resume" not in str(err.value)
    with pytest.raises(UnknownModelError) as err2:
        bars_zoo.push_to_hub(run, "me/x")
    assert "resume=True" in str(err2.value) and "--resume" not in str(err2.value)


def test_a_finished_run_without_its_checkpoint_is_a_finished_run_for_every_command(
    tmp_path, capsys
):
    # eval took runs/x/model once model/config.json was there; card and push also wanted
    # checkpoint.pt, and worked on runs/x itself after it was deleted to save space
    from tiny_net import tiny_model

    from bars_zoo.folder import save_pretrained
    from bars_zoo.trainfolder import finished_model_folder

    run = tmp_path / "x"
    save_pretrained(tiny_model(), run / "model")
    assert not (run / "checkpoint.pt").exists()
    assert model_source(run) == f"local-dir:{run / 'model'}"
    assert finished_model_folder(run) == run / "model"
    assert main(["card", str(run)]) == 0
    assert (run / "model" / "README.md").is_file() and not (run / "README.md").exists()
