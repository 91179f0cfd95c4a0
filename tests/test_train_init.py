"""Fine-tuning with ``bars_zoo.train(..., init=...)`` / ``bars-zoo train --init``: the run starts
from the weights it names (the classifier replaced when the data set has another class count),
refuses weights of another input shape or architecture before anything is written, records the
init, and a resumed run continues from its checkpoint without reading the weights again."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_net import as_trained, two_stage

import bars_zoo
from bars_zoo import trainer
from bars_zoo.cli import main
from bars_zoo.data import FMNIST_DIR
from bars_zoo.errors import CheckpointMismatchError, ConfigError
from bars_zoo.training import TrainResult

needs_fmnist = pytest.mark.skipif(
    not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)",
)

GENOTYPE = two_stage("tiny-fmnist", "1x28x28", stem_stride=2)  # 10 classes


def _source(folder: Path, classes: int = 10, text: str = GENOTYPE, seed: int = 7) -> str:
    """A model folder of the genotype (``classes`` outputs, random latent weights that record no
    training, as `bars-zoo build -o` writes): the weights to start from.  Returns its
    ``local-dir:`` name."""
    spec = bars_zoo.parse(text).model_copy(update={"num_classes": classes})
    torch.manual_seed(seed)
    cfg = {"dataset": "synthetic"}
    bars_zoo.save_pretrained(bars_zoo.build(spec), folder, packed=False, pretrained_cfg=cfg)
    return f"local-dir:{folder}"


def _run(out: Path, **kw: Any) -> TrainResult:
    options: dict[str, Any] = dict(
        dataset="fashion-mnist",
        epochs=1,
        out_dir=out,
        subset=128,
        batch_size=64,
        eval_batch_size=256,
        device="cpu",
        progress=False,
    )
    options.update(kw)
    return bars_zoo.train(bars_zoo.parse(GENOTYPE), **options)


@pytest.fixture
def first_step(monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """The model's state as the first training epoch begins (filled in by the run)."""
    seen: dict[str, torch.Tensor] = {}
    original = trainer.train_epoch

    def spy(cfg: Any, env: Any, step: Any, graphed: Any, net: Any, *rest: Any) -> Any:
        if not seen:
            seen.update({k: v.detach().clone() for k, v in net.model.state_dict().items()})
        return original(cfg, env, step, graphed, net, *rest)

    monkeypatch.setattr(trainer, "train_epoch", spy)
    return seen


@needs_fmnist
def test_train_from_init_starts_from_the_init_weights(tmp_path, first_step):
    name = _source(tmp_path / "src")
    source = bars_zoo.load(name).state_dict()
    result = _run(tmp_path / "run", init=name)
    assert set(first_step) == set(source)
    assert all(torch.equal(first_step[k], source[k]) for k in source)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["init"] == {
        "weights": name,
        "classes": 10,
        "classifier": "kept",
        "backbone": None,  # the weights record no training of their own
    }
    assert results["config"]["init"] == name
    assert f"init={name!r}" in results["command"]  # the Python call, as the card records it
    assert result.finished


@needs_fmnist
def test_train_from_init_with_other_classes_replaces_only_the_classifier(tmp_path, first_step):
    name = _source(tmp_path / "src", classes=4)
    source = bars_zoo.load(name).state_dict()
    result = _run(tmp_path / "run", init=name)
    classifier = {"head.fc.weight", "head.fc.bias"}
    assert all(torch.equal(first_step[k], source[k]) for k in set(source) - classifier)
    assert first_step["head.fc.weight"].shape == (10, source["head.fc.weight"].shape[1])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["init"]["classifier"] == "replaced: 4 -> 10 classes"
    assert result.model.num_classes == 10
    assert bars_zoo.load(f"local-dir:{result.model_dir}").num_classes == 10


