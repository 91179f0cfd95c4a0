"""A run on an image folder reads it as a plain reading would (the oracle: every file listed with
``os.walk``, decoded with ``read_image``, mean/std and the file record computed by hand), and
reads it once: one walk of the folder per run and one decode per image."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import bars_zoo
import bars_zoo.imagefolder
from bars_zoo.cli import main
from bars_zoo.distributed import DistEnv
from bars_zoo.imagefolder import IMAGE_SUFFIXES
from bars_zoo.images import read_image
from bars_zoo.traindata import training_data
from bars_zoo.training import TrainConfig, trajectory

SHAPE = (3, 8, 8)
CLASSES = ("ant", "bee", "cow")
#: the file record of the folder :func:`ppm_folder` writes, as runs have recorded it since
#: bars-zoo first recorded image folders (a change here means existing runs no longer resume)
GOLDEN_RECORD = {
    "classes": ["ant", "bee", "cow"],
    "train": {"dir": "train", "files": 27, "sha256": "2698a48c41e87b69"},
    "eval": {"dir": "val", "files": 9, "sha256": "1b1b7bce8d5ffc1e"},
}


def ppm_folder(root: Path) -> Path:
    """``root/{train,val}/<class>/``: uncompressed PPM files (byte-identical on every machine), a
    nested folder, an upper-case suffix, and a hidden file and a text file that are not read."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 9), ("val", 3)):
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                where = folder / "more" if (k, i) == (1, 4) else folder
                where.mkdir(exist_ok=True)
                suffix = ".PPM" if i == 2 else ".ppm"
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)  # (H, W, C)
                Image.fromarray(pixels, "RGB").save(where / f"{i:02d}{suffix}", format="PPM")
            (folder / ".hidden.ppm").write_bytes(b"not an image")
            (folder / "notes.txt").write_text("not an image")
    return root


# --------------------------------------------------------------------------- the oracle


def _listed(split_dir: Path) -> list[tuple[Path, int]]:
    out = []
    for label, name in enumerate(CLASSES):
        found = [
            Path(top) / f
            for top, _, names in os.walk(split_dir / name)
            for f in names
            if Path(f).suffix.lower() in IMAGE_SUFFIXES and not f.startswith(".")
        ]
        out += [(p, label) for p in sorted(found)]
    return out


