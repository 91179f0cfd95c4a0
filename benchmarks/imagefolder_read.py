"""How often a run on an image folder walks the folder and decodes its images, and how long it takes.

    .venv/bin/python -m benchmarks.imagefolder_read                          # 20 classes x 500
    .venv/bin/python -m benchmarks.imagefolder_read --classes 5 --per-class 100 --label after

A folder of ``--classes x --per-class`` training PNGs (``--size`` square, RGB, random pixels) and
``--classes x --eval-per-class`` ``val/`` PNGs is written to a temporary folder, then:

* ``train``: ``bars_zoo.train`` of a tiny genotype on it, stopped right after the run has its
  uint8 tensors, mean/std and file record (the trajectory whose fingerprint a resume compares:
  ``bars_zoo.trainer.fingerprinted`` is replaced by a stop);
* ``eval``: ``bars-zoo eval`` (the CLI) of an untrained model folder that records the folder's
  classes and mean/std, as a trained run's model does (its inference on the ``val/`` images
  included).

Counted: directory listings (``os.scandir``/``os.listdir`` calls: one per folder listed; walks of
``train/``: the listings of its first class folder, divided by those of one
``bars_zoo.imagefolder.scan``), and image decodes (calls of
``bars_zoo.imagefolder.read_image``).  Also recorded: a sha256 of the training and test tensors,
labels and mean/std and the run's fingerprint, so that two versions of the code can be compared
on the very same folder (they must agree).  Results: ``benchmarks/results/imagefolder_read.json``
(one entry per ``--label``) and ``imagefolder_read.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import bars_zoo
import bars_zoo.imagefolder
import bars_zoo.traindata
import bars_zoo.trainer
from bars_zoo import checkpoint as ckpt
from bars_zoo._io import atomic_write_text
from bars_zoo.cli import main as cli
from bars_zoo.folder import save_pretrained

RESULTS = Path(__file__).resolve().parent / "results"

GENOTYPE = """bars 1
name "bench-folder"
input 3x{size}x{size} classes={classes}
stem conv3x3 channels=8 stride=2 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {{
  n1 <- in: bconv3x3
}}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=true {{
  n1 <- in: bconv3x3
}}
stage s1: channels=8 depth=1 cell=normal
downsample cell=reduce
stage s2: channels=16 depth=1 cell=normal
head avgpool linear
"""


class _Stop(Exception):
    """Raised where the benchmark has seen what it measures."""


def make_folder(root: Path, classes: int, per_class: int, eval_per_class: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", eval_per_class)):
        for k in range(classes):
            folder = root / split / f"class{k:02d}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(folder / f"{i:04d}.png")
    return root


class Counter:
    """Counts directory listings (and those of ``walked``: one per walk of ``train/``) and image
    decodes while active."""

    def __init__(self, walked: Path) -> None:
        self.walked = os.fspath(walked)
        self.listings = self.walks = self.decodes = 0
        self.per_walk = 1  # listings of ``walked`` in one walk (Python 3.11's rglob: 2)

    def calibrate(self, data: Path) -> None:
        """Count the listings of ``walked`` in one :func:`bars_zoo.imagefolder.scan` of ``data``."""
        with self.active():
            bars_zoo.imagefolder.scan(data)
        self.per_walk, self.listings, self.walks, self.decodes = self.walks, 0, 0, 0

    @contextlib.contextmanager
    def active(self) -> Iterator[Counter]:
        scandir, listdir = os.scandir, os.listdir
        read = bars_zoo.imagefolder.read_image

        def count(path: Any) -> None:
            self.listings += 1
            self.walks += os.fspath(path) == self.walked

        def counted_scandir(path: Any = ".") -> Any:
            count(path)
            return scandir(path)

        def counted_listdir(path: Any = ".") -> Any:
            count(path)
            return listdir(path)

        def counted_read(path: Any, shape: Any) -> torch.Tensor:
            self.decodes += 1
            return read(path, shape)

        os.scandir, os.listdir = counted_scandir, counted_listdir  # type: ignore[assignment]
        bars_zoo.imagefolder.read_image = counted_read  # type: ignore[assignment]
        try:
            yield self
        finally:
            os.scandir, os.listdir = scandir, listdir  # type: ignore[assignment]
            bars_zoo.imagefolder.read_image = read  # type: ignore[assignment]


def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def bench_train(data: Path, work: Path, text: str) -> dict[str, Any]:
    """Times ``bars_zoo.train`` up to the trajectory (tensors, stats, file record)."""
    seen: dict[str, Any] = {}
    holdout, loader = bars_zoo.traindata.holdout, bars_zoo.traindata.BatchLoader

    def stop(fields: dict[str, Any]) -> Any:
        seen["fingerprint"] = ckpt.fingerprint(bars_zoo.training.fingerprinted(fields))
        seen["folder"] = fields["folder"]
        raise _Stop

    def keep_train(images: Any, *a: Any) -> Any:
        seen["train"] = _digest(images.images, images.labels)
        return holdout(images, *a)

    def keep_test(images: Any, *a: Any, **kw: Any) -> Any:
        if not kw.get("drop_last"):  # the validation and then the test batches
            seen["test"] = _digest(images.images, images.labels)
        return loader(images, *a, **kw)

    counter = Counter(data / "train" / "class00")
    counter.calibrate(data)
    bars_zoo.trainer.fingerprinted = stop  # type: ignore[assignment]
    bars_zoo.traindata.holdout = keep_train  # type: ignore[assignment]
    bars_zoo.traindata.BatchLoader = keep_test  # type: ignore[assignment,misc]
    t0 = time.perf_counter()
    try:
        with counter.active(), contextlib.suppress(_Stop):
            bars_zoo.train(
                bars_zoo.parse(text),
                dataset="imagefolder",
                data_dir=data,
                out_dir=work / "run",
                epochs=1,
                batch_size=8,
                device="cpu",
                progress=False,
            )
    finally:
        bars_zoo.trainer.fingerprinted = bars_zoo.training.fingerprinted
        bars_zoo.traindata.holdout, bars_zoo.traindata.BatchLoader = holdout, loader  # type: ignore[misc]
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 2),
        "walks": counter.walks / counter.per_walk,
        "listings": counter.listings,
        "decodes": counter.decodes,
        **seen,
    }


def bench_eval(data: Path, work: Path, text: str, folder_record: dict[str, Any]) -> dict[str, Any]:
    """Times ``bars-zoo eval`` of a model folder that records the folder's classes and mean/std."""
    model = bars_zoo.build(bars_zoo.parse(text))
    cfg = {
        "dataset": folder_record["name"],
        "mean": folder_record["mean"],
        "std": folder_record["std"],
        "labels": folder_record["classes"],
    }
    model_dir = save_pretrained(model, work / "model", pretrained_cfg=cfg)
    counter = Counter(data / "train" / "class00")
    counter.calibrate(data)
    args = ["eval", str(model_dir), "--dataset", "imagefolder", "--data-dir", str(data)]
    t0 = time.perf_counter()
    with counter.active(), contextlib.redirect_stdout(io.StringIO()):
        rc = cli([*args, "--device", "cpu", "--json"])
    seconds = time.perf_counter() - t0
    assert rc == 0, rc
    return {
        "seconds": round(seconds, 2),
        "walks": counter.walks / counter.per_walk,
        "listings": counter.listings,
        "decodes": counter.decodes,
    }


