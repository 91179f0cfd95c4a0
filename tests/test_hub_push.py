"""``push_to_hub`` against a patched ``HfApi`` that records calls and captures the uploaded folder."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from fakehub import SHA
from hub_http import http_error
from tiny_net import tiny_model

from bars_zoo.card import GENERATED_MARK, parse_front_matter
from bars_zoo.errors import (
    HubError,
    IntegrityError,
    OfflineError,
    RepoNotFoundError,
    RevisionNotFoundError,
)
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load
from bars_zoo.publish import push_to_hub


def test_push_model_uploads_the_folder_in_one_commit_and_returns_its_sha(hub, tmp_path):
    sha = push_to_hub(tiny_model(), "org/tiny", private=True, token="hf_x")
    assert sha == SHA
    assert hub.names() == ["create_repo", "repo_info", "upload_folder"]
    assert hub.private == {"org/tiny": True}
    create = hub.calls[0][1]
    assert create["args"] == ("org/tiny",) and create["private"] and create["exist_ok"]
    assert hub.tokens == ["hf_x"]
    assert sorted(p.name for p in hub.uploaded.iterdir()) == [
        "README.md",
        "config.json",
        "genotype.geno",
        "model.safetensors",
    ]
    config = json.loads((hub.uploaded / "config.json").read_text())
    assert config["pretrained_cfg"]["hub_repo"] == "org/tiny"
    assert 'bars_zoo.load("hf-hub:org/tiny")' in (hub.uploaded / "README.md").read_text()


def test_uploaded_folder_loads_back_with_identical_logits(hub):
    model = tiny_model()
    push_to_hub(model, "org/tiny")
    x = torch.randn(2, 1, 10, 10)
    with torch.no_grad():
        assert torch.equal(load(f"local-dir:{hub.uploaded}")(x), model(x))


def test_push_folder_keeps_weights_bytes_and_refreshes_a_generated_card(hub, tmp_path):
    folder = save_pretrained(tiny_model(), tmp_path / "m")
    push_to_hub(folder, "org/tiny", commit_message="first")
    upload = hub.calls[-1][1]
    assert upload["commit_message"] == "first"
    assert upload["repo_id"] == "org/tiny"
    assert (hub.uploaded / "model.safetensors").read_bytes() == (
        folder / "model.safetensors"
    ).read_bytes()
    card = (hub.uploaded / "README.md").read_text()
    assert GENERATED_MARK in card and "hf-hub:org/tiny" in card
    assert parse_front_matter(card)["library_name"] == "bars-zoo"
    assert "hf-hub:org/tiny" not in (folder / "README.md").read_text()  # source left alone


def test_push_folder_keeps_a_hand_written_card(hub, tmp_path):
    folder = save_pretrained(tiny_model(), tmp_path / "m")
    (folder / "README.md").write_text("# my own card\n")
    push_to_hub(folder, "org/tiny")
    assert (hub.uploaded / "README.md").read_text() == "# my own card\n"


def test_push_to_a_branch_creates_it_first(hub):
    push_to_hub(tiny_model(), "org/tiny", revision="v1")
    assert hub.names() == ["create_repo", "create_branch", "upload_folder"]
    assert hub.calls[1][1]["branch"] == "v1"
    assert hub.calls[2][1]["revision"] == "v1"


def test_push_as_pull_request_does_not_create_a_branch(hub):
    push_to_hub(tiny_model(), "org/tiny", create_pr=True)
    assert hub.names() == ["create_repo", "upload_folder"]
    assert hub.calls[1][1]["create_pr"] is True


def test_push_refuses_a_corrupt_folder_before_talking_to_the_hub(hub, tmp_path):
    folder = save_pretrained(tiny_model(), tmp_path / "m")
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        push_to_hub(folder, "org/tiny")
    assert hub.calls == []


def _http_error(cls: type[Exception], status: int) -> Exception:
    return http_error(cls, status, "https://huggingface.co/api/repos/create")


@pytest.mark.parametrize(
    ("hf_error", "ours", "message"),
    [
        ("RepositoryNotFoundError", RepoNotFoundError, "no Hub repo 'org/tiny'"),
        ("RevisionNotFoundError", RevisionNotFoundError, "has no revision 'v9'"),
        ("HfHubHTTPError", HubError, "the Hub refused a request"),
    ],
)
def test_hub_errors_are_wrapped_with_their_cause(hub, hf_error, ours, message):
    from huggingface_hub import errors

    cause = _http_error(getattr(errors, hf_error), 404)
    hub.fail["upload_folder"] = cause
    with pytest.raises(ours, match=message) as err:
        push_to_hub(tiny_model(), "org/tiny", revision="v9")
    assert err.value.__cause__ is cause


def test_unreachable_hub_is_an_offline_error(hub):
    cause = ConnectionError("no route to host")
    hub.fail["create_repo"] = cause
    with pytest.raises(OfflineError, match="cannot reach the Hugging Face Hub") as err:
        push_to_hub(tiny_model(), "org/tiny")
    assert err.value.__cause__ is cause


def test_push_with_offline_mode_on_says_so_and_uploads_nothing(hub):
    from huggingface_hub.errors import OfflineModeIsEnabled

    hub.fail["create_repo"] = OfflineModeIsEnabled("offline")
    with pytest.raises(OfflineError, match="cannot push org/tiny: offline mode is on") as err:
        push_to_hub(tiny_model(), "org/tiny")
    assert "nothing was uploaded" in str(err.value) and "pull" not in str(err.value)


@pytest.mark.parametrize("repo", ["tiny", "me/bar s", "me/", "org/a..b", "a/b/c"])
def test_push_rejects_a_malformed_repo_id_before_any_request(hub, repo):
    from bars_zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="not a Hub repo id"):
        push_to_hub(tiny_model(), repo)
    assert hub.calls == []


@pytest.mark.parametrize(
    "revision", ["bad rev!", "", "a..b", "-x", "x/", "v1.lock", "a:b", "a@{1}"]
)
def test_push_rejects_a_malformed_revision_before_any_request(hub, revision):
    from bars_zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="is not a revision name"):
        push_to_hub(tiny_model(), "org/tiny", revision=revision)
    assert hub.calls == []


# names `git check-ref-format --branch` refuses, one rule each
GIT_REFUSES = [
    "dev.lock",  # a component ending in .lock
    "a/b.lock",
    "a.lock/b",
    ".hidden",  # a component starting with .
    "a/.b",
    "a/../b",
    "a..b",  # two dots anywhere
    "x/",  # a trailing / or ., a leading / or -
    "x.",
    "/x",
    "-x",
    "a//b",  # an empty component
    "a@{1}",
    "@",
    *(f"a{c}b" for c in " \t\x01\x7f~^:?*[\\"),
]


@pytest.mark.parametrize("revision", GIT_REFUSES)
def test_revision_check_refuses_names_git_refuses(revision):
    from bars_zoo.errors import ConfigError
    from bars_zoo.hubclient import check_revision

    with pytest.raises(ConfigError, match="is not a revision name"):
        check_revision(revision)
    with pytest.raises(ConfigError, match="is not a revision name"):  # offline, before the cache
        load(f"hf-hub:org/tiny@{revision}")


@pytest.mark.parametrize(
    "revision",
    ["main", "v1.0", "refs/pr/1", "feature/x", SHA, "a.lockx", "lock", "v1.lock.d", "x@y", "_.-"],
)
def test_push_accepts_branch_tag_pr_and_sha_revisions(hub, revision):
    assert push_to_hub(tiny_model(), "org/tiny", revision=revision) == SHA


def test_loading_a_hub_name_with_a_malformed_revision_is_refused_offline():
    from bars_zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="is not a revision name"):
        load("hf-hub:org/tiny@bad rev")


def test_a_push_without_private_leaves_the_visibility_to_the_hub(hub, tmp_path):
    # private=False would send visibility "public" and override an organisation's default
    push_to_hub(tiny_model(), "org/tiny")
    create = next(kw for name, kw in hub.calls if name == "create_repo")
    assert create["private"] is None


def test_a_private_push_into_an_existing_public_repo_is_refused_before_the_upload(hub):
    hub.private["org/tiny"] = False
    with pytest.raises(HubError, match="org/tiny already exists and is public") as err:
        push_to_hub(tiny_model(), "org/tiny", private=True, revision="dev")
    assert "update_repo_settings('org/tiny', private=True)" in str(err.value)
    assert "nothing was uploaded" in str(err.value)
    assert hub.names() == ["create_repo", "repo_info"]  # no branch made, nothing uploaded
    assert hub.private == {"org/tiny": False}


def test_a_public_push_into_an_existing_private_repo_warns_that_it_stays_private(hub, caplog):
    hub.private["org/tiny"] = True
    with caplog.at_level("WARNING", logger="bars_zoo.publish"):
        assert push_to_hub(tiny_model(), "org/tiny", private=False) == SHA
    assert "org/tiny already exists and is private: it stays private" in caplog.text


@pytest.mark.parametrize("private", [True, False])
def test_a_push_into_an_existing_repo_of_the_asked_visibility_goes_ahead(hub, caplog, private):
    hub.private["org/tiny"] = private
    with caplog.at_level("WARNING", logger="bars_zoo.publish"):
        assert push_to_hub(tiny_model(), "org/tiny", private=private) == SHA
    assert caplog.text == ""


def test_a_hand_written_card_in_another_encoding_is_uploaded_as_it_is(hub, tmp_path):
    folder = save_pretrained(tiny_model(), tmp_path / "m")
    card = "# Modèle\n".encode("latin-1")
    (folder / "README.md").write_bytes(card)
    push_to_hub(folder, "org/tiny")
    assert (hub.uploaded / "README.md").read_bytes() == card


@pytest.mark.parametrize("source", ["model", "folder"])
def test_a_card_pushed_to_a_branch_loads_that_branch(hub, tmp_path, source):
    model = tiny_model()
    what = model if source == "model" else save_pretrained(model, tmp_path / "m")
    push_to_hub(what, "org/tiny", revision="dev")
    card = (hub.uploaded / "README.md").read_text()
    assert 'bars_zoo.load("hf-hub:org/tiny@dev")' in card
    assert 'load("hf-hub:org/tiny")' not in card


def test_a_push_to_an_open_pull_request_creates_no_branch_of_that_name(hub):
    push_to_hub(tiny_model(), "org/tiny", revision="refs/pr/1")  # the Hub refuses such a branch
    assert hub.names() == ["create_repo", "upload_folder"]
    assert hub.calls[1][1]["revision"] == "refs/pr/1"


def test_a_pull_request_against_a_new_branch_creates_the_branch_first(hub):
    push_to_hub(tiny_model(), "org/tiny", revision="dev", create_pr=True)
    assert hub.names() == ["create_repo", "create_branch", "upload_folder"]
    assert hub.calls[1][1]["branch"] == "dev" and hub.calls[2][1]["create_pr"] is True


def test_a_pull_request_push_says_where_to_merge_it(hub, caplog, monkeypatch):

    import huggingface_hub

    url = "https://huggingface.co/org/tiny/discussions/1"
    real = huggingface_hub.HfApi.upload_folder

    def upload_folder(api: object, *args: object, **kwargs: object) -> object:
        real(api, *args, **kwargs)
        return SimpleNamespace(oid=SHA, pr_url=url)

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    with caplog.at_level("WARNING", logger="bars_zoo.publish"):
        assert push_to_hub(tiny_model(), "org/tiny", create_pr=True) == SHA
    assert f"opened a pull request: {url}" in caplog.text


def test_push_command_uploads_the_model_folder_of_a_finished_training_run(hub, tmp_path, capsys):
    # it refused runs/x with "give its model folder"; eval and deploy take the run folder
    from bars_zoo.cli import main

    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": "bars-zoo-train/1"}, run / "checkpoint.pt")
    folder = save_pretrained(tiny_model(), run / "model")
    assert main(["push", str(run), "org/tiny"]) == 0
    assert capsys.readouterr().out.strip() == SHA
    assert (hub.uploaded / "model.safetensors").read_bytes() == (
        folder / "model.safetensors"
    ).read_bytes()


def test_push_command_refuses_an_unfinished_training_run_before_talking_to_the_hub(
    hub, tmp_path, capsys
):
    from bars_zoo.cli import main

    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": "bars-zoo-train/1"}, run / "checkpoint.pt")
    assert main(["push", str(run), "org/tiny"]) == 2
    err = capsys.readouterr().err
    assert "has not finished" in err and "finish the training first" in err and "--resume" in err
    assert hub.calls == []
