"""One rule says whether weights are trained (bars_zoo.trainedness): built weights are untrained
and stay so through a new classifier, a re-save by another version and a push with
--allow-untrained; trained runs are trained; changed weights are unknown.  Also the push's pin line
and the commit a Hub load records."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fakehub import SHA
from test_hub_cache import fill_cache
from tiny_net import TINY, tiny_model

import bars_zoo
from bars_zoo.card import parse_front_matter
from bars_zoo.cli import main
from bars_zoo.errors import ConfigError
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load
from bars_zoo.publish import _stage_folder, push_to_hub
from bars_zoo.registry import read_config
from bars_zoo.trainedness import folder_trained, weights_trained

COMMIT = "b" * 40


@pytest.fixture
def built() -> bars_zoo.BarsNet:
    torch.manual_seed(0)
    return bars_zoo.build(bars_zoo.parse(TINY))


@pytest.fixture
def untrained(tmp_path: Path) -> Path:
    """What `bars-zoo build -o` writes: latent weights, no training recorded."""
    torch.manual_seed(0)
    return save_pretrained(bars_zoo.build(bars_zoo.parse(TINY)), tmp_path / "built", packed=False)


# --------------------------------------------------------------------------- (a) build(spec)


def test_save_pretrained_of_a_built_model_records_untrained_weights(built, tmp_path):
    assert built.trained_weights is False
    folder = save_pretrained(built, tmp_path / "saved")  # packed: read as trained before
    assert read_config(folder).trained is False and not folder_trained(read_config(folder))
    assert "**These weights are untrained**" in (folder / "README.md").read_text()


def test_push_of_a_built_model_refuses_without_allow_untrained(hub, built):
    with pytest.raises(ConfigError, match="untrained weights"):
        push_to_hub(built, "org/random")
    assert hub.calls == []
    plan = push_to_hub(built, "org/random", dry_run=True, allow_untrained=True)
    assert "(untrained weights)" in plan


def test_a_top1_given_to_save_pretrained_does_not_make_built_weights_trained(built, tmp_path):
    folder = save_pretrained(built, tmp_path / "s", pretrained_cfg={"top1": 90.0})
    assert not folder_trained(read_config(folder))


# --------------------------------------------------------------------------- (b) a new head


def test_a_new_classifier_on_untrained_weights_stays_untrained(untrained, tmp_path):
    model = load(f"local-dir:{untrained}", num_classes=5)
    assert model.trained_weights is False
    assert model.pretrained_cfg.backbone is None  # an untrained backbone is no source to name
    folder = save_pretrained(model, tmp_path / "new_head")
    assert not folder_trained(read_config(folder))
    built = bars_zoo.build(bars_zoo.parse(TINY))
    built.reset_classifier(3)
    assert built.trained_weights is False


# --------------------------------------------------------------------------- (c) a version bump


def test_untrained_weights_saved_again_by_a_newer_version_stay_untrained(
    untrained, tmp_path, monkeypatch
):
    model = load(f"local-dir:{untrained}")
    monkeypatch.setattr(bars_zoo, "__version__", "99.0.0")
    folder = save_pretrained(model, tmp_path / "newer")
    assert read_config(folder).bars_zoo_version == "99.0.0"
    assert not folder_trained(read_config(folder))


# --------------------------------------------------------------------------- (d) --allow-untrained


def test_a_folder_pushed_untrained_stays_untrained_when_saved_again(hub, untrained, tmp_path):
    stage = tmp_path / "staged"
    _stage_folder(untrained, stage, "org/random", allow_untrained=True)  # what the Hub gets
    config = read_config(stage)
    assert config.trained is False and config.pretrained_cfg.hub_repo == "org/random"
    model = load(f"local-dir:{stage}")
    assert model.trained_weights is False
    again = save_pretrained(model, tmp_path / "again")
    assert read_config(again).trained is False  # hub_repo does not make it trained
    with pytest.raises(ConfigError, match="untrained weights"):
        push_to_hub(again, "org/random2")  # the next push needs the flag again


# --------------------------------------------------------------------------- changed, trained


def test_weights_changed_after_build_are_unknown_and_read_as_folders_without_a_record(
    built, tmp_path
):
    opt = torch.optim.SGD(built.parameters(), lr=0.1)  # a training loop of your own
    built(torch.randn(2, 1, 10, 10)).sum().backward()
    opt.step()
    assert built.trained_weights is None
    assert read_config(save_pretrained(built, tmp_path / "p")).trained is None  # packed: trained
    other = bars_zoo.build(bars_zoo.parse(TINY))
    other.load_state_dict(tiny_model().state_dict())  # loading a state dict: unknown too
    assert weights_trained(other) is None


def test_trained_weights_can_be_declared_and_a_bad_value_is_refused(built, tmp_path):
    built.trained_weights = True
    config = read_config(save_pretrained(built, tmp_path / "latent", packed=False))
    assert config.trained is True and folder_trained(config)
    with pytest.raises(ConfigError, match="True, False or None"):
        built.trained_weights = "yes"  # type: ignore[assignment]


def test_deploy_of_a_built_model_records_it_untrained(tmp_path, capsys):
    torch.manual_seed(0)
    src = save_pretrained(bars_zoo.build(bars_zoo.parse(TINY)), tmp_path / "src", packed=False)
    assert main(["deploy", str(src), "-o", str(tmp_path / "dep"), "--no-check"]) == 0
    assert "untrained" in capsys.readouterr().err
    assert read_config(tmp_path / "dep").trained is False


# --------------------------------------------------------------------------- (e) the pin line


def test_pin_line_refuses_registry_advice_for_a_zoo_model_fine_tuned_on_another_dataset(
    hub, tmp_path, capsys
):
    model = bars_zoo.load("bars-fmnist-s")
    folder = save_pretrained(model, tmp_path / "s", pretrained_cfg={"dataset": "my-sketches"})
    assert main(["push", str(folder), "org/s"]) == 0
    err = capsys.readouterr().err
    assert "pin it" not in err and f'bars_zoo.load("hf-hub:org/s@{SHA}")' in err


def test_pin_line_refuses_registry_advice_for_untrained_weights_of_a_zoo_genotype(
    hub, tmp_path, capsys
):
    folder = save_pretrained(bars_zoo.load("bars-fmnist-s", pretrained=False), tmp_path / "u")
    assert main(["push", str(folder), "org/u", "--allow-untrained"]) == 0
    assert "pin it" not in capsys.readouterr().err


# --------------------------------------------------------------------------- (f) the Hub commit


def test_hub_load_of_a_duplicated_repo_records_the_repo_it_loaded(tmp_path, monkeypatch):
    src = save_pretrained(tiny_model(), tmp_path / "src", pretrained_cfg={"hub_repo": "org/net"})
    cache = tmp_path / "cache"
    fill_cache(cache, "me/copy", src, COMMIT)  # a duplicate: its config names the source repo
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = load("hf-hub:me/copy", cache_dir=cache).pretrained_cfg
    assert (cfg.hub_repo, cfg.revision) == ("me/copy", COMMIT)
    new = load("hf-hub:me/copy", cache_dir=cache, num_classes=3)
    assert new.pretrained_cfg.backbone.model == f"hf-hub:me/copy@{COMMIT}"


def test_card_of_pushed_built_model_names_no_dataset(hub, built):
    push_to_hub(built, "org/random", allow_untrained=True)
    front = parse_front_matter((hub.uploaded / "README.md").read_text())
    assert "datasets" not in front and "untrained" in front["tags"]
