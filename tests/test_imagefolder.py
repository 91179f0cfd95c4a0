"""``--dataset imagefolder --data-dir DIR``: training, fine-tuning and evaluating on a user's own
folder of class folders (``train/`` and ``val/`` or ``test/``), read at the genotype's input shape
and normalised with a mean/std measured on it and recorded with the model; and the errors of a
folder that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_net import two_stage

import bars_zoo
from bars_zoo.batches import Augment, BatchLoader
from bars_zoo.cli import main
from bars_zoo.errors import ConfigError, DatasetError, DatasetNotFoundError
from bars_zoo.imagefolder import folder_info, load_folder, scan
from bars_zoo.knowndata import known_name
from bars_zoo.training import TrainResult

CLASSES = ("cat", "dog", "emu")


def genotype(shape: str, classes: int = 3) -> str:
    return two_stage("tiny-folder", shape, stem_stride=2).replace(
        "classes=10", f"classes={classes}"
    )


def make_folder(
    root: Path,
    *,
    mode: str = "L",
    size: tuple[int, int] = (28, 28),
    per_class: int = 12,
    splits: tuple[str, ...] = ("train", "val"),
    classes: tuple[str, ...] = CLASSES,
) -> Path:
    """``root/<split>/<class>/<i>.png``: each class a brightness band plus noise (learnable)."""
    rng = np.random.default_rng(0)
    for split in splits:
        for k, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class if split == "train" else per_class // 2):
                shape = (size[1], size[0]) + (() if mode == "L" else (3,))
                pixels = np.clip(40 + 80 * k + rng.normal(0, 20, shape), 0, 255)
                Image.fromarray(pixels.astype(np.uint8), mode).save(folder / f"{i:03d}.png")
    return root


def _train(data: Path, out: Path, text: str, **kw: Any) -> TrainResult:
    options: dict[str, Any] = dict(
        dataset="imagefolder",
        data_dir=data,
        epochs=1,
        out_dir=out,
        batch_size=8,
        eval_batch_size=16,
        device="cpu",
        progress=False,
    )
    options.update(kw)
    return bars_zoo.train(bars_zoo.parse(text), **options)


# --------------------------------------------------------------------------- reading


def test_imagefolder_reads_classes_in_sorted_order_at_the_genotype_shape(tmp_path):
    data = make_folder(tmp_path / "pets", mode="RGB", size=(40, 36))  # W x H: fit + crop
    info = folder_info(data, (1, 28, 28))
    assert info.name == "pets" and info.classes == CLASSES and info.num_classes == 3
    train = load_folder(data, "train", info)
    assert train.images.shape == (36, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [0] * 12 + [1] * 12 + [2] * 12
    # the normalisation is the training images' own: normalised, they have mean 0 and std 1
    x = (train.images.float() / 255 - info.mean[0]) / info.std[0]
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05
    rgb = load_folder(data, "test", folder_info(data, (3, 32, 32)), subset=5)
    assert rgb.images.shape == (5, 3, 32, 32)


@pytest.mark.parametrize("folder", ["cifar10", "CIFAR-10", "fashion_mnist", "Fashion MNIST"])
def test_imagefolder_named_like_a_known_data_set_records_a_name_not_read_as_that_set(
    tmp_path, folder
):
    """Records are read back through ``known_name`` (case, ``-``, ``_`` and spaces ignored), so a
    folder spelt like a known data set must not be recorded under that spelling: its model would
    be published as that data set."""
    data = make_folder(tmp_path / folder, per_class=2)
    name = folder_info(data, (1, 28, 28)).name
    assert name == f"imagefolder:{folder}" and known_name(name) is None


def test_imagefolder_uses_test_split_before_val(tmp_path):
    data = make_folder(tmp_path / "d", splits=("train", "val", "test"), per_class=4)
    for f in (data / "val").rglob("*.png"):
        f.unlink()  # val/ is ignored when test/ exists: its empty class folders do not matter
    assert scan(data).eval_dir == data / "test"
    assert len(load_folder(data, "test", folder_info(data, (1, 28, 28)))) == 6


def test_imagefolder_augmentation_is_proportionate_to_the_image_size():
    assert Augment.for_dataset("imagefolder", input_shape=(1, 28, 28)) == Augment(pad=4, flip=True)
    assert Augment.for_dataset("imagefolder", input_shape=(3, 32, 32), cutout=True) == Augment(
        pad=4, flip=True, cutout=16
    )
    big = Augment.for_dataset("imagefolder", input_shape=(3, 96, 96))
    assert big.resized_crop and big.flip and not big.pad


def test_random_resized_crop_keeps_the_shape_and_depends_only_on_the_epoch(tmp_path):
    data = make_folder(tmp_path / "d", mode="RGB", size=(72, 72), per_class=2, splits=("train",))
    info = folder_info(data, (3, 72, 72))
    images = load_folder(data, "train", info)
    aug = Augment.for_dataset("imagefolder", input_shape=(3, 72, 72))

    def first(epoch: int) -> torch.Tensor:
        loader = BatchLoader(images, 6, augment=aug, seed=1)
        loader.set_epoch(epoch)
        return next(iter(loader))[0]

    assert first(0).shape == (6, 3, 72, 72)
    assert torch.equal(first(0), first(0)) and not torch.equal(first(0), first(1))


# --------------------------------------------------------------------------- train, eval, resume


def test_train_on_an_imagefolder_records_its_classes_and_normalisation(tmp_path):
    data = make_folder(tmp_path / "pets")
    result = _train(data, tmp_path / "run", genotype("1x28x28"), epochs=2)
    assert result.finished and result.model_dir is not None
    cfg = bars_zoo.load(f"local-dir:{result.model_dir}").pretrained_cfg
    info = folder_info(data, (1, 28, 28))
    assert cfg.dataset == "pets" and cfg.labels == CLASSES and cfg.num_classes == 3
    assert cfg.mean == info.mean and cfg.std == info.std
    card = (result.model_dir / "README.md").read_text()
    assert "pets" in card and "datasets:" not in card  # no Hub data set id for a private folder
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["metrics"]["test_n"] == 18  # val/: 3 classes x 6 images
    assert "test_top5" not in results["metrics"]  # fewer than 10 classes


def test_eval_cli_on_an_imagefolder_matches_the_run_and_refuses_other_classes(tmp_path, capsys):
    data = make_folder(tmp_path / "pets", mode="RGB", size=(32, 32))
    result = _train(data, tmp_path / "run", genotype("3x32x32"))
    run_top1 = result.metrics["test_top1"]
    capsys.readouterr()
    args = ["eval", str(tmp_path / "run"), "--json", "--device", "cpu"]
    assert main([*args, "--dataset", "imagefolder", "--data-dir", str(data)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["top1"] == run_top1 and shown["n"] == 18
    # without --dataset: the model records the folder's name, which is no data set bars-zoo reads
    assert main(args) == 2
    assert "--dataset imagefolder --data-dir DIR" in capsys.readouterr().err
    other = make_folder(tmp_path / "zoo", mode="RGB", size=(32, 32), classes=("ant", "bee", "cat"))
    assert main([*args, "--dataset", "imagefolder", "--data-dir", str(other)]) == 1
    assert "the model was trained on cat, dog, emu" in capsys.readouterr().err


def test_imagefolder_without_test_names_its_val_folder_in_results_card_and_eval(tmp_path, capsys):
    data = make_folder(tmp_path / "sketches")  # train/ and val/, no test/
    geno = tmp_path / "net.geno"
    geno.write_text(genotype("1x28x28"))
    run = tmp_path / "runs" / "sketches"
    common = ["--dataset", "imagefolder", "--data-dir", str(data), "--device", "cpu"]
    args = ["train", str(geno), *common, "--epochs", "1", "--batch-size", "8", "-o", str(run)]
    assert main(args) == 0
    summary = capsys.readouterr().out
    assert "(sketches/val)" in summary and "(held out of sketches/train, epoch 1)" in summary
    results = json.loads((run / "results.json").read_text())
    assert (results["test_split"], results["test_split_images"]) == ("sketches/val", 18)
    card = (run / "model" / "README.md").read_text()
    assert "% on the 18 images of sketches/val |" in card and "test split" not in card
    assert main(["eval", str(run), *common]) == 0
    assert f"{run} on sketches/val (18 images): top-1" in capsys.readouterr().out
    assert main(["eval", str(run), *common, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split_folder"] == "sketches/val"


def test_resume_on_an_imagefolder_reaches_the_uninterrupted_weights(tmp_path):
    data = make_folder(tmp_path / "pets")
    text = genotype("1x28x28")
    whole = _train(data, tmp_path / "whole", text, epochs=2)
    part = _train(data, tmp_path / "sliced", text, epochs=2, stop_after=1)
    assert not part.finished
    assert part.model.pretrained_cfg.labels == CLASSES  # the unfinished model is fed alike
    unfinished = bars_zoo.evaluate(tmp_path / "sliced", "imagefolder", data_dir=data, device="cpu")
    assert unfinished["n"] == 18
    resumed = _train(data, tmp_path / "sliced", text, epochs=2, resume=True)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_imagefolder_subset_reads_a_sample_of_each_split(tmp_path):
    data = make_folder(tmp_path / "pets")
    result = _train(data, tmp_path / "run", genotype("1x28x28"), subset=20)
    assert result.metrics["test_n"] == 18  # 20 > the 18 test images: all of them
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["config"]["subset"] == 20


def test_train_imagefolder_init_replaces_the_classifier_for_the_folder_classes(tmp_path):
    data = make_folder(tmp_path / "pets")
    spec = bars_zoo.parse(genotype("1x28x28", classes=10))
    bars_zoo.save_pretrained(bars_zoo.build(spec), tmp_path / "src", pretrained_cfg={})
    result = _train(
        data,
        tmp_path / "run",
        genotype("1x28x28", classes=10),
        init=f"local-dir:{tmp_path / 'src'}",
    )
    assert result.model.num_classes == 3
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["init"]["classifier"] == "replaced: 10 -> 3 classes"
    assert bars_zoo.load(f"local-dir:{result.model_dir}").pretrained_cfg.labels == CLASSES


# --------------------------------------------------------------------------- errors


def test_train_imagefolder_refuses_a_class_count_mismatch_without_init(tmp_path):
    data = make_folder(tmp_path / "pets")
    with pytest.raises(ConfigError, match=r"3 class folders \(cat, dog, emu\)") as err:
        _train(data, tmp_path / "run", genotype("1x28x28", classes=10))
    assert "classes=3" in str(err.value.hint) and "init" in str(err.value.hint)
    assert not (tmp_path / "run").exists()


def test_train_cli_imagefolder_refuses_a_missing_folder_with_status_2(tmp_path, capsys):
    geno = tmp_path / "t.geno"
    geno.write_text(genotype("1x28x28"))
    base = ["train", str(geno), "--dataset", "imagefolder", "--epochs", "1", "-o"]
    assert main([*base, str(tmp_path / "run")]) == 2
    assert "imagefolder needs --data-dir" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "run"), "--data-dir", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="no such folder"):
        scan(tmp_path / "nope")


def test_imagefolder_refuses_a_folder_without_train_split(tmp_path, capsys):
    make_folder(tmp_path / "d", splits=("val",), per_class=2)
    with pytest.raises(DatasetNotFoundError, match="has no train/ folder"):
        scan(tmp_path / "d")
    geno = tmp_path / "t.geno"
    geno.write_text(genotype("1x28x28"))
    args = ["train", str(geno), "--dataset", "imagefolder", "--data-dir", str(tmp_path / "d")]
    assert main([*args, "--epochs", "1", "-o", str(tmp_path / "run")]) == 1
    assert "has no train/ folder" in capsys.readouterr().err


def test_imagefolder_refuses_a_class_folder_without_images(tmp_path):
    data = make_folder(tmp_path / "d", per_class=2)
    (data / "train" / "fox").mkdir()
    (data / "train" / "fox" / "notes.txt").write_text("no image")
    with pytest.raises(DatasetNotFoundError, match=r"class folder .*fox holds no images"):
        scan(data)


def test_imagefolder_refuses_a_folder_without_any_class_folder(tmp_path):
    (tmp_path / "d" / "train").mkdir(parents=True)
    (tmp_path / "d" / "train" / "loose.png").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match="has no class folders"):
        scan(tmp_path / "d")


def test_imagefolder_refuses_splits_with_other_class_folders(tmp_path):
    data = make_folder(tmp_path / "d", per_class=2)
    (data / "val" / "emu").rename(data / "val" / "eel")
    with pytest.raises(DatasetError, match=r"only in train/: emu; only in val/: eel"):
        scan(data)


def test_imagefolder_names_an_unreadable_image(tmp_path):
    data = make_folder(tmp_path / "d", per_class=2)
    bad = data / "train" / "dog" / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=f"cannot read the image {bad}"):
        load_folder(data, "train", folder_info(data, (1, 28, 28)))


def test_imagefolder_refuses_other_channel_counts(tmp_path):
    data = make_folder(tmp_path / "d", per_class=2)
    with pytest.raises(ConfigError, match="1 \\(grayscale\\) or 3 \\(RGB\\) channels"):
        folder_info(data, (2, 28, 28))


def test_a_folder_layout_formats_as_its_root_not_as_every_image_path(tmp_path):
    # str(layout) and f"{layout}" were the dataclass repr, listing every file (thousands of paths)
    import os

    from bars_zoo.imagefolder import scan

    root = make_folder(tmp_path / "pets", per_class=40)
    layout = scan(root)
    assert os.fspath(layout) == str(layout) == f"{layout}" == str(root)
    assert repr(layout) == (
        f"FolderLayout({str(root)!r}, 3 classes, 120 training images, evaluation split val/)"
    )
    assert "eval_files" not in layout.__dict__  # formatting it does not list the evaluation split
