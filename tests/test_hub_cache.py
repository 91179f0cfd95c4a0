"""Loading from a pre-filled Hugging Face cache, offline: ``hf-hub:`` names and pinned registry
entries.  The cache is laid out as huggingface_hub lays it out (``models--org--name/refs/main``,
``snapshots/<commit>/`` symlinks into ``blobs/``); no test touches the network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from hub_http import http_error
from tiny_net import TINY, tiny_model

import bars_zoo
from bars_zoo import registry
from bars_zoo.cli import main
from bars_zoo.errors import ConfigError, IntegrityError, OfflineError
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load, pull

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fill_cache(cache: Path, repo: str, folder: Path, commit: str, ref: str = "main") -> Path:
    """Put ``folder``'s files into ``cache`` the way ``snapshot_download`` stores them."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    (root / "blobs").mkdir(exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    for f in folder.iterdir():
        data = f.read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snap / f.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    return snap


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to ask the Hub fails the test."""
    import huggingface_hub

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was used")

    for name in ("repo_info", "list_repo_tree", "model_info"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    folder = save_pretrained(tiny_model(), tmp_path / "src")
    cache = tmp_path / "hub-cache"
    fill_cache(cache, "org/tiny", folder, COMMIT)
    return cache


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(2, 1, 10, 10, generator=torch.Generator().manual_seed(3))


def test_hub_cache_is_read_with_hf_hub_offline(offline, cache, x):
    model = load("hf-hub:org/tiny", cache_dir=cache)
    with torch.no_grad():
        assert torch.equal(model(x), tiny_model()(x))
    assert not model.training


def test_pinned_revision_is_read_with_local_files_only(cache, x):
    model = load(f"hf-hub:org/tiny@{COMMIT}", cache_dir=cache, local_files_only=True)
    with torch.no_grad():
        assert torch.equal(model(x), tiny_model()(x))


def test_pinned_commit_in_the_cache_needs_no_network(no_network, cache):
    model = load("hf-hub:org/tiny", revision=COMMIT, cache_dir=cache, local_files_only=False)
    assert model.spec.name == "tiny"


@pytest.fixture
def hub_entry(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> registry.PretrainedCfg:
    """A registry (in a temporary package folder) whose entry ``tiny-hub`` is pinned to the
    cached ``org/tiny`` at ``COMMIT``, with a recorded top-1 of 12.5; returns the entry."""
    root = tmp_path / "pretrained"
    real = registry.resource_dir
    monkeypatch.setattr(registry, "resource_dir", lambda n: root if n == "pretrained" else real(n))
    snap_cfg = registry.read_config(cache / "models--org--tiny" / "snapshots" / COMMIT)
    cfg = snap_cfg.pretrained_cfg.model_copy(
        update={"hub_repo": "org/tiny", "revision": COMMIT, "top1": 12.5}
    )
    registry.add_entry("tiny-hub", cfg)
    return cfg


def test_registry_entry_pinned_on_the_hub_loads_from_the_cache(no_network, cache, hub_entry, x):
    cfg = hub_entry
    assert registry.pretrained_names() == ["tiny-hub"]
    model = load("tiny-hub", cache_dir=cache)
    assert model.pretrained_cfg.top1 == 12.5
    with torch.no_grad():
        assert torch.equal(model(x), tiny_model()(x))
    registry.add_entry("tiny-hub", cfg.model_copy(update={"sha256": "b" * 64}))
    with pytest.raises(IntegrityError, match=r"the registry pins b{64}") as err:
        load("tiny-hub", cache_dir=cache)
    assert f"delete {cache / 'models--org--tiny'}" in (err.value.hint or "")  # which folder


def test_a_hub_pinned_entry_without_a_zoo_genotype_builds_untrained_from_the_cache(
    no_network, cache, hub_entry
):
    # tiny-hub's architecture, "tiny", has no genotypes/tiny.geno: the repo's genotype is used
    model = load("tiny-hub", pretrained=False, cache_dir=cache)
    assert model.spec == tiny_model().spec and model.pretrained_cfg.top1 is None


def test_a_hub_pinned_entry_without_a_zoo_genotype_is_listed_as_load_finds_it(
    offline, cache, hub_entry, monkeypatch, capsys
):
    import json

    from huggingface_hub import constants

    assert "tiny-hub" in bars_zoo.list_models()  # it loads, so it is listed ...
    assert bars_zoo.list_models("tiny-*", pretrained=True) == ["tiny-hub"]  # ... as pretrained
    assert main(["list", "tiny-*", "--pretrained", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["weights"], row["input"], row["classes"], row["top1"]) == (
        "hf-hub:org/tiny",
        "1x10x10",
        4,
        12.5,
    )
    assert row["bops"] is None  # its genotype is in the repo, and this cache is not the default
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # after `bars-zoo pull`
    assert main(["list", "tiny-*", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["bops"] == bars_zoo.complexity(tiny_model().spec).bops
    assert load("tiny-hub", cache_dir=cache).spec.name == "tiny"  # and it loads, offline


def test_the_genotype_of_a_hub_only_entry_is_read_from_the_cache_once_pulled(
    offline, cache, hub_entry, monkeypatch, capsys
):
    from huggingface_hub import constants

    with pytest.raises(OfflineError, match="run `bars-zoo pull tiny-hub`"):
        bars_zoo.load_genotype("tiny-hub")
    assert main(["show", "tiny-hub"]) == 1  # the work failed: the Hub is needed
    assert "is in its Hub repo org/tiny" in capsys.readouterr().err
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert bars_zoo.load_genotype("tiny-hub") == tiny_model().spec
    assert main(["show", "tiny-hub", "--summary"]) == 0


def test_another_revision_of_a_registry_model_carries_its_own_config(
    offline, cache, hub_entry, tmp_path
):
    other = save_pretrained(tiny_model(seed=7), tmp_path / "v2", pretrained_cfg={"top1": 3.0})
    fill_cache(cache, "org/tiny", other, "f" * 40, ref="v2")
    model = load("tiny-hub", revision="v2", cache_dir=cache)
    assert model.pretrained_cfg.top1 == 3.0  # the v2 folder's, not the registry's 12.5
    assert model.pretrained_cfg.revision != COMMIT
    assert load("tiny-hub", cache_dir=cache).pretrained_cfg.top1 == 12.5


def test_a_malformed_revision_of_a_registry_model_is_refused_before_the_hub(cache, hub_entry):
    with pytest.raises(ConfigError, match="'bad rev!' is not a revision name"):
        load("tiny-hub", revision="bad rev!", cache_dir=cache, local_files_only=True)


def test_offline_and_not_cached_is_an_offline_error_with_cause(cache):
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises(OfflineError, match="not in the Hugging Face cache") as err:
        load("hf-hub:org/missing", cache_dir=cache, local_files_only=True)
    assert isinstance(err.value.__cause__, LocalEntryNotFoundError)
    assert "local-dir:PATH" in str(err.value)


def test_not_cached_and_unreachable_says_the_hub_could_not_be_reached(cache, monkeypatch):
    """HF_HUB_OFFLINE unset, no network: huggingface_hub reports a cache miss; the message must
    not tell the user to unset a variable that is not set."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    def no_network(*args: object, **kwargs: object) -> str:
        raise LocalEntryNotFoundError("cannot find the requested files in the cache")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(OfflineError, match="the Hub could not be reached") as err:
        load("hf-hub:org/missing", cache_dir=cache)
    assert "HF_HUB_OFFLINE" not in str(err.value)


