"""A user's own images: ``--dataset imagefolder --data-dir DIR`` (torchvision ``ImageFolder``
conventions).

``DIR/train/<class>/*.png`` (or .jpg, .jpeg, .bmp, .gif, .ppm, .pgm, .tif, .tiff, .webp) holds the
training images, ``DIR/test/<class>/`` or else ``DIR/val/<class>/`` the evaluation ("test") split.
Class names are the sorted names of the class folders (hidden ones skipped), label ``i`` the
``i``-th; both splits must have the same class folders.

Images are read by :func:`bars_zoo.images.read_image` (upright by their EXIF orientation, 16-bit
scaled to 8 bits, transparency on black, converted to the genotype's channel count - 1: grayscale
``L``, 3: ``RGB`` - scaled to cover the genotype's ``H x W`` and center-cropped to it; images over
Pillow's pixel limit refused, naming the file), and kept in memory as ``uint8``
(:class:`bars_zoo.data.ImageSet`), so batching, the held-out split, ``--subset`` and exact resumes
work as for the other in-memory data sets.  The normalisation (per-channel mean/std) is measured
once on a seeded sample of :data:`STATS_SAMPLE` training images at that size and recorded in the
run's ``pretrained_cfg``.

A run reads the folder once: :func:`scan` walks it into a :class:`FolderLayout`, which stands for
the folder (it is a path-like object) wherever this module, :mod:`bars_zoo.imagefiles` and the
runs take a ``data_dir``, so that the statistics, both splits and the file record of one run all
come from the one walk; and the training images :func:`folder_info` decodes to measure the
statistics are kept on the layout until :func:`load_folder` reads the training split, which takes
them instead of decoding them again.  A layout belongs to one run: nothing is cached by path.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from bars_zoo.builder import unwrap_model
from bars_zoo.data import DATASETS, DatasetInfo, ImageSet, Split
from bars_zoo.errors import ConfigError, DatasetError, DatasetNotFoundError, option
from bars_zoo.images import read_image
from bars_zoo.knowndata import known_name

log = logging.getLogger(__name__)

#: file name endings read as images (lower-cased), as torchvision's ``ImageFolder`` reads
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
#: training images the mean/std are measured on (a seeded sample; all of them when fewer)
STATS_SAMPLE = 1000
#: names a folder cannot record as they are: bars-zoo's ``--dataset`` choices (see ``FolderLayout.name``)
_RESERVED = ("fashion-mnist", "cifar10", "imagenet", "synthetic", "imagefolder")
_LAYOUT = "DIR/train/<class>/*.png|*.jpg ... and DIR/val/<class>/ (or DIR/test/<class>/)"


@dataclass(frozen=True)
class FolderLayout:
    """The files of an image folder: its split folders, class names and ``(path, label)`` lists
    (those of the evaluation split listed when first asked for, :attr:`eval_files`).  A path-like
    object (its root), so that it is passed on as the ``data_dir`` it was scanned from; ``str()``
    is that root, and its repr counts the files rather than listing them."""

    root: Path
    classes: tuple[str, ...]
    train: tuple[tuple[Path, int], ...]
    eval_dir: Path | None  # test/ or val/, None when neither exists
    # training images decoded for the statistics, by shape: (C, H, W) -> {path: (C, H, W) uint8}
    _decoded: dict[tuple[int, int, int], dict[Path, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def __str__(self) -> str:  # the folder, as a message that formats a data_dir names it
        return str(self.root)

    def __repr__(self) -> str:  # short: the generated one listed every image's path
        split = f"{self.eval_dir.name}/" if self.eval_dir is not None else "none"
        return (
            f"FolderLayout({str(self.root)!r}, {len(self.classes)} classes, "
            f"{len(self.train)} training images, evaluation split {split})"
        )

    @cached_property
    def eval_files(self) -> tuple[tuple[Path, int], ...]:
        """Every image of the evaluation split as ``(path, label)`` (none without one); refuses a
        class folder without images, as :func:`scan` refuses one in ``train/``."""
        return _files(self.eval_dir, self.classes) if self.eval_dir is not None else ()

    @property
    def name(self) -> str:
        """The name under which a model records the data set it learnt on: the folder's own name,
        unless it spells a data set bars-zoo knows in any of the ways records are read
        (:func:`bars_zoo.knowndata.known_name`: a folder called ``CIFAR-10`` or ``fashion_mnist``
        is not that data set), then ``imagefolder:NAME``."""
        name = self.root.resolve().name or "imagefolder"
        spells_known = name in _RESERVED or known_name(name) is not None
        return f"imagefolder:{name}" if spells_known else name


def _root(data_dir: str | os.PathLike[str] | None) -> Path:
    if data_dir is None:
        raise ConfigError(
            f"{option('dataset', 'imagefolder')} needs {option('data_dir')}",
            hint=f"pass {option('data_dir')} {_LAYOUT}",
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        what = "not a folder" if root.exists() else "no such folder"
        raise ConfigError(
            f"{option('data_dir', root)}: {what}", hint=f"give a folder laid out as {_LAYOUT}"
        )
    return root


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(
        (p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def _files(split_dir: Path, classes: tuple[str, ...]) -> tuple[tuple[Path, int], ...]:
    """Every image of a split as ``(path, label)``, class by class in sorted file order; refuses
    a split without class folders and a class folder without images."""
    found = _class_dirs(split_dir)
    if not found:
        raise DatasetNotFoundError(
            f"{split_dir} has no class folders",
            hint=f"put each class's images in a folder of its own: {_LAYOUT}",
        )
    out: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        images = sorted(p for p in (split_dir / name).rglob("*") if p.is_file() and _is_image(p))
        if not images:
            raise DatasetNotFoundError(
                f"the class folder {split_dir / name} holds no images",
                hint=f"add images ({', '.join(IMAGE_SUFFIXES)}) or remove the folder",
            )
        out += [(p, label) for p in images]
    return tuple(out)


def scan(data_dir: str | os.PathLike[str] | None) -> FolderLayout:
    """The layout of ``data_dir``: its ``train/`` classes and files and its evaluation split
    (``test/``, else ``val/``).  Refuses a missing folder or ``train/``, a class folder without
    images, and an evaluation split whose class folders are not ``train/``'s (naming those that
    differ).  A :class:`FolderLayout` is already scanned: it is returned as it is."""
    if isinstance(data_dir, FolderLayout):
        return data_dir
    root = _root(data_dir)
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DatasetNotFoundError(
            f"{root} has no train/ folder", hint=f"lay the images out as {_LAYOUT}"
        )
    classes = tuple(p.name for p in _class_dirs(train_dir))
    train = _files(train_dir, classes)
    eval_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    if eval_dir is not None:
        theirs = tuple(p.name for p in _class_dirs(eval_dir))
        if theirs != classes:
            only_train = sorted(set(classes) - set(theirs))
            only_eval = sorted(set(theirs) - set(classes))
            parts = [f"only in train/: {', '.join(only_train)}"] if only_train else []
            parts += [f"only in {eval_dir.name}/: {', '.join(only_eval)}"] if only_eval else []
            raise DatasetError(
                f"{root}: train/ and {eval_dir.name}/ have different class folders "
                f"({'; '.join(parts)})",
                hint="both splits need one folder per class, with the same names",
            )
    return FolderLayout(root, classes, train, eval_dir)


def split_name(data_dir: str | os.PathLike[str] | None, split: str) -> str:
    """Where the images of ``split`` (``test``, ``train`` or ``val``) come from, in words:
    ``"sketches/val"`` for ``test`` when the folder has no ``test/``, ``"sketches/test"`` when it
    has; ``"sketches/train"`` without its held-out share (``train``) or that share (``val``)."""
    layout = scan(data_dir)
    name = layout.root.resolve().name
    if split == "test":
        return f"{name}/{layout.eval_dir.name if layout.eval_dir else 'test'}"
    if split == "val":
        return f"the share of {name}/train held out for validation"
    return f"{name}/train without its held-out share"


def folder_classes(data_dir: str | os.PathLike[str] | None) -> tuple[str, ...]:
    """The class names of an image folder (sorted class-folder names of ``train/``)."""
    return scan(data_dir).classes


def _check_channels(shape: tuple[int, int, int]) -> None:
    if shape[0] not in (1, 3):
        raise ConfigError(
            f"an image folder gives 1 (grayscale) or 3 (RGB) channels, but the genotype's input "
            f"line asks for {shape[0]}",
            hint="write `input 1xHxW` or `input 3xHxW` in the genotype",
        )


def _load(
    files: list[tuple[Path, int]],
    shape: tuple[int, int, int],
    decoded: dict[Path, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, ...]:
    """The images (``decoded``'s where it has them, the others read) and labels of ``files``."""
    decoded = decoded or {}
    images = torch.empty((len(files), *shape), dtype=torch.uint8)  # (N, C, H, W)
    for i, (path, _) in enumerate(files):
        known = decoded.get(path)
        images[i] = known if known is not None else read_image(path, shape)
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return images, labels


def _pick(n: int, k: int, seed: int) -> list[int]:
    """A seeded sample of ``k`` of ``n`` indices in their original order (all when ``k >= n``)."""
    if k >= n:
        return list(range(n))
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]
    return idx.sort().values.tolist()


