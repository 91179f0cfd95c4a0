"""``bars-zoo search --dataset imagefolder --data-dir DIR --input-shape CxHxW``: a search on a
user's own images (their ``train/`` split only), whose genotype ``bars-zoo train --dataset
imagefolder`` takes as written; its resume checks on the folder's files; and the errors of a
request that cannot be searched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_imagefolder import make_folder

import bars_zoo
from bars_zoo.cli import main
from bars_zoo.errors import CheckpointMismatchError, ConfigError
from bars_zoo.search.config import SearchConfig


def _argv(data: Path, out: Path, *more: str) -> list[str]:
    return [
        "search",
        "--preset",
        "tiny",
        "--dataset",
        "imagefolder",
        "--data-dir",
        str(data),
        "--input-shape",
        "3x16x16",
        "--subset",
        "36",
        "--no-plots",
        "--device",
        "cpu",
        "--threads",
        "1",
        "-o",
        str(out),
        *more,
    ]


@pytest.fixture
def pets(tmp_path: Path) -> Path:
    """3 classes x 12 RGB 16x16 training images (and 6 per class in val/)."""
    return make_folder(tmp_path / "pets", mode="RGB", size=(16, 16))


def test_search_on_an_imagefolder_writes_a_genotype_train_takes_unedited(pets, tmp_path, capsys):
    geno = tmp_path / "pets.geno"
    assert main(_argv(pets, geno)) == 0
    spec = bars_zoo.load_genotype(str(geno))
    assert spec.input_shape == (3, 16, 16) and spec.num_classes == 3
    assert spec.meta["dataset"] == "pets"  # the folder's name, as train records it
    text = geno.read_text()
    assert "--dataset imagefolder --input-shape 3x16x16" in text and "--data-dir DIR" in text
    capsys.readouterr()
    run = tmp_path / "run"
    argv = ["train", str(geno), "--dataset", "imagefolder", "--data-dir", str(pets)]
    argv += ["--epochs", "1", "--batch-size", "8", "--device", "cpu", "-o", str(run)]
    assert main([*argv, "--threads", "1"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["metrics"]["test_n"] == 18  # val/: 3 classes x 6 images
    cfg = bars_zoo.load(f"local-dir:{run / 'model'}").pretrained_cfg
    assert cfg.dataset == "pets" and cfg.labels == ("cat", "dog", "emu")


def test_search_on_an_imagefolder_reads_only_its_train_split(pets, tmp_path, capsys):
    (pets / "val" / "cat" / "000.png").write_bytes(b"no image: the search must not read it")
    assert main(_argv(pets, tmp_path / "x.geno", "--dry-run")) == 0
    shown = capsys.readouterr().out
    assert "imagefolder pets 3x16x16, 3 classes" in shown and "on 36 images" in shown


def test_search_imagefolder_does_not_refuse_an_empty_class_folder_in_val(pets):
    from bars_zoo.imagefiles import file_record
    from bars_zoo.search.searchdata import search_data

    cfg = SearchConfig(preset="tiny", dataset="imagefolder", input_shape="3x16x16")
    before = search_data(cfg, pets).files  # the record a search began with keeps resuming
    assert before == {**file_record(pets), "eval": None}
    for image in (pets / "val" / "dog").iterdir():
        image.unlink()  # val/dog/ now empty: the search never reads val/
    data = search_data(cfg, pets)
    assert data.num_classes == 3 and data.files == before


def test_search_resume_refuses_an_imagefolder_whose_train_images_changed(pets, tmp_path, capsys):
    out = tmp_path / "s.geno"
    assert main(_argv(pets, out, "--stop-after", "1")) == 0
    shutil.copy(pets / "train" / "cat" / "000.png", pets / "train" / "dog" / "999.png")
    assert main(_argv(pets, out, "--resume")) == 2
    err = capsys.readouterr().err
    assert f"cannot resume the search in {tmp_path / 's.run'}" in err
    assert f"the training images in {pets / 'train'} changed" in err and "(36 -> 37 files)" in err
    (pets / "train" / "dog" / "999.png").unlink()
    shutil.rmtree(pets / "val")  # the search never reads it: its change is no reason to refuse
    assert main(_argv(pets, out, "--resume")) == 0 and out.is_file()


def test_python_search_resume_refuses_another_imagefolder(pets, tmp_path):
    kw = dict(dataset="imagefolder", input_shape=(3, 16, 16), device="cpu", plots=False)
    out = tmp_path / "s.geno"
    assert not bars_zoo.search(preset="tiny", data_dir=pets, out=out, stop_after=1, **kw).finished
    other = make_folder(tmp_path / "birds", mode="RGB", size=(16, 16), classes=("cat", "owl"))
    with pytest.raises(CheckpointMismatchError, match=r"the class folders differ .*gone: dog, emu"):
        bars_zoo.search(preset="tiny", data_dir=other, out=out, resume=True, **kw)


@pytest.mark.parametrize(
    ("drop", "more", "message"),
    [
        ("--data-dir", [], "--dataset imagefolder needs --data-dir"),
        ("--input-shape", [], "--dataset imagefolder needs --input-shape: the images of a folder"),
        (None, ["--input-shape", "3x16"], "cannot read --input-shape '3x16' as an image shape"),
        (None, ["--input-shape", "4x16x16"], "gives 1 (grayscale) or 3 (RGB) channels, not 4"),
        (None, ["--batch-size", "32"], "each half of the 36 training images is smaller than"),
    ],
)
def test_search_imagefolder_refuses_a_request_it_cannot_search(
    pets, tmp_path, capsys, drop, more, message
):
    argv = _argv(pets, tmp_path / "x.geno", *more)
    if drop is not None:
        i = argv.index(drop)
        del argv[i : i + 2]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "hint: " in err and "Traceback" not in err
    assert (
        not (tmp_path / "x.geno").exists() and not (tmp_path / "x.run" / "checkpoint.pt").exists()
    )


def test_search_imagefolder_too_few_images_hints_to_add_images(pets, tmp_path, capsys):
    argv = _argv(pets, tmp_path / "x.geno", "--batch-size", "32")
    del argv[argv.index("--subset") : argv.index("--subset") + 2]
    assert main(argv) == 2
    assert f"add images to {pets / 'train'}" in capsys.readouterr().err


def test_search_imagefolder_refuses_a_folder_of_one_class(tmp_path, capsys):
    data = make_folder(tmp_path / "one", mode="RGB", size=(16, 16), classes=("cat",))
    assert main(_argv(data, tmp_path / "x.geno")) == 1
    err = capsys.readouterr().err
    assert "has one class folder (cat): a search needs two classes or more" in err
    assert "hint: put each class's images in a folder of its own" in err


def test_search_imagefolder_refuses_a_folder_name_the_genotype_cannot_hold(tmp_path, capsys):
    data = make_folder(tmp_path / "pets\tnew", mode="RGB", size=(16, 16))
    assert main(_argv(data, tmp_path / "x.geno", "--dry-run")) == 1
    err = capsys.readouterr().err
    assert "the folder name 'pets\\tnew' holds control characters" in err
    assert "hint: rename the folder" in err


def test_search_input_shape_is_refused_for_a_built_in_data_set(tmp_path, capsys):
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--input-shape", "3x32x32"]
    assert main([*argv, "-o", str(tmp_path / "x.geno"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--input-shape is for --dataset imagefolder: the synthetic images have a fixed" in err
    assert "hint: leave --input-shape out" in err


def test_python_search_imagefolder_without_input_shape_names_the_keyword(pets, tmp_path):
    with pytest.raises(ConfigError, match=r'^dataset="imagefolder" needs input_shape') as err:
        bars_zoo.search(preset="tiny", dataset="imagefolder", data_dir=pets, out=tmp_path / "x")
    assert 'input_shape="3x32x32"' in str(err.value.hint)


def test_search_config_reads_the_input_shape_as_the_genotype_writes_it():
    cfg = SearchConfig(preset="tiny", dataset="imagefolder", input_shape="1x28x28")
    assert cfg.input_shape == (1, 28, 28)
    assert cfg.fingerprint() != cfg.model_copy(update={"input_shape": (1, 32, 32)}).fingerprint()
    # a built-in data set's search keeps the fingerprint it had before input_shape was a setting
    assert SearchConfig(preset="tiny").fingerprint() == "f2b042378500875c"
