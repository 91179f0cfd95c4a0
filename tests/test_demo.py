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
    assert main(["demo", "--model", model]) == 1
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
        ('{"images": [{"file": "missing.png", "label": 1}]}', "missing.png"),
        ('{"images": [{"file": "labels.json", "label": 1}]}', "labels.json"),
    ],
)
def test_demo_with_a_malformed_sample_folder_is_a_clear_error(tmp_path, capsys, index, where):
    (tmp_path / SAMPLE).write_bytes((resource_dir("pretrained") / "samples" / SAMPLE).read_bytes())
    (tmp_path / "labels.json").write_text(index)
    assert main(["demo", "--images", str(tmp_path)]) == 2
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
