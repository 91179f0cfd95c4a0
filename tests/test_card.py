"""Model cards: Hub metadata that huggingface_hub accepts, and a body that describes the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import bars_zoo
from bars_zoo.card import GENERATED_MARK, describe_cell, parse_front_matter, render_card
from bars_zoo.cli import main
from bars_zoo.complexity import complexity
from bars_zoo.errors import ConfigError
from bars_zoo.folder import save_pretrained
from bars_zoo.foldercard import write_card
from bars_zoo.registry import default_cfg
from bars_zoo.spec import live_edges

SPEC_TEXT = """bars 1
name "carded"
input 1x12x12 classes=3
stem conv3x3 channels=8 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- in: bconv1x1
  n3 <- in: shortcut, n1: bconv3x3
}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=false {
  n1 <- in: bconv3x3
}
stage s1: channels=8 depth=2 cell=normal
downsample cell=reduce
stage s2: channels=12 depth=1 cell=normal
head avgpool linear
meta searched_on="fashion-mnist"
"""


@pytest.fixture
def spec():
    return bars_zoo.parse(SPEC_TEXT)


def card_for(spec, **cfg_fields):
    cfg = default_cfg(spec).model_copy(update=cfg_fields)
    return render_card(spec, cfg, packed=True, complexity_summary=complexity(spec).summary())


def test_front_matter_is_accepted_by_huggingface_hub(spec):
    from huggingface_hub import ModelCard

    text = card_for(spec, dataset="fashion-mnist", top1=91.25)
    card = ModelCard(text)
    assert card.data.library_name == "bars-zoo"
    assert "binary-neural-network" in card.data.tags
    assert card.data.datasets == ["zalando-datasets/fashion_mnist"]
    results = card.data.eval_results
    assert results and results[0].metric_value == 91.25
    assert results[0].metric_type == "accuracy"


def test_model_index_is_left_out_without_a_measured_accuracy(spec):
    meta = parse_front_matter(card_for(spec, dataset="cifar10"))
    assert meta["datasets"] == ["uoft-cs/cifar10"]
    assert "model-index" not in meta
    assert meta["metrics"] == ["accuracy"]


@pytest.mark.parametrize("dataset", ["synthetic", "my-private-set"])
def test_a_data_set_the_hub_does_not_know_is_not_published_as_a_benchmark(spec, dataset):
    cfg = default_cfg(spec).model_copy(update={"dataset": dataset, "top1": 28.0})
    text = render_card(spec, cfg, packed=True, complexity_summary="", files={})
    meta = parse_front_matter(text)
    assert "datasets" not in meta and "model-index" not in meta
    assert "28.00%" in text  # the body still says what was measured


def test_a_top1_on_part_of_the_test_split_is_stated_and_not_indexed(spec):
    text = card_for(spec, dataset="fashion-mnist", top1=24.4, top1_images=2000)
    assert "24.40% on 2,000 images of the fashion-mnist test split" in text
    assert "model-index" not in parse_front_matter(text)
    whole = card_for(spec, dataset="fashion-mnist", top1=91.25)
    assert "91.25% on the full fashion-mnist test split" in whole


def test_a_top1_on_an_image_folder_names_the_split_folder_not_a_test_split(spec):
    whole = card_for(
        spec, dataset="sketches", top1=35.0, test_split="sketches/val", test_split_images=40
    )
    assert "| top-1 accuracy | 35.00% on the 40 images of sketches/val |" in whole
    part = card_for(
        spec,
        dataset="sketches",
        top1=35.0,
        top1_images=20,
        test_split="sketches/val",
        test_split_images=40,
    )
    assert "35.00% on 20 of the 40 images of sketches/val |" in part
    assert "test split" not in whole + part


def test_card_body_has_complexity_usage_citation_and_genotype(spec):
    text = card_for(spec, hub_repo="org/carded", train_command="bars-zoo train carded")
    c = complexity(spec)
    assert c.summary().splitlines()[1] in text
    assert 'bars_zoo.load("hf-hub:org/carded")' in text
    assert "arXiv:2011.10804" in text and "@article{zhao2020bars" in text
    assert bars_zoo.format(spec).strip() in text
    assert "`bars-zoo train carded`" in text
    assert "searched_on=fashion-mnist" in text
    assert text.startswith("---\n") and GENERATED_MARK in text


def test_every_live_edge_is_described_and_unused_nodes_are_named(spec):
    cell = spec.cell("normal")
    text = "\n".join(describe_cell(cell))
    assert "`n1 = bconv3x3(in)`" in text
    assert "`n3 = in + bconv3x3(n1)`" in text
    assert "output = `n3` + `identity(x)`" in text
    assert "not computed (no path to the output): n2" in text
    assert {n for n, _ in live_edges(cell)} == {"n1", "n3"}


def test_write_card_regenerates_the_readme_from_the_folder(tmp_path: Path, spec):
    torch.manual_seed(0)
    folder = save_pretrained(bars_zoo.build(spec), tmp_path / "m")
    original = (folder / "README.md").read_text()
    (folder / "README.md").write_text(f"{GENERATED_MARK}\nstale")
    assert write_card(folder) == folder / "README.md"
    assert (folder / "README.md").read_text() == original


def test_a_hand_written_card_is_kept_unless_forced(tmp_path: Path, spec, capsys):
    folder = save_pretrained(bars_zoo.build(spec), tmp_path / "m")
    (folder / "README.md").write_text("# My card\n")
    assert main(["card", str(folder)]) == 2
    assert "written by hand" in capsys.readouterr().err
    assert (folder / "README.md").read_text() == "# My card\n"
    with pytest.raises(
        ConfigError, match=r"hand-written README\.md"
    ):  # save_pretrained keeps it too
        save_pretrained(bars_zoo.build(spec), folder)
    assert (folder / "README.md").read_text() == "# My card\n"
    assert main(["card", str(folder), "--force"]) == 0
    assert GENERATED_MARK in (folder / "README.md").read_text()


def test_card_command_refuses_a_folder_that_does_not_load(tmp_path: Path, spec, capsys):
    folder = save_pretrained(bars_zoo.build(spec), tmp_path / "m")
    (folder / "genotype.geno").write_text(
        (folder / "genotype.geno").read_text().replace("channels=12", "channels=16", 1)
    )
    card = (folder / "README.md").read_text()
    assert main(["card", str(folder)]) == 1
    assert "does not match config.json" in capsys.readouterr().err
    assert (folder / "README.md").read_text() == card
    assert main(["card", str(tmp_path / "nope")]) == 2
    assert "no model folder at" in capsys.readouterr().err


def test_card_command_rewrites_the_card(tmp_path: Path, spec, capsys):
    folder = save_pretrained(bars_zoo.build(spec), tmp_path / "m")
    (folder / "README.md").unlink()
    assert main(["card", str(folder)]) == 0
    assert str(folder / "README.md") in capsys.readouterr().out
    assert parse_front_matter((folder / "README.md").read_text())["library_name"] == "bars-zoo"


def test_card_command_on_a_non_model_folder_fails_with_a_hint(tmp_path: Path, capsys):
    assert main(["card", str(tmp_path)]) == 2
    assert "is not a model folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{}")  # a model folder with a part missing: broken
    assert main(["card", str(tmp_path)]) == 1
    assert "has no model.safetensors" in capsys.readouterr().err


def test_a_new_classifier_on_a_hub_backbone_links_it_as_base_model(spec):
    trained = default_cfg(spec).model_copy(
        update={"top1": 90.0, "hub_repo": "org/net", "revision": "a" * 40, "sha256": "b" * 64}
    )
    cfg = trained.for_new_classifier(3)
    meta = parse_front_matter(render_card(spec, cfg, packed=True, complexity_summary=""))
    assert meta["base_model"] == "org/net" and "datasets" not in meta


@pytest.mark.parametrize("name", ["bars-fmnist-m", "xnor-resnet18-fmnist"])
def test_card_usage_prepares_a_real_image_with_preprocess(name, tmp_path, monkeypatch):
    from PIL import Image

    card = (Path(bars_zoo.__file__).parent / "pretrained" / name / "README.md").read_text()
    usage = card.split("## Usage", 1)[1]
    code = usage.split("```python\n", 1)[1].split("```", 1)[0]
    assert "torch.randn" not in code and "bars_zoo.preprocess(" in code
    assert "scales it to cover 28x28 and center-crops it" in usage
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (40, 30), "white").save("image.png")  # the snippet's image.png
    ns: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), ns)
    probs = ns["probs"]
    assert isinstance(probs, torch.Tensor) and probs.shape == (1, 10)


def _training_run(tmp_path: Path, spec, *, finished: bool) -> Path:
    """A `bars-zoo train --out` folder: its checkpoint, and its model/ folder once finished."""
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": "bars-zoo-train/1"}, run / "checkpoint.pt")
    if finished:
        save_pretrained(bars_zoo.build(spec), run / "model")
    return run


def test_card_command_takes_a_finished_training_run_folder_as_eval_does(tmp_path, spec, capsys):
    # it refused runs/x with "give its model folder"; eval and deploy take the run folder
    run = _training_run(tmp_path, spec, finished=True)
    (run / "model" / "README.md").unlink()
    assert main(["card", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "model" / "README.md")
    assert GENERATED_MARK in (run / "model" / "README.md").read_text()
    assert not (run / "README.md").exists()


def test_card_command_refuses_an_unfinished_training_run_saying_to_finish_it(
    tmp_path, spec, capsys
):
    run = _training_run(tmp_path, spec, finished=False)
    assert main(["card", str(run)]) == 2
    err = capsys.readouterr().err
    assert "has not finished" in err and "finish the training first" in err and "--resume" in err
    assert not (run / "README.md").exists()
