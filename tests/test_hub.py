"""``load`` / ``save_pretrained`` on local folders and zoo names: round trips, integrity, errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
from tiny_net import TINY, tiny_model

import bars_zoo
from bars_zoo import registry, weightsdir
from bars_zoo.errors import (
    ConfigError,
    IntegrityError,
    UnknownModelError,
    UnsafeFileError,
    WeightsNotPublishedError,
)
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load, pull
from bars_zoo.publish import push_to_hub, register_bundled
from bars_zoo.registry import PretrainedCfg


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(3, 1, 10, 10, generator=torch.Generator().manual_seed(7))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_pretrained(tiny_model(), tmp_path / "tiny")


@pytest.fixture
def zoo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``pretrained/`` resource folder (bundled weights + registry.json) for this test."""
    root = tmp_path / "pretrained"
    root.mkdir()
    real = registry.resource_dir
    monkeypatch.setattr(
        registry, "resource_dir", lambda name: root if name == "pretrained" else real(name)
    )
    monkeypatch.delenv(weightsdir.WEIGHTS_DIR_ENV, raising=False)
    return root


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("packed", [True, False])
def test_local_dir_round_trip_gives_identical_logits(tmp_path, x, packed):
    model = tiny_model()
    with torch.no_grad():
        expected = model(x)
    folder = save_pretrained(model, tmp_path / "m", packed=packed)
    loaded = load(f"local-dir:{folder}")
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)


def test_loaded_model_is_in_eval_mode_with_spec_and_pretrained_cfg(saved):
    model = load(f"local-dir:{saved}")
    assert not model.training
    assert model.spec == bars_zoo.parse(TINY)
    cfg = model.pretrained_cfg
    assert cfg.input_size == (1, 10, 10)
    assert len(cfg.mean) == len(cfg.std) == 1


def test_save_pretrained_writes_the_hub_layout(saved):
    assert sorted(p.name for p in saved.iterdir()) == [
        "README.md",
        "config.json",
        "genotype.geno",
        "model.safetensors",
    ]
    config = json.loads((saved / "config.json").read_text())
    assert config["packed"] is True
    assert config["weights_size"] == (saved / "model.safetensors").stat().st_size
    assert bars_zoo.read(saved / "genotype.geno") == bars_zoo.parse(TINY)
    assert config["complexity"]["bops"] > 0


def test_packed_file_is_smaller_than_the_unpacked_one(tmp_path):
    model = tiny_model()
    packed = save_pretrained(model, tmp_path / "p", packed=True) / "model.safetensors"
    latent = save_pretrained(model, tmp_path / "u", packed=False) / "model.safetensors"
    assert packed.stat().st_size < latent.stat().st_size / 2


def test_unpacked_file_keeps_latent_weights_for_training(tmp_path):
    model = tiny_model()
    loaded = load(f"local-dir:{save_pretrained(model, tmp_path / 'u', packed=False)}")
    assert torch.equal(loaded.stem.conv.weight, model.stem.conv.weight)
    conv = loaded.cells[0].preprocess.conv
    assert torch.equal(conv.weight, model.cells[0].preprocess.conv.weight)
    assert conv.frozen_scale is None


def test_saving_twice_gives_identical_files(tmp_path):
    model = tiny_model()
    a = save_pretrained(model, tmp_path / "a") / "model.safetensors"
    b = save_pretrained(model, tmp_path / "b") / "model.safetensors"
    assert a.read_bytes() == b.read_bytes()


def test_save_pretrained_records_given_pretrained_cfg(tmp_path):
    folder = save_pretrained(
        tiny_model(),
        tmp_path / "m",
        pretrained_cfg={"dataset": "fashion-mnist", "mean": [0.3], "std": [0.4], "top1": 88.5},
    )
    cfg = load(f"local-dir:{folder}").pretrained_cfg
    assert (cfg.dataset, cfg.mean, cfg.std, cfg.top1) == ("fashion-mnist", (0.3,), (0.4,), 88.5)
    assert cfg.sha256 == registry.read_config(folder).weights_sha256


def test_save_pretrained_rejects_cfg_that_contradicts_the_genotype(tmp_path):
    with pytest.raises(ConfigError, match="10 classes, but the model has 4") as e:
        save_pretrained(tiny_model(), tmp_path / "m", pretrained_cfg={"num_classes": 10})
    assert "num_classes/input_size" in (e.value.hint or "")


def test_save_pretrained_rejects_a_plain_module(tmp_path):
    with pytest.raises(ConfigError, match=r"needs a bars-zoo model"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path / "m")


