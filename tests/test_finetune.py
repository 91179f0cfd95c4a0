"""The timm interface for fine-tuning (README, "Fine-tuning and export"): ``load(name,
num_classes=N)``, ``reset_classifier``, ``get_classifier``, ``forward_head``, ``num_features`` and
``num_classes`` - a new classifier on the pretrained backbone, with a spec and a pretrained config
that say so (no top-1, no labels of the old classifier)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_net import tiny_model

import bars_zoo
from bars_zoo.errors import ConfigError
from bars_zoo.registry import read_config
from bars_zoo.trainedness import folder_trained


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """The tiny net saved with a recorded top-1 and class names, as a published model has."""
    cfg = {"dataset": "synthetic", "labels": ["a", "b", "c", "d"], "top1": 77.5}
    return bars_zoo.save_pretrained(tiny_model(), tmp_path / "tiny", pretrained_cfg=cfg)


def _x(model: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(batch, *model.spec.input_shape)


def test_forward_is_forward_head_of_forward_features() -> None:
    model = tiny_model()
    x = _x(model)
    features = model.forward_features(x)
    assert torch.equal(model.forward_head(features), model(x))
    pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    assert torch.equal(model.get_classifier()(pooled), model(x))


def test_num_features_and_num_classes_describe_the_classifier() -> None:
    model = tiny_model()
    assert model.num_features == 12 == model.get_classifier().in_features  # the last stage
    assert model.num_classes == 4 == model.spec.num_classes
    assert model.get_classifier() is model.head.fc


def test_reset_classifier_replaces_only_the_classifier_and_updates_the_spec() -> None:
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = _x(model)
    features = model.forward_features(x)
    model.reset_classifier(7)
    assert model(x).shape == (2, 7)
    assert model.num_classes == 7 and model.spec.num_classes == 7
    assert model.get_classifier().out_features == 7
    assert torch.equal(model.forward_features(x), features)
    after = model.state_dict()
    assert set(after) == set(before)  # the same keys: bundled weights still load
    assert all(torch.equal(after[k], v) for k, v in before.items() if not k.startswith("head.fc"))
    assert bars_zoo.format(model.spec) == bars_zoo.format(
        bars_zoo.parse(bars_zoo.format(model.spec))
    )
    assert "classes=7" in bars_zoo.format(model.spec)


def test_reset_classifier_drops_the_old_top1_and_labels_from_pretrained_cfg(
    tiny_folder: Path,
) -> None:
    model = bars_zoo.load(tiny_folder)
    assert model.pretrained_cfg.top1 == 77.5
    model.reset_classifier(4)  # the same count, but a fresh classifier: the old claims go
    cfg = model.pretrained_cfg
    assert (cfg.num_classes, cfg.labels, cfg.top1, cfg.sha256) == (4, (), None, None)
    assert (cfg.mean, cfg.input_size) == ((0.0,), (1, 10, 10))  # how to feed the backbone
    assert cfg.dataset is None  # the new classifier's data set: unknown until the user gives it
    assert cfg.backbone is not None
    assert (cfg.backbone.dataset, cfg.backbone.num_classes, cfg.backbone.top1) == (
        "synthetic",
        4,
        77.5,
    )


def test_load_with_num_classes_keeps_the_backbone_and_makes_a_new_classifier(
    tiny_folder: Path,
) -> None:
    original = bars_zoo.load(tiny_folder)
    model = bars_zoo.load(tiny_folder, num_classes=3)
    x = _x(model)
    assert model(x).shape == (2, 3)
    assert not model.training
    assert torch.equal(model.forward_features(x), original.forward_features(x))
    assert model.spec.num_classes == 3
    cfg = model.pretrained_cfg
    assert (cfg.num_classes, cfg.labels, cfg.top1) == (3, (), None)


def test_a_model_loaded_with_num_classes_saves_and_reloads_without_the_old_accuracy(
    tiny_folder: Path, tmp_path: Path
) -> None:
    model = bars_zoo.load(f"local-dir:{tiny_folder}", num_classes=3)
    out = bars_zoo.save_pretrained(model, tmp_path / "ft")
    config = read_config(out)
    assert (config.pretrained_cfg.num_classes, config.pretrained_cfg.top1) == (3, None)
    assert config.pretrained_cfg.labels == ()
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| top-1 accuracy | not measured |" in card and "model-index" not in card
    assert "(4 classes, top-1 77.50%); the 3-class classifier is new" in card  # the backbone's
    again = bars_zoo.load(out)
    x = _x(model)
    assert again.spec.num_classes == 3 and again.pretrained_cfg.top1 is None
    assert torch.equal(again(x), model(x))


def test_load_with_the_current_num_classes_changes_nothing(tiny_folder: Path) -> None:
    original = bars_zoo.load(tiny_folder)
    model = bars_zoo.load(tiny_folder, num_classes=4)
    x = _x(model)
    assert torch.equal(model(x), original(x))
    assert model.pretrained_cfg == original.pretrained_cfg
    assert model.spec == original.spec


def test_load_untrained_with_num_classes_builds_that_many_outputs() -> None:
    model = bars_zoo.load("bars-fmnist-s", pretrained=False, num_classes=5)
    assert model.spec.num_classes == 5 == model.pretrained_cfg.num_classes
    assert model.pretrained_cfg.labels == () and model.pretrained_cfg.top1 is None
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 5)


def test_load_bundled_model_with_num_classes_fine_tunes_from_the_pretrained_backbone() -> None:
    pretrained = bars_zoo.load("bars-fmnist-s")
    model = bars_zoo.load("bars-fmnist-s", num_classes=np.int64(5))  # numpy ints are ints
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(model.forward_features(x), pretrained.forward_features(x))
    assert model(x).shape == (2, 5)
    assert model.pretrained_cfg.top1 is None and pretrained.pretrained_cfg.top1 is not None


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (0, "from 1 to 100,000, got 0"),
        (-3, "from 1 to 100,000, got -3"),
        (100_001, "from 1 to 100,000, got 100001"),
        (True, "must be an int, got bool"),
        (5.0, "must be an int, got float"),
        ("5", "must be an int, got str"),
    ],
)
def test_load_refuses_a_bad_num_classes_before_reading_weights(
    bad: object, match: str, tiny_folder: Path
) -> None:
    (tiny_folder / "model.safetensors").write_bytes(b"broken")  # never read
    with pytest.raises(ConfigError, match=match) as e:
        bars_zoo.load(tiny_folder, num_classes=bad)  # type: ignore[arg-type]
    assert e.value.hint and "num_classes" in e.value.hint + e.value.message


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, 100_001])
def test_reset_classifier_refuses_a_bad_num_classes_and_keeps_the_model(bad: object) -> None:
    model = tiny_model()
    fc = model.get_classifier()
    with pytest.raises(ConfigError, match="num_classes"):
        model.reset_classifier(bad)  # type: ignore[arg-type]
    assert model.get_classifier() is fc and model.spec.num_classes == 4


@pytest.mark.slow  # about 5 s: one training step and two exports of bars-fmnist-s
def test_readme_fine_tuning_and_export_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Fine-tuning and export", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)  # the snippet writes my-model/ and my-model.pt2
    ns: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), ns)
    model, images = ns["model"], ns["images"]
    assert isinstance(model, torch.nn.Module) and isinstance(images, torch.Tensor)
    assert ns["logits"].shape == (8, 5)  # before the last reset_classifier
    assert model.num_classes == 3  # the last reset_classifier
    saved = bars_zoo.load(tmp_path / "my-model")
    assert saved.spec.num_classes == 5 and saved.pretrained_cfg.top1 is None
    assert saved.pretrained_cfg.dataset == "my-data"
    x = images  # the programs were exported for this batch size
    with torch.no_grad():
        assert torch.equal(ns["program"].module()(x), model(x))
        assert torch.equal(ns["fast_program"].module()(x), ns["fast"](x))
    assert (tmp_path / "my-model.pt2").is_file()


@pytest.mark.parametrize("pool", [None, "avg"])
def test_reset_classifier_takes_timms_global_pool_none_or_avg(pool: str | None) -> None:
    model = tiny_model()
    model.reset_classifier(3, global_pool=pool)
    assert model(_x(model)).shape == (2, 3)
    model.reset_classifier(5, pool)  # positional, as timm's signature
    assert model.num_classes == 5


@pytest.mark.parametrize("pool", ["max", "", "avgmax", 1])
def test_reset_classifier_refuses_a_global_pool_the_head_does_not_have(pool: object) -> None:
    model = tiny_model()
    fc = model.get_classifier()
    with pytest.raises(ConfigError, match="global_pool must be None or 'avg'") as e:
        model.reset_classifier(3, global_pool=pool)  # type: ignore[arg-type]
    assert "forward_features" in (e.value.hint or "")
    assert model.get_classifier() is fc and model.num_classes == 4


@pytest.mark.parametrize(
    "shape", [(2, 12), (12, 3, 3), (2, 5, 3, 3)], ids=["pooled", "3d", "channels"]
)
def test_forward_head_refuses_anything_but_forward_features_output(shape: tuple) -> None:
    model = tiny_model()
    with pytest.raises(ConfigError, match=r"forward_head takes forward_features' output") as e:
        model.forward_head(torch.randn(shape))
    assert "get_classifier" in (e.value.hint or "")


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_forward_head_refuses_a_pre_logits_that_is_not_a_bool(bad: object) -> None:
    model = tiny_model()
    features = model.forward_features(_x(model))
    with pytest.raises(ConfigError, match="pre_logits must be True or False"):
        model.forward_head(features, pre_logits=bad)  # type: ignore[arg-type]


def test_load_checks_its_arguments_in_signature_order(tiny_folder: Path) -> None:
    # load(name, pretrained, *, revision, cache_dir, local_files_only, device, num_classes)
    with pytest.raises(ConfigError, match="pretrained must be True or False"):
        bars_zoo.load(tiny_folder, pretrained="no", device="gpu", num_classes=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="local_files_only must be True, False or None"):
        bars_zoo.load(tiny_folder, local_files_only="yes", device="gpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        bars_zoo.load(tiny_folder, num_classes=0, device="gpu")
    with pytest.raises(ConfigError, match="num_classes must be from 1"):
        bars_zoo.load(tiny_folder, num_classes=0, device="cpu")


def test_a_new_classifier_card_names_the_backbones_data_set_and_not_as_the_models(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    out = bars_zoo.save_pretrained(bars_zoo.load("bars-fmnist-s", num_classes=5), tmp_path / "ft5")
    cfg = read_config(out).pretrained_cfg
    assert (cfg.dataset, cfg.labels, cfg.num_classes) == (None, (), 5)
    assert cfg.backbone is not None and cfg.backbone.model == "bars-fmnist-s"
    assert (cfg.backbone.dataset, cfg.backbone.num_classes) == ("fashion-mnist", 10)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "datasets:" not in card and "zalando" not in card  # not indexed as Fashion-MNIST
    assert "| data set | unknown (a new classifier" in card
    assert "| backbone | pretrained: bars-fmnist-s on fashion-mnist (10 classes" in card
    assert (
        card.count("\n# bars-fmnist-s: a 5-class classifier on the bars-fmnist-s backbone\n") == 1
    )


def test_reset_classifier_drops_the_meta_numbers_of_the_old_network_and_keeps_searched_on() -> None:
    model = bars_zoo.load("bars-fmnist-s")
    assert {"ops", "params", "dataset"} <= set(model.spec.meta)
    model.reset_classifier(5)
    meta = model.spec.meta
    assert not {"ops", "params", "expected_ops", "candidate_ops", "budget_met", "dataset"} & set(
        meta
    )
    assert meta["searched_on"] == "fashion-mnist" and meta["seed"] == "0"  # search history stays


def test_a_new_classifier_on_a_pretrained_backbone_records_training(tmp_path: Path) -> None:
    out = bars_zoo.save_pretrained(
        bars_zoo.load("bars-fmnist-s", num_classes=5), tmp_path / "ft5", packed=False
    )
    assert folder_trained(read_config(out))  # its backbone is trained
    untrained = bars_zoo.load(out, pretrained=False)  # the architecture alone: no backbone
    assert untrained.pretrained_cfg.backbone is None
    fresh = bars_zoo.load("bars-fmnist-s", pretrained=False, num_classes=5)
    assert fresh.pretrained_cfg.backbone is None  # an untrained backbone is none


def test_a_second_new_classifier_keeps_naming_the_pretrained_backbone(tmp_path: Path) -> None:
    out = bars_zoo.save_pretrained(bars_zoo.load("bars-fmnist-s", num_classes=5), tmp_path / "a")
    model = bars_zoo.load(out, num_classes=3)
    assert model.pretrained_cfg.backbone == read_config(out).pretrained_cfg.backbone


def test_a_new_classifier_on_an_own_packed_folder_without_a_top1_records_its_backbone(
    tmp_path: Path,
) -> None:
    # it recorded no backbone at all: the folder's config names no top-1, command or Hub repo
    out = bars_zoo.save_pretrained(
        tiny_model(), tmp_path / "own", pretrained_cfg={"dataset": "synthetic"}
    )  # packed: a finished model from your own training loop
    assert folder_trained(read_config(out))
    expected = {"model": "tiny", "dataset": "synthetic", "num_classes": 4, "top1": None}
    for model in (bars_zoo.load(out, num_classes=3), bars_zoo.load(out)):
        if model.spec.num_classes != 3:
            model.reset_classifier(3)
        backbone = model.pretrained_cfg.backbone
        assert backbone is not None, "the trained backbone's source is lost"
        assert backbone.model_dump(include=set(expected)) == expected
        assert model.pretrained_cfg.top1 is None and model.pretrained_cfg.dataset is None
    # unpacked and recording nothing (what `bars-zoo build -o` writes): untrained, no backbone
    latent = bars_zoo.save_pretrained(tiny_model(), tmp_path / "latent", packed=False)
    assert bars_zoo.load(latent, num_classes=3).pretrained_cfg.backbone is None