def _read(files: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([read_image(p, SHAPE) for p, _ in files])  # (N, C, H, W)
    return images, torch.tensor([label for _, label in files])


def _stats(images: torch.Tensor, sample: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    n = len(images)
    if sample < n:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:sample]
        images = images[idx.sort().values]
    x = images.double().div(255).transpose(0, 1).reshape(SHAPE[0], -1)  # (C, N*H*W)
    mean = tuple(round(float(v), 4) for v in x.mean(dim=1))
    std = tuple(max(round(float(v), 4), 1e-4) for v in x.std(dim=1))
    return mean, std


def _record(split_dir: Path, files: list[tuple[Path, int]]) -> dict[str, Any]:
    digest = hashlib.sha256()
    for path, label in files:
        rel = path.relative_to(split_dir).as_posix()
        digest.update(f"{rel}\0{label}\0{os.path.getsize(path)}\n".encode())
    return {"dir": split_dir.name, "files": len(files), "sha256": digest.hexdigest()[:16]}


def _genotype() -> str:
    from tiny_net import two_stage

    return two_stage("tiny-once", "3x8x8").replace("classes=10", "classes=3")


@pytest.mark.parametrize("sample", [1000, 5])  # all images measured; a sample of 5 of 27
def test_imagefolder_run_reads_the_images_labels_stats_and_record_a_plain_reading_gives(
    tmp_path, monkeypatch, sample
):
    monkeypatch.setattr(bars_zoo.imagefolder, "STATS_SAMPLE", sample)
    data = ppm_folder(tmp_path / "bugs")
    spec = bars_zoo.parse(_genotype())
    cfg = TrainConfig(
        dataset="imagefolder",
        data_dir=str(data),
        val_fraction=0.0,
        batch_size=4,
        epochs=1,
        out_dir=str(tmp_path / "run"),
    ).resolved()
    run = training_data(spec, cfg, DistEnv(), torch.device("cpu"))
    train_files, test_files = _listed(data / "train"), _listed(data / "val")
    train, train_labels = _read(train_files)
    test, test_labels = _read(test_files)
    got = run.train.inner.data
    assert torch.equal(got.images, train) and torch.equal(got.labels, train_labels)
    got = run.test.data
    assert torch.equal(got.images, test) and torch.equal(got.labels, test_labels)
    assert run.info is not None
    assert (run.info.mean, run.info.std) == _stats(train, sample)
    assert run.info.classes == CLASSES and run.test_split == "bugs/val"
    record = trajectory(spec, cfg, run.info)["folder"]["files"]
    assert record == {
        "classes": list(CLASSES),
        "train": _record(data / "train", train_files),
        "eval": _record(data / "val", test_files),
    }
    assert record == GOLDEN_RECORD


# --------------------------------------------------------------------------- read once


class Reads:
    """While active: the walks of an image folder's ``train/`` (listings of one class folder, per
    those of one :func:`~bars_zoo.imagefolder.scan`) and the images decoded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, data: Path, first_class: str) -> None:
        self.marker, self.listings, self.decodes = os.fspath(data / "train" / first_class), 0, 0
        scandir, listdir, read = os.scandir, os.listdir, bars_zoo.imagefolder.read_image

        def count(path: Any) -> None:
            self.listings += os.fspath(path) == self.marker

        def counted_scandir(path: Any = ".") -> Any:
            count(path)
            return scandir(path)

        def counted_listdir(path: Any = ".") -> Any:
            count(path)
            return listdir(path)

        def counted_read(path: Any, shape: Any) -> torch.Tensor:
            self.decodes += 1
            return read(path, shape)

        monkeypatch.setattr(os, "scandir", counted_scandir)
        monkeypatch.setattr(os, "listdir", counted_listdir)
        monkeypatch.setattr(bars_zoo.imagefolder, "read_image", counted_read)
        bars_zoo.imagefolder.scan(data)
        self.per_walk, self.listings = self.listings, 0

    def take(self) -> tuple[float, int]:
        """``(walks, decodes)`` since the last take."""
        seen = (self.listings / self.per_walk, self.decodes)
        self.listings = self.decodes = 0
        return seen


def test_imagefolder_train_and_eval_walk_the_folder_once_and_decode_each_image_once(
    tmp_path, monkeypatch, capsys
):
    from test_imagefolder import _train, genotype, make_folder

    data = make_folder(tmp_path / "pets", mode="RGB", size=(16, 16))  # 3 x 12 train, 3 x 6 val
    reads = Reads(monkeypatch, data, "cat")
    assert _train(data, tmp_path / "run", genotype("3x16x16")).finished
    # the class check, statistics (all 36 images: fewer than STATS_SAMPLE), both splits, record
    assert reads.take() == (1, 36 + 18)
    args = ["eval", str(tmp_path / "run"), "--dataset", "imagefolder", "--data-dir", str(data)]
    assert main([*args, "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split_folder"] == "pets/val"
    assert reads.take() == (1, 18)  # the evaluation and the result's name of its split
    model = bars_zoo.build(bars_zoo.parse(genotype("3x16x16")))  # records no mean/std: measured
    assert bars_zoo.evaluate(model, "imagefolder", "train", data_dir=data, device="cpu")["n"] > 0
    assert reads.take() == (1, 36)


def test_imagefolder_search_walks_the_folder_once_and_decodes_each_image_once(
    tmp_path, monkeypatch, capsys
):
    from test_imagefolder import make_folder

    data = make_folder(tmp_path / "pets", mode="RGB", size=(16, 16))
    reads = Reads(monkeypatch, data, "cat")
    argv = ["search", "--preset", "tiny", "--dataset", "imagefolder", "--data-dir", str(data)]
    argv += ["--input-shape", "3x16x16", "--device", "cpu", "--no-plots", "--dry-run"]
    assert main([*argv, "-o", str(tmp_path / "pets.geno")]) == 0
    assert reads.take() == (1, 36)
