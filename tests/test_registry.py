"""The pretrained registry: its data file, entry validation, and every shipped entry verified."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import bars_zoo
from bars_zoo import registry, weightsdir
from bars_zoo.errors import ConfigError, IntegrityError
from bars_zoo.registry import PretrainedCfg

SHA = "c" * 64
COMMIT = "d" * 40


def cfg(**kw: object) -> PretrainedCfg:
    base: dict[str, object] = {
        "architecture": "example",
        "dataset": "cifar10",
        "input_size": (3, 32, 32),
        "mean": (0.5, 0.5, 0.5),
        "std": (0.25, 0.25, 0.25),
        "num_classes": 10,
    }
    return PretrainedCfg.model_validate({**base, **kw})


@pytest.fixture
def pretrained_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "pretrained"
    real = registry.resource_dir
    monkeypatch.setattr(registry, "resource_dir", lambda n: root if n == "pretrained" else real(n))
    monkeypatch.delenv(weightsdir.WEIGHTS_DIR_ENV, raising=False)
    return root


# --------------------------------------------------------------------------- shipped entries

SHIPPED = sorted(registry.entries())


def test_shipped_registry_file_is_valid_json_of_the_current_format():
    path = registry.registry_path()
    if not path.is_file():
        pytest.skip("no registry.json shipped yet")
    data = json.loads(path.read_text())
    assert data["format_version"] == registry.REGISTRY_FORMAT
    assert set(data["models"]) == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_entry_names_a_zoo_genotype(name):
    entry = registry.get(name)
    assert entry is not None
    # list_models(pretrained=True) lists genotype names: an entry is listed under its genotype's name
    assert name in bars_zoo.list_models(), f"add genotypes/{name}.geno"
    assert entry.architecture == bars_zoo.load_genotype(name).name


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_entry_has_weights_pinned_by_sha256(name):
    entry = registry.get(name)
    assert entry is not None and entry.sha256 is not None
    folder = registry.bundled_dir(name)
    if (folder / "model.safetensors").is_file():
        from bars_zoo.packing import file_sha256

        assert file_sha256(folder / "model.safetensors") == entry.sha256
    else:
        assert entry.hub_repo is not None and entry.revision is not None


# --------------------------------------------------------------------------- configs


def test_pretrained_cfg_is_frozen_and_forbids_unknown_fields():
    c = cfg()
    with pytest.raises(ValueError):
        c.top1 = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="extra"):
        cfg(accuracy=90.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mean": (0.5,)}, "one value per input channel"),
        ({"std": (0.0, 1.0, 1.0)}, "std values must be positive"),
        ({"sha256": "abc"}, "64 lowercase hex"),
        ({"hub_repo": "no-slash"}, "org/name"),
        ({"labels": ("a", "b")}, "2 names for 10 classes"),
        ({"top1": 101.0}, "less than or equal to 100"),
    ],
)
def test_pretrained_cfg_rejects_inconsistent_values(fields, message):
    with pytest.raises(ValueError, match=message):
        cfg(**fields)


def test_hub_entry_must_pin_a_commit_and_a_sha256():
    with pytest.raises(ConfigError, match="without a pinned revision"):
        registry.validate_entry("m", cfg(hub_repo="org/m", revision="main", sha256=SHA))
    with pytest.raises(ConfigError, match="no sha256"):
        registry.validate_entry("m", cfg(hub_repo="org/m", revision=COMMIT))
    assert registry.validate_entry("m", cfg(hub_repo="org/m", revision=COMMIT, sha256=SHA))


def test_invalid_raw_entry_names_the_field():
    with pytest.raises(ConfigError, match=r"registry entry 'm': num_classes"):
        registry.validate_entry("m", {**cfg().to_json(), "num_classes": 0})


def test_default_cfg_guesses_normalisation_from_the_input_shape():
    spec = bars_zoo.load_genotype("example")
    c = registry.default_cfg(spec)
    assert c.dataset == "cifar10"
    assert c.mean == registry.DATASET_NORMALIZATION["cifar10"][0]
    odd = spec.model_copy(update={"input": spec.input.model_copy(update={"height": 40})})
    c = registry.default_cfg(odd)
    assert (c.dataset, c.mean, c.std) == (None, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def test_default_cfg_gives_the_class_names_of_its_data_set_when_the_classes_match():
    from bars_zoo.classnames import CIFAR10_CLASSES, FASHION_CLASSES

    spec = bars_zoo.load_genotype("example")  # 3x32x32, 10 classes: CIFAR-10
    assert registry.default_cfg(spec).labels == CIFAR10_CLASSES
    assert registry.default_cfg(spec, "synthetic").labels == ()  # a data set without names
    five = spec.model_copy(update={"num_classes": 5})
    assert registry.default_cfg(five).labels == ()  # not as many names as classes
    fmnist = bars_zoo.load_genotype("bars-fmnist-s")
    assert registry.default_cfg(fmnist).labels == FASHION_CLASSES


def _with(spec, *, meta=None, channels=None, classes=None):
    update = {"meta": {**spec.meta, **(meta or {})}}
    if channels is not None:
        update["input"] = spec.input.model_copy(update={"channels": channels})
    if classes is not None:
        update["num_classes"] = classes
    return spec.model_copy(update=update)


def test_default_cfg_records_a_meta_data_set_it_does_not_know_as_named_without_labels():
    spec = bars_zoo.load_genotype("example")  # 3x32x32, 10 classes: the shape guess is CIFAR-10
    c = registry.default_cfg(_with(spec, meta={"dataset": "svhn"}))
    assert (c.dataset, c.mean, c.std, c.labels) == ("svhn", (0.0,) * 3, (1.0,) * 3, ())
    c = registry.default_cfg(_with(spec, meta={"dataset": "cifar100"}, classes=100))
    assert (c.dataset, c.mean, c.labels) == ("cifar100", (0.0,) * 3, ())


def test_default_cfg_reads_a_known_data_set_however_the_meta_spells_it():
    spec = bars_zoo.load_genotype("example")
    c = registry.default_cfg(_with(spec, meta={"dataset": "CIFAR-10"}))
    assert (c.dataset, c.mean) == ("cifar10", registry.DATASET_NORMALIZATION["cifar10"][0])


def test_default_cfg_shape_guess_refuses_a_data_set_of_other_class_count():
    spec = bars_zoo.load_genotype("example")
    c = registry.default_cfg(_with(spec, classes=100))  # 3x32x32 but not CIFAR-10's 10 classes
    assert (c.dataset, c.mean, c.labels) == (None, (0.0,) * 3, ())


@pytest.mark.parametrize(
    ("dataset", "channels", "classes", "why"),
    [
        ("fashion-mnist", None, None, "fashion-mnist has 1x28x28 images and 10 classes"),
        ("imagenet", None, None, "imagenet has 3x224x224 images and 1000 classes"),
        ("cifar10", None, 5, "the genotype's input is 3x32x32 with 5 classes"),
        ("fashion-mnist", 1, None, "the genotype's input is 1x32x32"),
    ],
)
def test_default_cfg_refuses_a_meta_data_set_that_contradicts_the_input(
    dataset, channels, classes, why, caplog
):
    spec = _with(
        bars_zoo.load_genotype("example"),
        meta={"dataset": dataset},
        channels=channels,
        classes=classes,
    )
    with caplog.at_level(logging.WARNING, logger="bars_zoo"):
        c = registry.default_cfg(spec)
    c_in = spec.input_shape[0]
    assert (c.dataset, c.mean, c.std, c.labels) == (None, (0.0,) * c_in, (1.0,) * c_in, ())
    assert f"meta dataset={dataset!r} is not trusted" in caplog.text
    assert why in caplog.text


def test_known_data_sets_agree_with_the_loaders():
    from bars_zoo.data import DATASETS
    from bars_zoo.knowndata import KNOWN_DATA

    for name, known in KNOWN_DATA.items():
        info = DATASETS[name]
        assert (known.input_shape, known.num_classes) == (info.input_shape, info.num_classes)
        assert (known.mean, known.std) == (info.mean, info.std)


# --------------------------------------------------------------------------- the data file


def test_add_entry_round_trips_through_the_data_file(pretrained_dir):
    path = registry.add_entry("b-model", cfg(hub_repo="org/b", revision=COMMIT, sha256=SHA))
    registry.add_entry("a-model", cfg())
    assert path == pretrained_dir / "registry.json"
    data = json.loads(path.read_text())
    assert list(data["models"]) == ["a-model", "b-model"]
    assert registry.get("b-model") == cfg(hub_repo="org/b", revision=COMMIT, sha256=SHA)
    assert [p.name for p in pretrained_dir.iterdir()] == ["registry.json"]  # no temp files


def test_pretrained_names_lists_only_models_with_weights(pretrained_dir):
    registry.add_entry("on-hub", cfg(hub_repo="org/x", revision=COMMIT, sha256=SHA))
    registry.add_entry("nowhere", cfg())
    bundled = pretrained_dir / "bundled"
    bundled.mkdir()
    (bundled / "model.safetensors").write_bytes(b"")
    registry.add_entry("bundled", cfg())
    assert registry.pretrained_names() == ["bundled", "on-hub"]


def test_list_models_pretrained_uses_the_registry(pretrained_dir):
    assert bars_zoo.list_models("example", pretrained=True) == []
    registry.add_entry("example", cfg(hub_repo="org/example", revision=COMMIT, sha256=SHA))
    assert bars_zoo.list_models("example", pretrained=True) == ["example"]


def test_registry_file_edits_are_picked_up(pretrained_dir):
    registry.add_entry("m", cfg())
    path = registry.registry_path()
    data = json.loads(path.read_text())
    data["models"]["m"]["top1"] = 77.0
    path.write_text(json.dumps(data))
    import os

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    entry = registry.get("m")
    assert entry is not None and entry.top1 == 77.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{oops", "not valid JSON"),
        ('{"format_version": 99, "models": {}}', "format_version 1"),
        ('{"format_version": 1, "models": {"m": {"architecture": "m"}}}', "registry entry 'm'"),
    ],
)
def test_broken_registry_file_is_an_integrity_error(pretrained_dir, text, message):
    pretrained_dir.mkdir()
    (pretrained_dir / "registry.json").write_text(text)
    with pytest.raises(IntegrityError, match=message):
        registry.entries()


def test_no_registry_file_means_no_pretrained_models(pretrained_dir):
    assert registry.entries() == {}
    assert registry.pretrained_names() == []


def test_listing_pretrained_models_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, bars_zoo\n"
        "from bars_zoo.commands import list as cmd\n"
        "cmd.rows('*', True)\n"
        "bars_zoo.list_models(pretrained=True)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