def test_save_pretrained_replaces_its_own_folder_without_leftovers(tmp_path):
    folder = save_pretrained(tiny_model(seed=0), tmp_path / "m")
    save_pretrained(tiny_model(seed=1), folder, packed=False)
    assert registry.read_config(folder).packed is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_save_pretrained_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"refusing to replace .*notes\.txt"):
        save_pretrained(tiny_model(), tmp_path / "m")
    assert (tmp_path / "m" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "files",
    [
        {"config.json": '{"architecture": "resnet50"}', "model.safetensors": "weights"},
        {"genotype.geno": "# my own genotype\n"},
    ],
    ids=["another-library", "a-lone-genotype"],
)
def test_save_pretrained_keeps_same_named_files_it_did_not_write(tmp_path, files):
    folder = tmp_path / "m"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(ConfigError, match=r"refusing to replace .*another model or library"):
        save_pretrained(tiny_model(), folder)
    assert {p.name: p.read_text() for p in folder.iterdir()} == files


def test_save_pretrained_keeps_a_cache_folder_with_the_users_files(tmp_path):
    folder = save_pretrained(tiny_model(), tmp_path / "m")
    (folder / ".cache" / "huggingface").mkdir(parents=True)  # the Hub client's: replaceable
    save_pretrained(tiny_model(seed=1), folder)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "mine.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"refusing to replace .*\.cache"):
        save_pretrained(tiny_model(seed=2), folder)
    assert (folder / ".cache" / "mine.txt").read_text() == "mine"


def test_save_pretrained_through_a_symlink_writes_into_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "latest").symlink_to("real")
    save_pretrained(tiny_model(), tmp_path / "latest")
    assert (tmp_path / "latest").is_symlink()
    assert registry.read_config(tmp_path / "real").architecture == "tiny"
    save_pretrained(tiny_model(seed=1), tmp_path / "latest")  # and replaces it again
    assert (tmp_path / "latest").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "real"]


def test_a_folder_given_as_a_bare_name_is_pointed_to_local_dir(saved, monkeypatch):
    monkeypatch.chdir(saved.parent)
    with pytest.raises(UnknownModelError, match=f"unknown model '{saved.name}'") as err:
        load(saved.name)
    assert f"load it as 'local-dir:{saved.name}'" in (err.value.hint or "")


def test_an_empty_name_or_path_never_means_the_current_folder(saved, monkeypatch, capsys):
    from bars_zoo.cli import main

    monkeypatch.chdir(saved)  # a model folder: an empty path would load it
    with pytest.raises(UnknownModelError, match="local-dir: needs a path"):
        load("local-dir:")
    with pytest.raises(UnknownModelError, match="unknown model ''") as err:
        load("")
    assert "is a folder" not in (err.value.hint or "")
    assert main(["eval", "", "--dataset", "synthetic"]) == 2
    assert "no model was given" in capsys.readouterr().err


def test_load_moves_the_model_to_the_given_device(saved):
    model = load(f"local-dir:{saved}", device="cpu")
    assert next(model.parameters()).device.type == "cpu"


def test_local_dir_accepts_the_weights_file_path(saved, x):
    a, b = load(f"local-dir:{saved}"), load(f"local-dir:{saved / 'model.safetensors'}")
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


# --------------------------------------------------------------------------- integrity


def test_flipped_byte_in_weights_is_a_sha256_mismatch(saved):
    path = saved / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        load(f"local-dir:{saved}")


def test_truncated_weights_file_is_refused(saved):
    path = saved / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IntegrityError, match="truncated"):
        load(f"local-dir:{saved}")


