"""Every model bundled in the package loads offline, matches its registry entry, and reproduces the
accuracy recorded for it on a fixed slice of the Fashion-MNIST test split (registry-driven)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

import bars_zoo
from bars_zoo._resources import resource_dir
from bars_zoo.data import FMNIST_DIR, load_images, normalize
from bars_zoo.foldercard import folder_card
from bars_zoo.registry import pretrained_names

SLICES = json.loads((Path(__file__).parent / "data" / "bundled_slices.json").read_text())
BUNDLED = sorted(n for n in pretrained_names() if (resource_dir("pretrained") / n).is_dir())
HAVE_FMNIST = (FMNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()


def test_the_fashion_mnist_zoo_is_bundled():
    assert {"bars-fmnist-s", "bars-fmnist-m", "bars-fmnist-l", "xnor-resnet18-fmnist"} <= set(
        BUNDLED
    )
    assert set(SLICES) == set(BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_weights_match_the_registry_sha256(name):
    registry = json.loads((resource_dir("pretrained") / "registry.json").read_text())["models"]
    data = (resource_dir("pretrained") / name / "model.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == registry[name]["sha256"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_card_is_what_the_card_code_renders_today(name):
    """A bundled ``README.md`` equals, character for character, the card ``register_bundled``
    writes for it now (:func:`bars_zoo.foldercard.folder_card` of the bundled folder, loading
    ``name``), so a change of the card code updates the bundled cards in the same commit
    (``python scripts/bundle_fmnist_zoo.py --cards`` rewrites them with ``write_card``, weights
    untouched) or fails here.

    The whole text is compared: a card holds nothing volatile.  It has no date and does not
    print the running bars_zoo version; everything comes from the bundled ``config.json`` (the
    version that saved it included), ``genotype.geno``, the complexity counter, and the file
    sizes of the bundled files themselves.  A change of the counter's numbers or of their
    formatting therefore also shows up here, as it should: the card would print them."""
    folder = resource_dir("pretrained") / name
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card == folder_card(folder, load_name=name)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_loads_offline_in_eval_mode_with_its_config(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = bars_zoo.load(name)
    assert not model.training
    assert model.spec == bars_zoo.load_genotype(name)
    assert model.pretrained_cfg.input_size == (1, 28, 28)
    assert model.pretrained_cfg.top1 is not None


@pytest.mark.skipif(not HAVE_FMNIST, reason="needs dataset-fashion-mnist")
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_model_reproduces_its_recorded_accuracy_on_a_fixed_test_slice(name):
    n, expected = SLICES[name]["n"], SLICES[name]["correct"]
    data = load_images("fashion-mnist", "test")
    model = bars_zoo.load(name)
    x = normalize(data.images[:n], data.info)
    with torch.inference_mode():
        pred = torch.cat([model(x[i : i + 250]).argmax(1) for i in range(0, n, 250)])
    assert int((pred == data.labels[:n]).sum()) == expected


@pytest.mark.skipif(not HAVE_FMNIST, reason="needs dataset-fashion-mnist")
@pytest.mark.parametrize("name", BUNDLED)
def test_deployed_bundled_model_equals_the_emulated_one_bit_for_bit(name):
    data = load_images("fashion-mnist", "test")
    x = normalize(data.images[:256], data.info)
    model = bars_zoo.load(name)
    deployed = bars_zoo.deploy(model)
    with torch.inference_mode():
        assert torch.equal(deployed(x), model(x))


def test_loading_other_weights_into_a_loaded_model_uses_their_scales():
    """A packed load freezes each layer's beta; other weights loaded later must not inherit it."""
    name = "bars-fmnist-s"
    other = bars_zoo.build(bars_zoo.load_genotype(name))
    other.load_state_dict(bars_zoo.load(name).state_dict())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # same signs, other magnitudes (another checkpoint of the same net)
        for p in other.parameters():
            if p.dim() == 4:
                p.mul_(torch.rand(p.shape, generator=g) * 3)
    other.eval()
    loaded = bars_zoo.load(name)
    loaded.load_state_dict(other.state_dict())
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(x), other(x))


def test_a_fine_tuned_loaded_model_saves_and_reloads_to_the_same_outputs(tmp_path):
    model = bars_zoo.load("bars-fmnist-s").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x, y = torch.randn(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    x = torch.randn(16, 1, 28, 28, generator=g)
    for packed in (False, True):
        folder = bars_zoo.save_pretrained(model, tmp_path / f"ft-{packed}", packed=packed)
        again = bars_zoo.load(f"local-dir:{folder}")
        with torch.no_grad():
            assert torch.equal(again(x), model(x)), packed


@pytest.mark.parametrize("name", BUNDLED)
def test_an_untrained_model_saved_claims_none_of_the_pretrained_provenance(name, tmp_path):
    model = bars_zoo.load(name, pretrained=False)
    cfg = model.pretrained_cfg
    assert (cfg.top1, cfg.train_command, cfg.hardware, cfg.sha256) == (None, None, None, None)
    assert cfg.mean == bars_zoo.load(name).pretrained_cfg.mean  # how to feed it stays
    folder = bars_zoo.save_pretrained(model, tmp_path / "untrained")
    card = (folder / "README.md").read_text(encoding="utf-8")
    recorded = bars_zoo.load(name).pretrained_cfg
    assert f"{recorded.top1:.2f}" not in card and str(recorded.train_command) not in card
    assert bars_zoo.load(f"local-dir:{folder}").pretrained_cfg.top1 is None