def test_an_uncached_commit_with_the_hub_unreachable_fails_at_once(tmp_path, monkeypatch):
    """A download at a commit lists the repo's files with retries (about 25 s of back-off when
    the Hub cannot be reached); one request to the Hub comes first and ends it."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    asked = []

    def repo_info(self: object, repo: str, **kwargs: object) -> None:
        asked.append((repo, kwargs.get("revision")))
        raise ConnectionError("Name or service not known")

    def snapshot_download(repo: str, *, local_files_only: bool, **kwargs: object) -> str:
        if local_files_only:
            raise LocalEntryNotFoundError("cannot find the requested files in the cache")
        raise AssertionError("the download was attempted (and would back off for 25 s)")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", repo_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(OfflineError, match="not in the Hugging Face cache, and the Hub could not"):
        load(f"hf-hub:org/tiny@{COMMIT}", cache_dir=tmp_path)
    assert asked == [("org/tiny", COMMIT)]


@pytest.mark.parametrize("missing", ["RevisionNotFoundError", "RepositoryNotFoundError"])
def test_an_uncached_commit_the_hub_does_not_have_is_named_as_such(missing, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub import errors as he

    from bars_zoo.errors import RepoNotFoundError, RevisionNotFoundError

    def repo_info(self: object, repo: str, **kwargs: object) -> None:
        raise http_error(getattr(he, missing), 404)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", repo_info)
    expected = RevisionNotFoundError if missing.startswith("Revision") else RepoNotFoundError
    with pytest.raises(expected):
        load(f"hf-hub:org/tiny@{COMMIT}", cache_dir=tmp_path)


def test_an_uncached_commit_on_a_reachable_hub_is_downloaded(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    folder = save_pretrained(tiny_model(), tmp_path / "src")

    def snapshot_download(repo: str, *, local_files_only: bool, **kwargs: object) -> str:
        if local_files_only:
            from huggingface_hub.errors import LocalEntryNotFoundError

            raise LocalEntryNotFoundError("cannot find the requested files in the cache")
        assert kwargs["revision"] == COMMIT
        return str(folder)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", lambda self, repo, **kw: None)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert load(f"hf-hub:org/tiny@{COMMIT}", cache_dir=tmp_path).spec.name == "tiny"


def test_a_partial_snapshot_returned_while_the_hub_is_down_is_called_incomplete(
    tmp_path, monkeypatch
):
    # load(..., pretrained=False) caches config.json and genotype.geno only; asked for the
    # weights with the Hub down, huggingface_hub hands back that partial snapshot
    import huggingface_hub
    from huggingface_hub import constants

    from bars_zoo.errors import HubError

    folder = save_pretrained(tiny_model(), tmp_path / "src")
    (folder / "model.safetensors").unlink()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: str(folder))
    with pytest.raises(HubError, match=r"has no model\.safetensors: the Hub could not be reached"):
        load("hf-hub:org/tiny", cache_dir=tmp_path)


def test_local_files_only_is_named_as_the_reason_not_the_network(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(OfflineError, match="local_files_only=True forbids asking the Hub") as err:
        load("hf-hub:org/missing", local_files_only=True, cache_dir=tmp_path)
    assert "could not be reached" not in str(err.value)


def test_a_hub_name_ending_in_an_empty_revision_is_a_usage_error(tmp_path):
    with pytest.raises(ConfigError, match="ends in '@' without a revision"):
        load("hf-hub:org/tiny@", cache_dir=tmp_path)


@pytest.mark.parametrize("name", ["hf-hub:org/re po", "hf-hub:org/", "hf-hub:-org/x"])
def test_a_malformed_hub_name_is_a_usage_error(name, capsys):
    with pytest.raises(ConfigError, match="is not a Hub model name"):
        load(name)
    assert main(["pull", name]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_hf_hub_offline_env_forbids_download(offline, tmp_path):
    with pytest.raises(OfflineError, match="org/missing"):
        load("hf-hub:org/missing", cache_dir=tmp_path)


def test_uncached_branch_offline_is_an_offline_error(offline, cache):
    with pytest.raises(OfflineError, match="org/tiny@dev"):
        load("hf-hub:org/tiny@dev", cache_dir=cache)


def test_corrupted_cached_blob_is_a_sha256_mismatch(offline, cache):
    snap = cache / "models--org--tiny" / "snapshots" / COMMIT
    blob = (snap / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch") as err:
        load("hf-hub:org/tiny", cache_dir=cache)
    assert "delete" in str(err.value)


def test_incomplete_snapshot_offline_is_an_offline_error(offline, cache):
    (cache / "models--org--tiny" / "snapshots" / COMMIT / "model.safetensors").unlink()
    with pytest.raises(OfflineError, match="snapshot of org/tiny is incomplete, and offline mode"):
        load("hf-hub:org/tiny", cache_dir=cache)


def test_pull_returns_the_verified_snapshot_folder(offline, cache):
    folder = pull("hf-hub:org/tiny", cache_dir=cache)
    assert folder == cache / "models--org--tiny" / "snapshots" / COMMIT


def test_pretrained_false_reads_the_genotype_from_the_cache(offline, cache):
    model = load("hf-hub:org/tiny", pretrained=False, cache_dir=cache)
    assert model.spec == bars_zoo.parse(TINY)


@pytest.mark.parametrize(
    ("name", "revision", "message"),
    [
        ("hf-hub:tiny", None, "not a Hub model name"),
        ("hf-hub:org/tiny@main", "dev", "names revision 'main' but revision='dev'"),
    ],
)
def test_malformed_hub_names_are_config_errors(name, revision, message):
    with pytest.raises(ConfigError, match=message):
        load(name, revision=revision, local_files_only=True)
