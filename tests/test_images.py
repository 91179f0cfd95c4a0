"""One image reader (``bars_zoo/images.py``) for image folders, the demo and
``bars_zoo.preprocess``: 16-bit, EXIF orientation, the pixel limit, cover-resize + center-crop."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bars_zoo
from bars_zoo.cli import main
from bars_zoo.data import normalize
from bars_zoo.errors import ConfigError, DatasetError, ImageNotFoundError
from bars_zoo.imagefolder import folder_info, load_folder, model_folder_info

SHAPE = (1, 28, 28)


def _gradient(h: int = 28, w: int = 28) -> np.ndarray:
    """A uint8 (H, W) image whose rows and columns all differ (orientation shows)."""
    yy, xx = np.mgrid[:h, :w]
    return ((yy * 7 + xx * 2) % 256).astype(np.uint8)


def _folder(root: Path, writer) -> Path:
    """``root/train/a/0.png`` written by ``writer(path)``, plus an ordinary image per class."""
    for name in ("a", "b"):
        (root / "train" / name).mkdir(parents=True)
        Image.fromarray(_gradient(), "L").save(root / "train" / name / "1.png")
    writer(root / "train" / "a" / "0.png")
    return root


def _first_image(root: Path) -> torch.Tensor:
    return load_folder(root, "train", folder_info(root, SHAPE)).images[0]  # (C, H, W)


def test_imagefolder_reads_a_16_bit_png_scaled_not_clipped_to_white(tmp_path):
    a = _gradient()
    data = _folder(tmp_path / "d", lambda p: Image.fromarray(a.astype(np.uint16) * 257).save(p))
    assert Image.open(data / "train" / "a" / "0.png").mode.startswith("I;16")
    got = _first_image(data)
    assert torch.equal(got[0], torch.from_numpy(a))  # v * 257 / 257: the 8-bit values back


def test_imagefolder_reads_an_exif_rotated_jpeg_upright(tmp_path):
    a = np.zeros((28, 28), np.uint8)
    a[:, :10] = 255  # a bright band on the left, as the image is shown

    def rotated(path: Path) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6  # stored turned; viewers turn it 90 degrees clockwise
        Image.fromarray(a).rotate(90, expand=True).save(path.with_suffix(".jpg"), exif=exif)

    data = _folder(tmp_path / "d", rotated)
    got = _first_image(data)[0].float()
    assert got[:, :10].mean() > 200 and got[:, 14:].mean() < 50  # the band is on the left


def test_imagefolder_refuses_an_image_over_the_pixel_limit_naming_it(tmp_path, monkeypatch):
    data = _folder(tmp_path / "d", lambda p: Image.new("1", (60, 60)).save(p))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3600 pixels: past twice the limit
    big = data / "train" / "a" / "0.png"
    with pytest.raises(
        DatasetError, match=rf"{re.escape(str(big))} is too large .* limit of 1,000 pixels"
    ):
        folder_info(data, SHAPE)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # over the limit, under twice it
    with pytest.raises(
        DatasetError, match=rf"{re.escape(str(big))} is too large .* limit of 3,000 pixels"
    ):
        folder_info(data, SHAPE)


def test_train_cli_refuses_an_oversized_image_without_a_traceback(tmp_path, capsys, monkeypatch):
    data = _folder(tmp_path / "d", lambda p: Image.new("1", (60, 60)).save(p))
    (data / "val").mkdir()
    for name in ("a", "b"):
        (data / "val" / name).mkdir()
        Image.fromarray(_gradient(), "L").save(data / "val" / name / "0.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    argv = ["train", "bars-fmnist-s", "--init", "pretrained", "--dataset", "imagefolder"]
    argv += ["--data-dir", str(data), "--epochs", "1", "-o", str(tmp_path / "run")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "0.png is too large to open safely" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_preprocess_and_imagefolder_prepare_an_off_size_image_identically(tmp_path):
    rng = np.random.default_rng(0)
    off = rng.integers(0, 256, (45, 70), dtype=np.uint8)  # not 28x28, not square
    data = _folder(tmp_path / "d", lambda p: Image.fromarray(off, "L").save(p))
    model = bars_zoo.load("bars-fmnist-m")
    info = model_folder_info(model, data)
    assert info is not None
    read = load_folder(data, "train", info).images[:1]  # what training sees, (1, C, H, W)
    stretched = np.array(Image.fromarray(off).resize((28, 28)))
    assert not torch.equal(read[0, 0], torch.from_numpy(stretched))  # covered and cropped
    want = normalize(read, info)
    path = data / "train" / "a" / "0.png"
    assert torch.equal(bars_zoo.preprocess(path, model), want)
    assert torch.equal(bars_zoo.preprocess([Image.open(path)], model), want)
    assert torch.equal(bars_zoo.preprocess(torch.from_numpy(off), model), want)


def test_demo_crops_an_off_size_image_as_training_does_instead_of_stretching(tmp_path, capsys):
    from test_demo import SAMPLES, accuracy, copies

    def padded(a: np.ndarray, path: Path) -> None:
        wide = np.full((28, 40), 255, np.uint8)  # white bars left and right, cropped away
        wide[:, 6:34] = a
        Image.fromarray(wide).save(path)

    assert main(["demo"]) == 0
    bundled = accuracy(capsys.readouterr().out.replace("bundled test images", "images of x"))
    assert SAMPLES.is_dir()
    assert main(["demo", "--images", str(copies(tmp_path, padded))]) == 0
    assert accuracy(capsys.readouterr().out) == bundled


def test_preprocess_refuses_what_is_not_an_image_and_models_without_a_cfg():
    model = bars_zoo.load("bars-fmnist-m")
    with pytest.raises(ConfigError, match="must be uint8"):
        bars_zoo.preprocess(torch.zeros(28, 28), model)
    odd = model.spec.model_copy(update={"num_classes": 7, "meta": {}})  # no known data set's
    with pytest.raises(ConfigError, match="no pretrained_cfg and its input 1x28x28 with 7 classes"):
        bars_zoo.preprocess(torch.zeros(28, 28, dtype=torch.uint8), bars_zoo.build(odd))
    from test_demo import SAMPLES

    with pytest.raises(DatasetError, match=r"cannot read the image .*labels\.json"):
        bars_zoo.preprocess(SAMPLES / "labels.json", model)  # a file, not an image


def test_preprocess_refuses_a_missing_file_as_missing_not_as_undecodable(tmp_path):
    model = bars_zoo.load("bars-fmnist-m")
    with pytest.raises(ImageNotFoundError, match=r"^no such file: .*nope\.png") as caught:
        bars_zoo.preprocess([tmp_path / "nope.png"], model)
    assert "PIL can decode" not in str(caught.value) and caught.value.exit_code == 2
    assert isinstance(caught.value, DatasetError)  # still caught as before
    with pytest.raises(ImageNotFoundError, match="is a folder, not an image file"):
        bars_zoo.preprocess([tmp_path], model)


def test_a_built_model_has_a_pretrained_cfg_attribute_and_preprocess_feeds_it_as_its_data_set():
    # build(spec) had no pretrained_cfg attribute, and preprocess refused it even when the spec's
    # input is a known data set's (fashion-mnist here)
    model = bars_zoo.load("bars-fmnist-m")
    built = bars_zoo.build(model.spec)
    assert built.pretrained_cfg is None  # no weights of its own: no provenance claimed
    image = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    assert torch.equal(bars_zoo.preprocess(image, built), bars_zoo.preprocess(image, model))


@pytest.mark.parametrize(
    ("model", "match", "hint"),
    [
        (
            None,
            "preprocess needs a model \\(or its PretrainedCfg\\), got NoneType",
            "bars_zoo.load(",
        ),
        ("bars-fmnist-s", "got str 'bars-fmnist-s'", "bars_zoo.load('bars-fmnist-s')"),
    ],
)
def test_preprocess_refuses_what_is_not_a_model_with_a_hint_to_load_it(model, match, hint):
    # None said "this model has no pretrained_cfg"; a name the same
    with pytest.raises(ConfigError, match=match) as caught:
        bars_zoo.preprocess(torch.zeros(28, 28, dtype=torch.uint8), model)
    assert hint in (caught.value.hint or "")


@pytest.mark.parametrize("url", ["https://example.com/x.png", "HTTP://example.com/x.png"])
def test_preprocess_refuses_a_url_saying_it_reads_local_files_only(url):
    # was "no such file: https:/example.com/x.png"
    model = bars_zoo.load("bars-fmnist-m")
    with pytest.raises(
        ImageNotFoundError, match=rf"{re.escape(url)} is a URL; preprocess reads local files only"
    ) as caught:
        bars_zoo.preprocess(url, model)
    assert "download it first" in (caught.value.hint or "")
