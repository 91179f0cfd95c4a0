"""``bars-zoo demo``: the README's first command.

Loads a bundled pretrained model (default ``bars-fmnist-m``) from the package, offline, classifies
the bundled Fashion-MNIST test images, and prints the predictions, the accuracy on them and the
model's complexity.

``--images DIR`` classifies a folder of one's own instead: its images are prepared by
:func:`bars_zoo.preprocess`, exactly as training and evaluation on an image folder read them
(upright, 16-bit and transparency handled, converted to the model's channels; an image of another
size than the model's input scaled to cover it and center-cropped, never stretched).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bars_zoo._resources import resource_dir
from bars_zoo.commands.options import add_device
from bars_zoo.errors import ConfigError, IntegrityError

HELP = "classify bundled sample images with a bundled pretrained model (offline)"
DEFAULT_MODEL = "bars-fmnist-m"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"pretrained model (default {DEFAULT_MODEL})"
    )
    p.add_argument(
        "--images",
        metavar="DIR",
        default=None,
        help="folder with labels.json and its images (default: the bundled samples)",
    )
    add_device(p, default="cpu", default_text="cpu")


def read_samples(folder: Path) -> tuple[str | None, list[dict[str, object]]]:
    """The ``labels.json`` index of a sample folder: the data set its images come from (its
    ``"dataset"``, if it names one) and ``[{"file", "label", "class"}, ...]``."""
    if not folder.is_dir():
        raise ConfigError(
            f"--images {folder}: {'not a folder' if folder.exists() else 'no such folder'}",
            hint="give the folder that holds labels.json and its images",
        )
    index = folder / "labels.json"
    if not index.is_file():
        raise ConfigError(
            f"no labels.json in {folder}",
            hint='a sample folder holds images plus labels.json: {"images": [{"file": ..., "label": ...}]}',
        )
    hint = 'write {"images": [{"file": "NAME.png", "label": CLASS_INDEX}, ...]}'
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise IntegrityError(f"{index} is not valid JSON: {e}", hint=hint) from e
    rows = data.get("images") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise IntegrityError(f'{index} has no list of "images"', hint=hint)
    if not rows:
        raise IntegrityError(f"{index} lists no images", hint=hint)
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("file"), str):
            raise IntegrityError(f'{index}: image {i + 1} has no "file" name', hint=hint)
        label = row.get("label")
        if not isinstance(label, int) or isinstance(label, bool):
            raise IntegrityError(
                f'{index}: image {i + 1} ({row["file"]}) has no whole-number "label"',
                hint=hint,
            )
    dataset = data.get("dataset")
    return (dataset if isinstance(dataset, str) else None), rows


def weights_origin(model: str) -> str:
    """Where ``bars_zoo.load(model)`` (offline) took the weights from, in words."""
    from bars_zoo import registry
    from bars_zoo.hub import LOCAL_PREFIX
    from bars_zoo.hubclient import HUB_PREFIX

    if model.startswith(LOCAL_PREFIX):
        return f"from {model[len(LOCAL_PREFIX) :]}"
    if model.startswith(HUB_PREFIX):
        return "from the Hugging Face cache"
    source = registry.weights_source(model, registry.get(model))
    if source == "bundled":
        return "from the package"
    if source is None or source.startswith(HUB_PREFIX):
        return "from the Hugging Face cache"
    return f"from {source}"


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo never touches the network
    import torch

    import bars_zoo

    bundled = resource_dir("pretrained") / "samples"
    folder = Path(args.images).expanduser() if args.images is not None else bundled
    shown, rows = read_samples(folder)
    model = bars_zoo.load(args.model, device=args.device)
    cfg = model.pretrained_cfg
    if shown is not None and cfg.dataset is not None and shown != cfg.dataset:
        raise ConfigError(
            f"the images are {shown} images (labels.json), but {args.model} was trained on "
            f"{cfg.dataset}: its predictions would mean nothing",
            hint=f"use a model trained on {shown}, or images of {cfg.dataset}",
        )
    for row in rows:
        label = int(str(row["label"]))
        if not 0 <= label < cfg.num_classes:
            raise IntegrityError(
                f"{folder / 'labels.json'}: {row['file']} has label {label}, but {args.model} "
                f"has {cfg.num_classes} classes",
                hint=f"labels are class indices 0..{cfg.num_classes - 1}",
            )
    x = bars_zoo.preprocess([folder / str(row["file"]) for row in rows], model)  # (N, C, H, W)
    with torch.inference_mode():
        probs = model(x).softmax(dim=1).cpu()
    conf, pred = probs.max(dim=1)
    labels = list(cfg.labels) or [str(i) for i in range(cfg.num_classes)]

    print(
        f"bars-zoo demo: {args.model} ({cfg.dataset}), loaded offline {weights_origin(args.model)}"
    )
    print(f"{'image':<26} {'true':<12} {'predicted':<12} {'conf':>5}")
    correct = 0
    for row, p, cf in zip(rows, pred.tolist(), conf.tolist(), strict=True):
        ok = p == int(str(row["label"]))
        correct += ok
        true = labels[int(str(row["label"]))]
        print(f"{row['file']!s:<26} {true:<12} {labels[p]:<12} {cf:5.2f} {'ok' if ok else 'MISS'}")
    n = len(rows)
    which = "bundled test images" if args.images is None else f"images of {folder}"
    print(f"\naccuracy on {n} {which}: {correct}/{n} = {100 * correct / n:.1f} %")
    if cfg.top1 is not None:
        print(f"recorded top-1 on {cfg.top1_split()}: {cfg.top1:.2f} %")
    print()
    print(bars_zoo.complexity(model.spec).summary())
    return 0
