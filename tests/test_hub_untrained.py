"""Untrained weights stay marked untrained through packing, deploying and pushing, a push of them
needs ``allow_untrained``, and a Hub load records the commit it resolved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fakehub import SHA
from test_hub_cache import fill_cache
from tiny_net import tiny_model

import bars_zoo
from bars_zoo.card import parse_front_matter
from bars_zoo.cli import main
from bars_zoo.errors import ConfigError
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load
from bars_zoo.lookup import untrained_weights
from bars_zoo.publish import push_to_hub
from bars_zoo.registry import read_config
from bars_zoo.trainedness import folder_trained

GENO = "genotypes/bars-fmnist-s.geno"
COMMIT = "a" * 40


@pytest.fixture
def untrained(tmp_path: Path) -> Path:
    """What `bars-zoo build -o` writes: latent weights, no training recorded."""
    return save_pretrained(tiny_model(), tmp_path / "untrained", packed=False)


def test_packing_loaded_untrained_weights_keeps_them_marked_untrained(untrained, tmp_path):
    packed = save_pretrained(load(f"local-dir:{untrained}"), tmp_path / "packed")
    config = read_config(packed)
    assert config.packed and config.trained is False and not folder_trained(config)
    assert load(f"local-dir:{packed}").trained_weights is False
    again = save_pretrained(load(f"local-dir:{packed}"), tmp_path / "again")  # and again
    assert read_config(again).trained is False


def test_trained_weights_of_an_untrained_start_are_not_marked_untrained(untrained, tmp_path):
    model = load(f"local-dir:{untrained}")
    with torch.no_grad():
        model.head.fc.weight.add_(1.0)  # training changed the weights
    config = read_config(save_pretrained(model, tmp_path / "packed"))
    assert config.trained is None and folder_trained(config)  # packed means trained, as before
    assert "trained" not in json.loads((tmp_path / "packed" / "config.json").read_text())


def test_list_trained_leaves_out_a_deployed_untrained_folder(untrained, tmp_path, monkeypatch):
    weights = tmp_path / "wd"
    weights.mkdir()
    assert main(["deploy", str(untrained), "-o", str(weights / "dep"), "--no-check"]) == 0
    monkeypatch.setenv("BARS_ZOO_WEIGHTS_DIR", str(weights))
    assert untrained_weights("dep") is True
    assert "dep" not in bars_zoo.list_models(pretrained=True, untrained=False)


def test_deploy_warns_about_untrained_weights(untrained, tmp_path, capsys):
    assert main(["deploy", str(untrained), "-o", str(tmp_path / "dep"), "--no-check"]) == 0
    assert "untrained" in capsys.readouterr().err


def test_push_refuses_untrained_weights_without_allow_untrained(hub, untrained):
    with pytest.raises(ConfigError, match="untrained weights") as err:
        push_to_hub(untrained, "org/tiny")
    assert "allow_untrained=True" in str(err.value) and "--" not in str(err.value)
    assert hub.calls == []


def test_push_command_refuses_untrained_weights_naming_the_flag(hub, untrained, capsys):
    assert main(["push", str(untrained), "org/tiny"]) == 2
    assert "--allow-untrained" in capsys.readouterr().err
    assert hub.calls == []


def test_pushed_untrained_weights_say_so_and_name_no_dataset(hub, untrained):
    assert push_to_hub(untrained, "org/tiny", allow_untrained=True) == SHA
    card = (hub.uploaded / "README.md").read_text()
    front = parse_front_matter(card)
    assert "datasets" not in front and "untrained" in front["tags"]
    assert "**These weights are untrained**" in card
    assert read_config(hub.uploaded).trained is False  # hub_repo alone would read as trained


def test_push_of_loaded_untrained_model_is_refused_too(hub, untrained):
    with pytest.raises(ConfigError, match="untrained weights"):
        push_to_hub(load(f"local-dir:{untrained}"), "org/tiny")


def test_hub_load_records_the_resolved_commit_in_revision_and_backbone(tmp_path, monkeypatch):
    folder = save_pretrained(tiny_model(), tmp_path / "src", pretrained_cfg={"hub_repo": "me/net"})
    cache = tmp_path / "cache"
    fill_cache(cache, "me/net", folder, COMMIT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("hf-hub:me/net", f"hf-hub:me/net@{COMMIT}"):
        model = load(name, cache_dir=cache)
        assert model.pretrained_cfg.revision == COMMIT
        new = load(name, cache_dir=cache, num_classes=5)
        assert new.pretrained_cfg.backbone.model == f"hf-hub:me/net@{COMMIT}"