def folder_info(
    data_dir: str | os.PathLike[str] | None, input_shape: tuple[int, int, int]
) -> DatasetInfo:
    """The :class:`DatasetInfo` of an image folder read at ``input_shape``: its name, class names
    and the mean/std of a seeded sample of :data:`STATS_SAMPLE` training images (4 decimals).
    Given a :class:`FolderLayout`, it keeps the decoded sample for :func:`load_folder`."""
    _check_channels(input_shape)
    layout = scan(data_dir)
    files = [layout.train[i] for i in _pick(len(layout.train), STATS_SAMPLE, 0)]
    images, _ = _load(files, input_shape)
    layout._decoded[input_shape] = {path: images[i] for i, (path, _) in enumerate(files)}
    x = images.double().div_(255).transpose(0, 1).reshape(input_shape[0], -1)  # (C, N*H*W)
    mean = tuple(round(float(v), 4) for v in x.mean(dim=1))
    std = tuple(max(round(float(v), 4), 1e-4) for v in x.std(dim=1))
    info = DatasetInfo(layout.name, input_shape, len(layout.classes), mean, std, layout.classes)
    log.info("%s: %d classes, mean %s, std %s", layout.root, len(layout.classes), mean, std)
    return info


def load_folder(
    data_dir: str | os.PathLike[str] | None,
    split: Split,
    info: DatasetInfo,
    *,
    subset: int | None = None,
    seed: int = 0,
) -> ImageSet:
    """The ``train`` or ``test`` images of an image folder at ``info.input_shape`` (``subset``: a
    seeded sample of that many, the only ones read).  ``info`` (:func:`folder_info`, or a trained
    model's record of it) gives the normalisation; its class names must be the folder's.  The
    training images :func:`folder_info` decoded on the same :class:`FolderLayout` are not read
    again (and no longer kept on it)."""
    _check_channels(info.input_shape)
    if subset is not None and subset < 1:
        raise ConfigError(f"{option('subset')} must be positive, got {subset}")
    layout = scan(data_dir)
    if info.classes and info.classes != layout.classes:
        raise DatasetError(
            f"{layout.root} has the classes {', '.join(layout.classes)}, but the model was trained "
            f"on {', '.join(info.classes)}",
            hint="evaluate on a folder with the model's class folders",
        )
    decoded = None
    if split == "train":
        files = layout.train
        decoded = layout._decoded.pop(info.input_shape, None)
    else:
        if layout.eval_dir is None:
            raise DatasetNotFoundError(
                f"{layout.root} has neither test/ nor val/: there is no split to evaluate on",
                hint=f"add one: {_LAYOUT}",
            )
        files = layout.eval_files
        log.info("evaluation split of %s: %s/", layout.root, layout.eval_dir.name)
    chosen = [files[i] for i in _pick(len(files), subset or len(files), seed)]
    images, labels = _load(chosen, info.input_shape, decoded)
    named = replace(info, name=info.name if info.name != "imagefolder" else layout.name)
    return ImageSet(images, labels, named)