def test_pickle_checkpoint_folder_is_refused(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    torch.save(tiny_model().state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UnsafeFileError, match="pickle"):
        load(f"local-dir:{folder}")


def test_local_dir_pointing_at_a_pickle_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(UnsafeFileError, match=r"refusing to load .*model\.pt"):
        load(f"local-dir:{path}")


def test_edited_genotype_beside_the_weights_is_refused(saved):
    geno = saved / "genotype.geno"
    geno.write_text(geno.read_text().replace("channels=12", "channels=16"))
    with pytest.raises(IntegrityError, match=r"does not match config\.json"):
        load(f"local-dir:{saved}")


def test_a_comment_added_to_the_genotype_keeps_loading_and_a_meta_line_is_an_edit(saved):
    geno = saved / "genotype.geno"
    text = geno.read_text()
    geno.write_text("# trained on my laptop\n" + text)
    load(f"local-dir:{saved}")
    geno.write_text(text + 'meta note="trained on my laptop"\n')
    with pytest.raises(IntegrityError, match=r"does not match config\.json"):
        load(f"local-dir:{saved}")


def test_weights_saved_for_another_genotype_are_refused(tmp_path, saved):
    other_text = TINY.replace("channels=12", "channels=16")
    other = save_pretrained(tiny_model(text=other_text), tmp_path / "other")
    for name in ("genotype.geno", "config.json"):
        (saved / name).write_bytes((other / name).read_bytes())
    config = json.loads((saved / "config.json").read_text())
    data = (saved / "model.safetensors").read_bytes()
    config["weights_sha256"] = __import__("hashlib").sha256(data).hexdigest()
    config["weights_size"] = len(data)
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(IntegrityError, match="saved for another genotype"):
        load(f"local-dir:{saved}")


def test_missing_config_is_an_integrity_error(saved):
    (saved / "config.json").unlink()
    with pytest.raises(IntegrityError, match=r"has no config\.json"):
        load(f"local-dir:{saved}")


def test_missing_local_folder_is_an_unknown_model(tmp_path):
    with pytest.raises(UnknownModelError, match="no model folder at"):
        load(f"local-dir:{tmp_path / 'nope'}")


# --------------------------------------------------------------------------- zoo names


def test_unknown_zoo_name_suggests_close_names():
    with pytest.raises(
        UnknownModelError, match=r"(?s)unknown model 'bars-bb'.*did you mean 'bars-b'"
    ):
        load("bars-bb")


@pytest.mark.parametrize(
    ("name", "dataset"), [("bars-b", "cifar10"), ("bars-d", "imagenet")], ids=["b", "d"]
)
def test_paper_models_say_how_to_train_and_publish_their_weights(zoo_dir, name, dataset):
    if name not in bars_zoo.list_models():
        pytest.skip(f"{name} is not in the zoo")
    with pytest.raises(WeightsNotPublishedError, match=f"no pretrained weights .*{name}") as err:
        load(name)
    assert f"bars-zoo train {name} --dataset {dataset}" in str(err.value)
    assert "bars-zoo push" in str(err.value)


def test_pretrained_false_builds_the_architecture_only(zoo_dir):
    model = load("example", pretrained=False)
    assert not model.training
    assert model.spec.name == "example"
    assert model.pretrained_cfg.dataset == "cifar10"
    assert model.pretrained_cfg.input_size == (3, 32, 32)


def test_pretrained_false_reads_a_local_folder_genotype(saved):
    model = load(f"local-dir:{saved}", pretrained=False)
    assert model.spec == bars_zoo.parse(TINY)


def test_register_bundled_makes_a_zoo_name_load_offline(zoo_dir, saved, x):
    cfg = register_bundled(saved, "tiny-zoo", top1=50.0, train_command="bars-zoo train tiny")
    assert (zoo_dir / "tiny-zoo" / "model.safetensors").is_file()
    entry = registry.get("tiny-zoo")
    assert entry == cfg and entry.top1 == 50.0
    assert entry.sha256 == registry.read_config(saved).weights_sha256
    assert "tiny-zoo" in registry.pretrained_names()
    model = load("tiny-zoo")
    assert model.pretrained_cfg == entry
    bundled = zoo_dir / "tiny-zoo"
    assert registry.read_config(bundled).pretrained_cfg.top1 == 50.0
    assert 'bars_zoo.load("tiny-zoo")' in (bundled / "README.md").read_text()
    assert (bundled / "model.safetensors").read_bytes() == (
        saved / "model.safetensors"
    ).read_bytes()
    with torch.no_grad():
        assert torch.equal(model(x), tiny_model()(x))


def test_register_bundled_rejects_invalid_fields(zoo_dir, saved):
    with pytest.raises(ConfigError, match=r"registry entry 'tiny-zoo': top1"):
        register_bundled(saved, "tiny-zoo", top1=150.0)
    assert registry.entries() == {}


def test_bundled_weights_not_matching_the_registry_pin_are_refused(zoo_dir, saved):
    cfg = register_bundled(saved, "tiny-zoo")
    registry.add_entry("tiny-zoo", cfg.model_copy(update={"sha256": "a" * 64}))
    with pytest.raises(IntegrityError, match=r"the registry pins a{64}"):
        load("tiny-zoo")


def test_registered_name_without_weights_is_not_published(zoo_dir, saved):
    cfg = register_bundled(saved, "tiny-zoo")
    for f in (zoo_dir / "tiny-zoo").iterdir():
        f.unlink()
    assert registry.get("tiny-zoo") == cfg
    assert "tiny-zoo" not in registry.pretrained_names()
    with pytest.raises(WeightsNotPublishedError, match="tiny-zoo"):
        load("tiny-zoo")


def test_weights_dir_env_folder_is_searched_after_bundled(zoo_dir, tmp_path, monkeypatch, x):
    root = tmp_path / "weights"
    save_pretrained(tiny_model(), root / "example-tiny")
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    with torch.no_grad():
        assert torch.equal(load("example-tiny")(x), tiny_model()(x))


def test_a_weights_dir_model_is_listed_as_having_weights(tmp_path, monkeypatch, capsys):
    from bars_zoo.cli import main
    from bars_zoo.zoo import list_models

    root = tmp_path / "weights"
    save_pretrained(bars_zoo.build(bars_zoo.load_genotype("example")), root / "example")
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    assert "example" in list_models("example", pretrained=True)
    assert main(["list", "example"]) == 0
    assert "$BARS_ZOO_WEIGHTS_DIR" in capsys.readouterr().out


def test_weights_dir_folder_of_another_architecture_is_refused_for_a_zoo_name(
    zoo_dir, tmp_path, monkeypatch
):
    root = tmp_path / "weights"
    save_pretrained(tiny_model(), root / "bars-d")  # the wrong folder copied under bars-d
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    with pytest.raises(IntegrityError, match="holds 'tiny', not 'bars-d'"):
        load("bars-d")


def test_weights_dir_folder_of_an_edited_architecture_is_refused_for_a_zoo_name(
    tmp_path, monkeypatch
):
    # the right name, another network: one stage a cell deeper than the zoo's
    spec = bars_zoo.load_genotype("example")
    first = spec.stages[0]
    layout = tuple(
        item.model_copy(update={"depth": item.depth + 1}) if item is first else item
        for item in spec.layout
    )
    edited = spec.model_copy(update={"layout": layout})
    root = tmp_path / "weights"
    save_pretrained(bars_zoo.build(edited), root / "example")
    monkeypatch.setenv(weightsdir.WEIGHTS_DIR_ENV, str(root))
    with pytest.raises(IntegrityError, match="not the zoo's example"):
        load("example")
    assert load(f"local-dir:{root / 'example'}").spec == edited  # still loads as a folder


def test_a_revision_for_a_local_folder_or_a_bundled_model_is_a_usage_error(saved, zoo_dir):
    with pytest.raises(ConfigError, match="local folder, which has no revisions"):
        load(f"local-dir:{saved}", revision="v2")
    register_bundled(saved, "tiny-bundled")
    with pytest.raises(ConfigError, match="bundled with the package and has no revision 'v2'"):
        load("tiny-bundled", revision="v2")


def test_a_config_that_contradicts_the_genotype_is_refused(saved):
    cfg = json.loads((saved / "config.json").read_text())
    cfg["pretrained_cfg"]["input_size"] = [1, 224, 224]
    cfg["pretrained_cfg"]["num_classes"] = 1000
    cfg["pretrained_cfg"]["labels"] = []
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(IntegrityError, match=r"says input 1x224x224 / 1000 classes but"):
        load(f"local-dir:{saved}")


def test_a_path_object_loads_as_a_local_folder_and_a_weights_file_evaluates(saved):
    from bars_zoo.modelref import load_model

    with torch.no_grad():
        x = torch.randn(2, 1, 10, 10)
        assert torch.equal(load(saved)(x), tiny_model()(x))
        assert torch.equal(load_model(str(saved / "model.safetensors"))(x), tiny_model()(x))


def test_did_you_mean_ignores_case_and_list_hints_at_wildcards(capsys):
    from bars_zoo.cli import main

    with pytest.raises(UnknownModelError, match="did you mean 'bars-fmnist-m'"):
        load("bars-fmnist-M")
    assert main(["list", "bars-fmnist"]) == 0
    assert "try 'bars-fmnist*'" in capsys.readouterr().out


def test_a_changed_bundled_model_says_to_reinstall(zoo_dir, saved):
    register_bundled(saved, "tiny-bundled")
    registry.add_entry(
        "tiny-bundled", registry.get("tiny-bundled").model_copy(update={"sha256": "c" * 64})
    )
    with pytest.raises(IntegrityError, match=r"the registry pins c{64}") as err:
        load("tiny-bundled")
    assert "reinstall bars-zoo" in str(err.value)


def test_pull_verifies_and_returns_the_folder(saved):
    assert pull(f"local-dir:{saved}") == saved
    os.truncate(saved / "model.safetensors", 10)
    with pytest.raises(IntegrityError):
        pull(f"local-dir:{saved}")


def test_bars_zoo_top_level_api_exposes_hub_functions():
    assert bars_zoo.load is load
    assert bars_zoo.save_pretrained is save_pretrained
    assert bars_zoo.push_to_hub is push_to_hub
    assert isinstance(registry.default_cfg(bars_zoo.parse(TINY)), PretrainedCfg)


def test_register_bundled_stays_importable_from_bars_zoo_hub():
    import bars_zoo.hub  # docs/hub.md named it there before publish.py existed

    assert bars_zoo.hub.register_bundled is register_bundled


def test_bars_zoo_complexity_stays_callable_after_a_load():
    import subprocess
    import sys

    code = (
        "import bars_zoo\n"
        "m = bars_zoo.load('example', pretrained=False)\n"
        "assert callable(bars_zoo.complexity), type(bars_zoo.complexity)\n"
        "assert bars_zoo.complexity(m.spec).bops > 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def _training_out_dir(tmp_path: Path, *, finished: bool) -> Path:
    """A `bars-zoo train --out` folder: pickle checkpoints, and model/ once training finished."""
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": "bars-zoo-train/1"}, run / "checkpoint.pt")
    torch.save({"format": "bars-zoo-train/1"}, run / "best.pt")
    (run / "log.jsonl").write_text("{}\n")
    if finished:
        save_pretrained(tiny_model(), run / "model")
    return run


def test_a_finished_training_folder_given_as_model_folder_points_at_its_model_subfolder(tmp_path):
    run = _training_out_dir(tmp_path, finished=True)
    with pytest.raises(UnknownModelError, match="training output folder") as err:
        load(f"local-dir:{run}")
    assert err.value.hint is not None and str(run / "model") in err.value.hint
    assert "pickle" not in str(err.value)


def test_an_unfinished_training_folder_given_as_model_folder_says_to_finish_the_run(tmp_path):
    run = _training_out_dir(tmp_path, finished=False)
    with pytest.raises(UnknownModelError, match="training output folder") as err:
        load(f"local-dir:{run}")
    assert err.value.hint is not None and "resume=True" in err.value.hint  # Python spelling
    assert "--resume" in err.value.render(cli=True)
    # and how to get the weights it has so far
    assert f"model_from_checkpoint({str(run)!r})" in err.value.hint


@pytest.mark.parametrize(
    "wrap",
    [torch.compile, torch.nn.DataParallel, lambda m: m.half(), lambda m: m.double()],
    ids=["compiled", "data-parallel", "half", "double"],
)
def test_a_wrapped_or_cast_model_saves_a_folder_that_loads(wrap, tmp_path, x):
    import copy

    model = tiny_model()
    folder = save_pretrained(wrap(copy.deepcopy(model)), tmp_path / "m")
    again = load(f"local-dir:{folder}")
    assert next(again.parameters()).dtype == torch.float32
    with torch.no_grad():  # half rounds the float parts: compare the classes, not the logits
        assert torch.equal(again(x).argmax(1), model.eval()(x).argmax(1))


@pytest.mark.parametrize(
    ("cfg", "match", "hint"),
    [
        (
            {"datset": "mine"},
            r"^invalid pretrained_cfg: unknown key 'datset' \(did you mean 'dataset'\?\)$",
            "dataset, input_size",
        ),
        (
            {"top1": 200},
            r"^invalid pretrained_cfg: top1: Input should be less than or equal to 100$",
            "fix the values",
        ),
        (
            {"num_classes": 7},
            r"^pretrained_cfg says 7 classes, but the model has 4$",
            "leave num_classes",
        ),
        (
            {"input_size": [1, 9, 9]},
            r"input_size \(1, 9, 9\), but the model takes \(1, 10, 10\)",
            "leave num_classes",
        ),
    ],
    ids=["unknown-key", "bad-value", "classes", "input-size"],
)
def test_save_pretrained_refuses_a_bad_pretrained_cfg_naming_the_key_without_pydantics_dump(
    tmp_path, cfg, match, hint
):
    # was "invalid pretrained_cfg: 1 validation error for PretrainedCfg\n... errors.pydantic.dev"
    # with no hint; num_classes=7 was "labels has 4 names for 7 classes"
    with pytest.raises(ConfigError) as e:
        save_pretrained(tiny_model(), tmp_path / "m", pretrained_cfg=cfg)
    assert re.search(match, e.value.message) and "\n" not in e.value.message
    assert "pydantic" not in str(e.value) and hint in (e.value.hint or "")
    assert not (tmp_path / "m").exists()