def test_train_cli_init_refuses_weights_of_another_input_shape(tmp_path, capsys):
    geno = tmp_path / "tiny.geno"
    geno.write_text(GENOTYPE)
    name = _source(tmp_path / "src")  # 1x28x28 (Fashion-MNIST) weights onto CIFAR-10
    (tmp_path / "cifar").mkdir()
    out = tmp_path / "run"
    args = ["train", str(geno), "--init", name, "--dataset", "cifar10", "--data-dir"]
    assert main([*args, str(tmp_path / "cifar"), "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "its weights take 1x28x28 images, but cifar10 has 3x32x32 images" in err
    assert "hint: fine-tuning keeps the input shape" in err
    assert not out.exists()


def test_train_init_refuses_weights_of_another_architecture(tmp_path):
    other = GENOTYPE.replace("channels=8 depth=1", "channels=16 depth=1", 1)
    name = _source(tmp_path / "src", text=other)
    with pytest.raises(ConfigError, match="first difference: genotype `stage s1: channels=8"):
        _run(tmp_path / "run", init=name, dataset="synthetic")
    assert not (tmp_path / "run").exists()


def test_train_init_pretrained_refuses_a_genotype_file(tmp_path):
    geno = tmp_path / "tiny.geno"
    geno.write_text(GENOTYPE)
    with pytest.raises(ConfigError, match="takes the published weights of a zoo name"):
        bars_zoo.train(
            str(geno), dataset="synthetic", epochs=1, out_dir=tmp_path, init="pretrained"
        )


@needs_fmnist
def test_resume_of_an_init_run_continues_like_an_uninterrupted_one(tmp_path):
    name = _source(tmp_path / "src", classes=4)
    whole = _run(tmp_path / "whole", init=name, epochs=2)
    _run(tmp_path / "sliced", init=name, epochs=2, stop_after=1)
    moved = shutil.move(tmp_path / "src", tmp_path / "gone")  # a resume never reads them again
    with pytest.raises(CheckpointMismatchError, match="init: "):
        _run(tmp_path / "sliced", init=f"local-dir:{moved}", epochs=2, resume=True)
    resumed = _run(tmp_path / "sliced", init=name, epochs=2, resume=True)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.metrics == whole.metrics
    results = json.loads((tmp_path / "sliced" / "results.json").read_text())
    assert results["init"]["classifier"] == "replaced: 4 -> 10 classes"


# --------------------------------------------------------------------------- the run's record

# the search provenance of a 10-class network (its numbers include its classifier's)
SEARCHED = 'meta dataset="fashion-mnist" ops="1.61M" params="449.1k" budget_met="true"\n'


def _pets(tmp_path: Path, text: str, top1: float = 91.5) -> str:
    """Pretrained weights of ``text`` (recording a fashion-mnist top-1) and their name."""
    spec = bars_zoo.parse(text)
    cfg = {"dataset": "fashion-mnist", "top1": top1}
    bars_zoo.save_pretrained(as_trained(bars_zoo.build(spec)), tmp_path / "src", pretrained_cfg=cfg)
    return f"local-dir:{tmp_path / 'src'}"


def test_train_init_with_new_classes_records_the_spec_and_backbone_as_load_num_classes_does(
    tmp_path,
):
    from test_imagefolder import _train, genotype, make_folder

    text = genotype("1x28x28", classes=10) + SEARCHED
    source = _pets(tmp_path, text)
    result = _train(make_folder(tmp_path / "pets"), tmp_path / "run", text, init=source)
    assert result.model_dir is not None
    saved = bars_zoo.load(f"local-dir:{result.model_dir}")
    expected = bars_zoo.load(source, num_classes=3)  # the Python path: one spec for both
    assert saved.spec == expected.spec
    assert saved.spec.meta == {"searched_on": "fashion-mnist"}
    backbone = saved.pretrained_cfg.backbone
    assert backbone == expected.pretrained_cfg.backbone
    assert (backbone.dataset, backbone.top1, backbone.classifier) == ("fashion-mnist", 91.5, "new")
    assert saved.pretrained_cfg.dataset == "pets"  # its own data set and top-1 stay its own
    card = (result.model_dir / "README.md").read_text()
    assert "| backbone | fine-tuned from tiny-folder on fashion-mnist (10 classes" in card
    assert "with a new 3-class classifier" in card
    assert "ops=" not in card and "budget_met" not in card


def test_train_init_keeping_the_classifier_records_where_the_weights_started(tmp_path):
    from test_imagefolder import _train, genotype, make_folder

    text = genotype("1x28x28", classes=3)
    source = _pets(tmp_path, text)
    result = _train(make_folder(tmp_path / "pets"), tmp_path / "run", text, init=source)
    assert result.model_dir is not None
    saved = bars_zoo.load(f"local-dir:{result.model_dir}")
    assert saved.pretrained_cfg.backbone is not None
    assert saved.pretrained_cfg.backbone.classifier == "kept"
    assert result.model.pretrained_cfg.backbone == saved.pretrained_cfg.backbone
    card = (result.model_dir / "README.md").read_text()
    assert "fine-tuned from tiny-folder on fashion-mnist" in card
    assert "its classifier kept" in card


def test_train_cli_shows_the_init_line_without_verbose(tmp_path, caplog):
    from test_imagefolder import genotype, make_folder

    text = genotype("1x28x28", classes=10)
    source = _pets(tmp_path, text)
    geno = tmp_path / "net.geno"
    geno.write_text(text)
    data = make_folder(tmp_path / "pets")
    args = ["train", str(geno), "--dataset", "imagefolder", "--data-dir", str(data)]
    args += ["--init", source, "--epochs", "1", "--batch-size", "8", "-o", str(tmp_path / "run")]
    assert logging.getLogger().level == logging.WARNING  # INFO shows only where the CLI says
    assert main([*args, "--device", "cpu"]) == 0
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("initialised from local-dir:" in m and "10 -> 3 classes" in m for m in shown)


def test_train_cli_refuses_a_batch_larger_than_the_images_before_announcing_the_init(
    tmp_path, caplog, capsys
):
    from test_imagefolder import genotype, make_folder

    text = genotype("1x28x28", classes=10)
    source = _pets(tmp_path, text)
    geno = tmp_path / "net.geno"
    geno.write_text(text)
    data = make_folder(tmp_path / "pets")  # 36 training images, 32 after the held-out 10 %
    args = ["train", str(geno), "--dataset", "imagefolder", "--data-dir", str(data)]
    args += ["--init", source, "--epochs", "1", "-o", str(tmp_path / "run"), "--device", "cpu"]
    assert main(args) == 2  # the recipe's --batch-size 256
    assert "--batch-size 256 is larger than the 32 training images" in capsys.readouterr().err
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not any("initialised from" in m for m in shown)  # no line reads as a run begun
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("classes", [3, 10])
def test_train_init_from_an_own_packed_folder_without_a_top1_records_its_backbone(
    tmp_path, classes
):
    # the run recorded no backbone: the folder's config names no top-1, command or Hub repo
    from bars_zoo.traininit import init_weights

    text = two_stage("own", "1x28x28").replace("classes=10", f"classes={classes}")
    source = bars_zoo.parse(two_stage("own", "1x28x28"))
    cfg = {"dataset": "fashion-mnist"}  # packed: a finished model from your own loop
    own = as_trained(bars_zoo.build(source))
    bars_zoo.save_pretrained(own, tmp_path / "own", pretrained_cfg=cfg)
    record = init_weights(
        bars_zoo.parse(text), f"local-dir:{tmp_path / 'own'}", "fashion-mnist"
    ).record
    assert record["backbone"] is not None
    want = {"model": "own", "dataset": "fashion-mnist", "num_classes": 10, "top1": None}
    assert {k: record["backbone"][k] for k in want} == want
    assert record["backbone"]["classifier"] == ("new" if classes == 3 else "kept")