def model_folder_info(
    model: nn.Module, data_dir: str | os.PathLike[str] | None
) -> DatasetInfo | None:
    """How ``model`` reads an image folder: at its genotype's shape, normalised with the mean/std
    its ``pretrained_cfg`` records (measured on the folder when it records none).  A model that
    learnt on an image folder also records its class names, which the folder must have."""
    net = unwrap_model(model)
    spec, cfg = getattr(net, "spec", None), getattr(net, "pretrained_cfg", None)
    if spec is None:
        return None
    mean, std = tuple(getattr(cfg, "mean", ())), tuple(getattr(cfg, "std", ()))
    if len(mean) != spec.input_shape[0] or len(std) != len(mean):
        return folder_info(data_dir, spec.input_shape)
    learnt_on = getattr(cfg, "dataset", None)
    own = learnt_on not in DATASETS  # an image folder's name (or unknown): its labels are ours
    labels = tuple(getattr(cfg, "labels", ())) if own else ()
    classes = labels or folder_classes(data_dir)
    name = learnt_on if own and learnt_on else "imagefolder"
    return DatasetInfo(name, spec.input_shape, len(classes), mean, std, classes)


__all__ = [
    "IMAGE_SUFFIXES",
    "STATS_SAMPLE",
    "FolderLayout",
    "folder_classes",
    "folder_info",
    "load_folder",
    "model_folder_info",
    "scan",
    "split_name",
]
