"""``list_models(pretrained=True)`` / ``bars-zoo list --pretrained`` and ``load`` agree: what is
listed as pretrained loads (offline, where its weights are local), and what loads pretrained is
listed.  Checked over the whole registry and zoo, and over every kind of ``$BARS_ZOO_WEIGHTS_DIR``
folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_net import as_trained

import bars_zoo
from bars_zoo import registry, weightsdir
from bars_zoo.cli import main
from bars_zoo.errors import (
    BarsError,
    IntegrityError,
    OfflineError,
    UnknownModelError,
    WeightsNotPublishedError,
)
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load

NAMES = sorted(set(bars_zoo.list_models()) | set(registry.entries()))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(weightsdir.WEIGHTS_DIR_ENV, raising=False)


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
    assert listed and source in ("bundled", f"${weightsdir.WEIGHTS_DIR_ENV}")
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
    save_pretrained(as_trained(bars_zoo.build(spec)), root / "example")
    edited = spec.model_copy(update={"layout": deeper})
    save_pretrained(as_trained(bars_zoo.build(edited)), root / "edited")
    mine = spec.model_copy(update={"name": "mine"})
    save_pretrained(as_trained(bars_zoo.build(mine)), root / "mine")
    return root


def _typo(folder: Path) -> None:
    geno = folder / "genotype.geno"
    geno.write_text(geno.read_text().replace("shortcut=identity", "shortcut=identty", 1))


def _wider(folder: Path) -> None:
    geno = folder / "genotype.geno"
    geno.write_text(geno.read_text().replace("channels=48", "channels=64", 1))


def _pickle(folder: Path) -> None:
    (folder / "model.safetensors").rename(folder / "model.bin")


#: what is done to a copied folder before the test
DAMAGE = {
    "config-not-json": lambda f: (f / "config.json").write_text("{"),
    "genotype-typo": _typo,
    "genotype-missing": lambda f: (f / "genotype.geno").unlink(),
    "genotype-edited": _wider,
    "weights-missing": lambda f: (f / "model.safetensors").unlink(),
    "weights-pickled": _pickle,
}

# (folder to copy, the name it is put under, damage, why load refuses it there, or None: it loads)
WEIGHTS_DIR_CASES = [
    pytest.param("example", "example", None, None, id="the-zoo-architecture-under-its-name"),
    pytest.param("mine", "mine", None, None, id="a-name-the-zoo-does-not-have"),
    pytest.param("example", "bars-a", None, "rename the folder", id="another-arch-under-zoo-name"),
    pytest.param(
        "edited", "example", None, "not the zoo's", id="an-edited-genotype-under-zoo-name"
    ),
    pytest.param("mine", "broken", "config-not-json", "not valid JSON", id="config-not-json"),
    pytest.param("mine", "mine", "genotype-typo", "unknown shortcut op", id="a-genotype-typo"),
    pytest.param("mine", "mine", "genotype-missing", "genotype.geno", id="no-genotype"),
    pytest.param(
        "mine", "mine", "genotype-edited", "does not match config.json", id="genotype-edit"
    ),
    pytest.param("mine", "mine", "weights-missing", "no model.safetensors", id="no-weights"),
    pytest.param("mine", "mine", "weights-pickled", "pickle-based checkpoint", id="a-pickle"),
    pytest.param("mine", "local-dir:y", None, "cannot be loaded by its name", id="local-dir-name"),
    pytest.param("mine", "hf-hub:x", None, "cannot be loaded by its name", id="hf-hub-name"),
]


@pytest.mark.parametrize(("folder", "name", "damage", "refusal"), WEIGHTS_DIR_CASES)
def test_weights_dir_folder_is_listed_exactly_when_load_accepts_it(
    folder, name, damage, refusal, example_folders, tmp_path, offline, monkeypatch, capsys, caplog
):
    root = tmp_path / "weights"
    shutil.copytree(example_folders / folder, root / name)
    shutil.copytree(example_folders / "mine", root / "good")  # listed whatever happens beside it
    if damage is not None:
        DAMAGE[damage](root / name)
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    try:
        model = load(name)
    except BarsError as e:
        loads, why = False, str(e)
    else:
        loads, why = True, ""
        assert model.spec.name == ("mine" if folder == "mine" else "example")
    assert loads == (refusal is None)
    if refusal is not None and not name.startswith(registry.SOURCE_PREFIXES):  # not "unknown"
        assert refusal in why and "unknown model" not in why
        if name not in NAMES:  # the architecture alone: the same refusal (it is not listed)
            with pytest.raises(BarsError, match=refusal):
                load(name, pretrained=False)
    caplog.clear()
    pretrained = bars_zoo.list_models(pretrained=True)
    notes = [r.getMessage() for r in caplog.records if "is not used for" in r.getMessage()]
    assert (name in pretrained) == loads and "good" in pretrained
    assert (name in bars_zoo.list_models()) == (loads or name in NAMES)
    assert (name in registry.pretrained_names()) == loads
    for args in (["list", "--pretrained", "--json"], ["list", "--json"]):
        caplog.clear()
        assert main(args) == 0
        listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
        assert (listed.get(name, {}).get("weights") == "$BARS_ZOO_WEIGHTS_DIR") == loads
        assert listed["good"]["weights"] == "$BARS_ZOO_WEIGHTS_DIR"
        if loads:
            assert listed[name]["bops"] == bars_zoo.complexity(model.spec).bops
    if refusal is None:
        assert not notes
    else:  # list_models (and so `bars-zoo list`) says why the folder is not used, in one line
        assert len(notes) == 1 and "\n" not in notes[0]
        assert notes[0].startswith(f"{root / name} is not used for {name!r}: ")
        assert refusal in notes[0]
        assert f"{root / name} is not used for {name!r}" in caplog.text


def test_the_source_prefixes_listing_refuses_as_names_are_those_load_reads():
    from bars_zoo import hub, hubclient

    assert set(registry.SOURCE_PREFIXES) == {hub.LOCAL_PREFIX, hubclient.HUB_PREFIX}


def test_a_folder_named_like_a_source_loads_as_the_local_dir_its_note_gives(
    example_folders, tmp_path, offline, monkeypatch
):
    root = tmp_path / "weights"
    shutil.copytree(example_folders / "mine", root / "local-dir:y")
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    with pytest.raises(BarsError, match="no model folder at y"):
        load("local-dir:y")  # a source: never this folder
    assert load(f"local-dir:{root / 'local-dir:y'}").spec.name == "mine"


def test_a_zoo_named_folder_of_another_architecture_hint_says_rename_not_its_own_name(
    example_folders, tmp_path, offline, monkeypatch
):
    root = tmp_path / "weights"
    shutil.copytree(example_folders / "mine", root / "bars-a")
    shutil.copytree(example_folders / "example", root / "bars-b")
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    with pytest.raises(IntegrityError) as mine:
        load("bars-a")
    assert "rename the folder" in mine.value.hint and "'mine'" in mine.value.hint
    assert f"local-dir:{root / 'bars-a'}" in mine.value.hint
    assert "by its own name" not in str(mine.value)
    with pytest.raises(IntegrityError) as zoo:  # its own name is a zoo name: another rename
        load("bars-b")
    assert "rename the folder" in zoo.value.hint and "'my-example'" in zoo.value.hint
    shutil.move(root / "bars-a", root / "mine")  # the rename the hint asks for loads
    assert load("mine").spec.name == "mine"


@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_a_weights_dir_that_names_no_folder_is_said_by_load_and_list(
    where, tmp_path, monkeypatch, caplog, capsys
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "a-file").write_text("")
    value = {"missing": str(tmp_path / "weigths"), "a-file": str(tmp_path / "a-file")}
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, value[where])
    why = {"missing": "typo in the path", "a-file": "a file"}[where]
    with pytest.raises(UnknownModelError, match="unknown model 'my-m'") as e:
        load("my-m")
    assert why in e.value.hint and weightsdir.WEIGHTS_DIR_ENV in e.value.hint
    caplog.clear()
    assert main(["list"]) == 0
    assert "bars-fmnist-m" in capsys.readouterr().out  # the table, and the note once
    assert [r.getMessage() for r in caplog.records].count(
        f"{weightsdir.weights_root_problem()}: no model folders are read from it"
    ) == 1
    assert why in caplog.text


def test_a_weights_dir_that_is_unset_empty_or_a_folder_is_no_problem(tmp_path, monkeypatch):
    monkeypatch.delenv(weightsdir.WEIGHTS_DIR_ENV, raising=False)
    assert weightsdir.weights_root_problem() is None
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, "")  # `export VAR=` is how a shell unsets it
    assert weightsdir.weights_root_problem() is None
    assert weightsdir.weights_dir_names() == []
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(tmp_path))
    assert weightsdir.weights_root_problem() is None


def test_list_prints_its_table_and_one_note_per_broken_weights_folder_on_stderr(
    example_folders, tmp_path
):
    root = tmp_path / "weights"
    for name in ("good", "bad", "hf-hub:x"):
        shutil.copytree(example_folders / "mine", root / name)
    _typo(root / "bad")
    env = {**os.environ, weightsdir.WEIGHTS_DIR_ENV: str(root), "HF_HUB_OFFLINE": "1"}
    for args in ([], ["--pretrained"], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "bars_zoo", "list", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "good" in done.stdout and "bars-fmnist-m" in done.stdout
        assert "bad" not in done.stdout and "hf-hub:x" not in done.stdout
        lines = done.stderr.splitlines()
        assert len(lines) == 2, done.stderr
        assert any("'bad': " in line and "unknown shortcut op 'identty'" in line for line in lines)
        assert any("'hf-hub:x': " in line and "cannot be loaded" in line for line in lines)


def test_a_name_only_the_weights_dir_knows_builds_without_weights_too(
    example_folders, tmp_path, offline, monkeypatch
):
    root = tmp_path / "weights"
    shutil.copytree(example_folders / "mine", root / "mine")
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    assert "mine" in bars_zoo.list_models()  # listed: so load(..., pretrained=False) takes it
    model = load("mine", pretrained=False)
    assert model.spec.name == "mine" and model.pretrained_cfg.top1 is None


def test_bundled_files_without_a_registry_entry_are_not_listed_as_weights(tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    real = registry.resource_dir
    monkeypatch.setattr(registry, "resource_dir", lambda n: root if n == "pretrained" else real(n))
    monkeypatch.delenv(weightsdir.WEIGHTS_DIR_ENV, raising=False)
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
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    for name in bars_zoo.list_models():
        entry = registry.get(name)
        assert bars_zoo.load_genotype(name).name == (entry.architecture if entry else name)
    assert main(["show", "mine", "--summary"]) == 0
    assert capsys.readouterr().out.startswith("mine ")


def test_list_marks_a_weights_folder_that_records_no_training_as_untrained(
    example_folders, tmp_path, offline, monkeypatch, capsys
):
    root = tmp_path / "weights"
    spec = bars_zoo.load_genotype("example").model_copy(update={"name": "mine"})
    save_pretrained(bars_zoo.build(spec), root / "fresh", packed=False)  # what build -o writes
    done = as_trained(bars_zoo.build(spec))
    save_pretrained(done, root / "done", packed=False, pretrained_cfg={"top1": 50.0})
    shutil.copytree(example_folders / "mine", root / "mine")  # packed: a finished model
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    # it loads, so it is listed as pretrained (list agrees with load) ...
    assert load("fresh").pretrained_cfg.top1 is None
    assert {"fresh", "done", "mine"} <= set(bars_zoo.list_models(pretrained=True))
    # ... marked, so that a user choosing a pretrained model sees it holds no training
    assert main(["list", "--pretrained", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["fresh"]["untrained"] is True
    assert rows["done"]["untrained"] is False and rows["mine"]["untrained"] is False
    assert rows["bars-fmnist-m"]["untrained"] is False
    assert main(["list", "--json", "example"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["untrained"] is None  # no weights at all
    assert main(["list", "--pretrained"]) == 0
    table = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert table["fresh"].endswith("$BARS_ZOO_WEIGHTS_DIR (untrained: no training recorded)")
    assert "untrained" not in table["mine"] and "top-1 50.00%" in table["done"]


def test_list_models_untrained_false_leaves_out_weights_folders_that_record_no_training(
    tmp_path, offline, monkeypatch
):
    root = tmp_path / "weights"
    spec = bars_zoo.load_genotype("example")
    save_pretrained(
        bars_zoo.build(spec.model_copy(update={"name": "mine"})), root / "fresh", packed=False
    )
    save_pretrained(bars_zoo.build(spec), root / "example", packed=False)  # a zoo name's folder
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    assert {"fresh", "example"} <= set(bars_zoo.list_models(pretrained=True))
    trained = bars_zoo.list_models(pretrained=True, untrained=False)
    assert "fresh" not in trained and "example" not in trained and "bars-fmnist-m" in trained
    every = bars_zoo.list_models(untrained=False)
    assert "fresh" not in every and "example" in every  # the zoo's genotype stays


def test_list_marks_a_new_classifier_folder_by_its_backbone_not_as_untrained(
    tmp_path, offline, monkeypatch, capsys
):
    root = tmp_path / "weights"
    model = bars_zoo.load("bars-fmnist-s", num_classes=5)
    save_pretrained(model, root / "ft5-latent", packed=False)  # a fine-tuning start
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    assert "ft5-latent" in bars_zoo.list_models(pretrained=True, untrained=False)
    assert main(["list", "--json", "ft5-latent"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["untrained"], row["backbone"], row["dataset"]) == (False, "bars-fmnist-s", None)
    assert main(["list", "ft5-latent"]) == 0
    line = capsys.readouterr().out.splitlines()[2]
    assert line.endswith("$BARS_ZOO_WEIGHTS_DIR (new classifier, backbone from bars-fmnist-s)")


def test_list_trained_leaves_out_weights_folders_that_record_no_training(
    example_folders, tmp_path, offline, monkeypatch, capsys
):
    root = tmp_path / "weights"
    spec = bars_zoo.load_genotype("example").model_copy(update={"name": "mine"})
    save_pretrained(bars_zoo.build(spec), root / "fresh", packed=False)  # what build -o writes
    shutil.copytree(example_folders / "mine", root / "mine")
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    assert main(["list", "--trained", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert names == set(bars_zoo.list_models(pretrained=True, untrained=False))
    assert "mine" in names and "bars-fmnist-m" in names
    assert "fresh" not in names and "example" not in names


def test_list_names_the_split_a_top1_was_measured_on_and_refuses_to_call_it_test_images(
    tmp_path, offline, monkeypatch, capsys
):
    # it said "on 20 test images" for a --subset run and for an image folder's val/ split alike
    root = tmp_path / "weights"
    spec = bars_zoo.load_genotype("example").model_copy(update={"name": "mine"})
    records = {
        "full": {"dataset": "fashion-mnist", "top1": 91.25},
        "part": {"dataset": "fashion-mnist", "top1": 24.4, "top1_images": 2000},
        "folder": {"dataset": "sketches", "top1": 35.0, "test_split": "sketches/val"}
        | {"test_split_images": 40},
        "folder-part": {"dataset": "sketches", "top1": 35.0, "test_split": "sketches/val"}
        | {"test_split_images": 40, "top1_images": 20},
    }
    for name, record in records.items():
        save_pretrained(bars_zoo.build(spec), root / name, packed=False, pretrained_cfg=record)
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    assert main(["list", "--pretrained"]) == 0
    table = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert table["full"].endswith("(fashion-mnist, top-1 91.25%)")
    assert table["part"].endswith(
        "(fashion-mnist, top-1 24.40% on 2,000 images of the fashion-mnist test split)"
    )
    assert table["folder"].endswith("(sketches, top-1 35.00% on the 40 images of sketches/val)")
    assert table["folder-part"].endswith(
        "(sketches, top-1 35.00% on 20 of the 40 images of sketches/val)"
    )
    assert not any("test images" in table[name] for name in records)
    assert main(["list", "--json", "folder-part"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["top1_split"] == "20 of the 40 images of sketches/val"
    assert row["full_test_split"] is False
