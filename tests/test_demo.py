"""`bars-zoo demo` (what `make demo` runs): bundled model, bundled images, offline."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from bars_zoo._resources import resource_dir
from bars_zoo.cli import main


def test_demo_classifies_the_bundled_images_offline_and_prints_accuracy_and_complexity(
    capsys, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    rows = json.loads((resource_dir("pretrained") / "samples" / "labels.json").read_text())[
        "images"
    ]
    assert all(r["file"] in out for r in rows)
    m = re.search(r"accuracy on (\d+) bundled test images: (\d+)/(\d+)", out)
    assert m and int(m.group(1)) == len(rows) == int(m.group(3))
    assert int(m.group(2)) >= len(rows) // 2  # a trained model, not chance (10 classes)
    assert "BOPs" in out and "packed" in out


def test_demo_with_a_folder_without_labels_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--images", str(tmp_path)]) == 2
    assert "labels.json" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["bars-zz"])
def test_demo_with_an_unknown_model_names_the_close_ones(model, capsys):
    assert main(["demo", "--model", model]) == 2
    assert "did you mean" in capsys.readouterr().err


SAMPLE = "fmnist-test-00064.png"


@pytest.mark.parametrize(
    ("index", "where"),
    [
        ("not json", "labels.json"),
        ('{"files": []}', "images"),
        ('{"images": []}', "no images"),
        ('{"images": [{"file": "' + SAMPLE + '"}]}', "label"),
        ('{"images": [{"label": 1}]}', "file"),
        ('{"images": [{"file": "' + SAMPLE + '", "label": "Dress"}]}', "label"),
        ('{"images": [{"file": "' + SAMPLE + '", "label": 10}]}', "label"),
        ('{"images": [{"file": "labels.json", "label": 1}]}', "labels.json"),
    ],
)
def test_demo_with_a_malformed_sample_folder_is_a_clear_error(tmp_path, capsys, index, where):
    (tmp_path / SAMPLE).write_bytes((resource_dir("pretrained") / "samples" / SAMPLE).read_bytes())
    (tmp_path / "labels.json").write_text(index)
    assert main(["demo", "--images", str(tmp_path)]) == 1  # read, and wrong
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert where in err


def test_demo_names_where_its_model_and_images_came_from(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tmp_path / "model"
    shutil.copytree(resource_dir("pretrained") / "bars-fmnist-s", model)
    images = tmp_path / "images"
    shutil.copytree(resource_dir("pretrained") / "samples", images)
    assert main(["demo", "--model", f"local-dir:{model}", "--images", str(images)]) == 0
    out = capsys.readouterr().out
    assert f"loaded offline from {model}" in out and "from the package" not in out
    assert f"images of {images}:" in out and "bundled test images" not in out
    assert main(["demo", "--model", "bars-fmnist-s"]) == 0
    out = capsys.readouterr().out
    assert "loaded offline from the package" in out and "bundled test images:" in out


SAMPLES = resource_dir("pretrained") / "samples"


def copies(tmp_path, convert, labels=None):
    """The bundled samples re-saved by ``convert(gray uint8 array, path)``."""
    import numpy as np
    from PIL import Image

    index = json.loads((SAMPLES / "labels.json").read_text())
    index.update(labels or {})
    (tmp_path / "labels.json").write_text(json.dumps(index))
    for row in index["images"]:
        convert(np.asarray(Image.open(SAMPLES / row["file"]).convert("L")), tmp_path / row["file"])
    return tmp_path


def accuracy(out: str) -> tuple[int, int]:
    m = re.search(r"accuracy on \d+ images of \S+: (\d+)/(\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def _sixteen_bit(a, path):
    from PIL import Image

    Image.fromarray(a.astype("uint16") * 257).save(path)


def _exif_rotated(a, path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn it 90 degrees clockwise: upright
    Image.fromarray(a).rotate(90, expand=True).save(path, exif=exif)


def _alpha_only(a, path):
    import numpy as np
    from PIL import Image

    rgba = np.full((*a.shape, 4), 255, dtype=np.uint8)
    rgba[..., 3] = a  # white ink, the background transparent
    Image.fromarray(rgba, "RGBA").save(path)


@pytest.mark.parametrize("convert", [_sixteen_bit, _exif_rotated, _alpha_only])
def test_demo_reads_images_as_they_are_shown(convert, tmp_path, capsys):
    assert main(["demo"]) == 0
    bundled = accuracy(capsys.readouterr().out.replace("bundled test images", "images of x"))
    assert main(["demo", "--images", str(copies(tmp_path, convert))]) == 0
    assert accuracy(capsys.readouterr().out) == bundled


def test_demo_refuses_images_of_another_data_set_than_the_models(tmp_path, capsys):
    folder = copies(tmp_path, lambda a, p: shutil.copy(SAMPLES / p.name, p), {"dataset": "cifar10"})
    assert main(["demo", "--images", str(folder)]) == 2
    assert "trained on fashion-mnist" in capsys.readouterr().err


def test_demo_refuses_an_image_too_large_to_open_safely(tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 28x28 samples are "bombs" now
    assert main(["demo"]) == 1
    assert "too large to open safely" in capsys.readouterr().err


def test_demo_names_a_missing_images_folder(tmp_path, capsys):
    assert main(["demo", "--images", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_demo_refuses_a_labels_json_naming_a_missing_file_as_a_usage_error(tmp_path, capsys):
    (tmp_path / "labels.json").write_text('{"images": [{"file": "missing.png", "label": 1}]}')
    assert main(["demo", "--images", str(tmp_path)]) == 2  # a file that does not exist
    err = capsys.readouterr().err
    assert f"error: no such file: {tmp_path / 'missing.png'}" in err
    assert "PIL can decode" not in err and "Traceback" not in err
