"""``list_models(pretrained=True)`` / ``bars-zoo list --pretrained`` and ``load`` agree: what is
listed as pretrained loads (offline, where its weights are local), and what loads pretrained is
listed.  Checked over the whole registry and zoo, and over every kind of ``$BARS_ZOO_WEIGHTS_DIR``
folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import bars_zoo
from bars_zoo import registry
from bars_zoo.cli import main
from bars_zoo.errors import BarsError, OfflineError, WeightsNotPublishedError
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load

NAMES = sorted(set(bars_zoo.list_models()) | set(registry.entries()))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(registry.WEIGHTS_DIR_ENV, raising=False)


@pytest.mark.parametrize("name", NAMES)
def test_a_name_is_listed_as_pretrained_exactly_when_load_finds_its_weights(name, offline):
    listed = name in bars_zoo.list_models(pretrained=True)
    source = registry.weights_source(name, registry.get(name))
    try:
        model = load(name)
    except OfflineError:  # weights on the Hub, not cached: load found where they are
        assert listed and source is not None and source.startswith("hf-hub:")
        return
    except WeightsNotPublishedError:
        assert not listed and source is None
        return
    assert listed and source in ("bundled", f"${registry.WEIGHTS_DIR_ENV}")
    assert model.pretrained_cfg.architecture == model.spec.name


# --------------------------------------------------------------------------- $BARS_ZOO_WEIGHTS_DIR


@pytest.fixture(scope="module")
def example_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model folders to copy under a weights folder: ``example`` (the zoo's), ``edited`` (an
    ``example`` one cell deeper than the zoo's), ``mine`` (a network of another name)."""
    root = tmp_path_factory.mktemp("folders")
    spec = bars_zoo.load_genotype("example")
    first = spec.stages[0]
    deeper = tuple(
        item.model_copy(update={"depth": item.depth + 1}) if item is first else item
        for item in spec.layout
    )
    save_pretrained(bars_zoo.build(spec), root / "example")
    save_pretrained(bars_zoo.build(spec.model_copy(update={"layout": deeper})), root / "edited")
    save_pretrained(bars_zoo.build(spec.model_copy(update={"name": "mine"})), root / "mine")
    return root


# (folder to copy, the name it is put under, whether load accepts it there)
WEIGHTS_DIR_CASES = [
    pytest.param("example", "example", True, id="the-zoo-architecture-under-its-name"),
    pytest.param("mine", "mine", True, id="a-name-the-zoo-does-not-have"),
    pytest.param("example", "bars-a", False, id="another-architecture-under-a-zoo-name"),
    pytest.param("edited", "example", False, id="an-edited-genotype-under-the-zoo-name"),
    pytest.param("mine", "broken", False, id="a-config-that-is-not-json"),
]


@pytest.mark.parametrize(("folder", "name", "accepted"), WEIGHTS_DIR_CASES)
def test_weights_dir_folder_is_listed_exactly_when_load_accepts_it(
    folder, name, accepted, example_folders, tmp_path, offline, monkeypatch, capsys, caplog
):
    root = tmp_path / "weights"
    shutil.copytree(example_folders / folder, root / name)
    if name == "broken":
        (root / name / "config.json").write_text("{")
    monkeypatch.setenv(registry.WEIGHTS_DIR_ENV, str(root))
    try:
        model = load(name)
    except BarsError:
        loads = False
    else:
        loads = True
        assert model.spec.name == ("mine" if folder == "mine" else "example")
    assert loads == accepted
    assert (name in bars_zoo.list_models(pretrained=True)) == accepted
    assert (name in registry.pretrained_names()) == accepted
    assert main(["list", "--pretrained", "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (name in listed) == accepted
    if accepted:
        assert listed[name]["weights"] == "$BARS_ZOO_WEIGHTS_DIR"
        assert listed[name]["bops"] == bars_zoo.complexity(model.spec).bops
    else:  # `list` says why the folder is not used
        assert f"{root / name} is not used for {name!r}" in caplog.text


def test_a_name_only_the_weights_dir_knows_builds_without_weights_too(
    example_folders, tmp_path, offline, monkeypatch
):
    root = tmp_path / "weights"
    shutil.copytree(example_folders / "mine", root / "mine")
    monkeypatch.setenv(registry.WEIGHTS_DIR_ENV, str(root))
    assert "mine" in bars_zoo.list_models()  # listed: so load(..., pretrained=False) takes it
    model = load("mine", pretrained=False)
    assert model.spec.name == "mine" and model.pretrained_cfg.top1 is None


def test_bundled_files_without_a_registry_entry_are_not_listed_as_weights(tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    real = registry.resource_dir
    monkeypatch.setattr(registry, "resource_dir", lambda n: root if n == "pretrained" else real(n))
    monkeypatch.delenv(registry.WEIGHTS_DIR_ENV, raising=False)
    (root / "example").mkdir(parents=True)
    (root / "example" / "model.safetensors").write_bytes(b"")  # load needs the entry as well
    assert registry.weights_source("example", registry.get("example")) is None
    assert "example" not in bars_zoo.list_models(pretrained=True)
    with pytest.raises(WeightsNotPublishedError):
        load("example")


def test_every_name_list_lists_has_a_genotype_show_reads(
    example_folders, tmp_path, offline, monkeypatch, capsys
):
    root = tmp_path / "weights"
    shutil.copytree(example_folders / "mine", root / "mine")
    monkeypatch.setenv(registry.WEIGHTS_DIR_ENV, str(root))
    for name in bars_zoo.list_models():
        entry = registry.get(name)
        assert bars_zoo.load_genotype(name).name == (entry.architecture if entry else name)
    assert main(["show", "mine", "--summary"]) == 0
    assert capsys.readouterr().out.startswith("mine ")