def _markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Image folder: directory walks, decodes and time of one run's preparation",
        "",
        "Made by `benchmarks/imagefolder_read.py` (see its docstring for what is measured).",
        "`walks`: walks of `DIR/train` (listings of its first class folder / those of one `scan`);",
        "`listings`: every folder listed (`os.scandir`/`os.listdir`); `decodes`: `read_image`",
        "calls.  `train` stops once the run has its tensors, mean/std and file record; `eval` is the",
        "whole `bars-zoo eval` command (inference on the val/ images included).  Times are one run",
        "on a shared machine with the page cache warm: a network file system pays far more per walk",
        "and per decode.  The digests must agree between versions (same tensors, labels, mean/std",
        "and file record: the run's fingerprint).",
        "",
        "| version | folder | step | seconds | walks | listings | decodes | digests |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for label, r in results.items():
        folder = f"{r['images']['train']}+{r['images']['val']} imgs {r['images']['size']}px"
        t, e = r["train"], r["eval"]
        digests = f"train {t['train']}, test {t['test']}, fp {t['fingerprint']}"
        lines.append(
            f"| {label} | {folder} | train | {t['seconds']} | {t['walks']} | {t['listings']} | "
            f"{t['decodes']} | {digests} |"
        )
        lines.append(
            f"| {label} | {folder} | eval | {e['seconds']} | {e['walks']} | {e['listings']} | "
            f"{e['decodes']} | |"
        )
    lines.append("")
    for label, r in results.items():
        lines.append(f"- {label}: `{r['command']}` on {r['machine']}, torch {r['torch']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=500, help="training images per class")
    parser.add_argument("--eval-per-class", type=int, default=50, help="val/ images per class")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--label", default="current", help="the entry's name in the results")
    parser.add_argument("--out", type=Path, default=RESULTS)
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(given)
    torch.set_num_threads(2)
    text = GENOTYPE.format(size=args.size, classes=args.classes)
    with tempfile.TemporaryDirectory(prefix="bench-imagefolder-") as tmp:
        work = Path(tmp)
        data = make_folder(
            work / "pics", args.classes, args.per_class, args.eval_per_class, args.size
        )
        train = bench_train(data, work, text)
        folder = train.pop("folder")
        evaluation = bench_eval(data, work, text, folder)
    entry = {
        "images": {
            "train": args.classes * args.per_class,
            "val": args.classes * args.eval_per_class,
            "size": args.size,
        },
        "train": train,
        "eval": evaluation,
        "command": " ".join(["python -m benchmarks.imagefolder_read", *given]),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
    }
    print(json.dumps(entry, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "imagefolder_read.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[args.label] = entry
    atomic_write_text(path, json.dumps(results, indent=2) + "\n")
    atomic_write_text(args.out / "imagefolder_read.md", _markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
