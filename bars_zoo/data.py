"""Data sets for search, training and evaluation: Fashion-MNIST, CIFAR-10, ImageNet, synthetic.

Small data sets live in memory as ``uint8`` tensors (:class:`ImageSet`) and are batched by
:class:`bars_zoo.batches.BatchLoader`.  ImageNet goes through torchvision's ``ImageFolder`` and a
``DataLoader`` (:func:`imagenet_loader`).

Where the data is looked for:

* ``fashion-mnist``: ``--data-dir`` or ``/usr/share/datasets/fashion-mnist`` (Debian package
  ``dataset-fashion-mnist``), the four idx ``.gz`` files;
* ``cifar10``: ``--data-dir`` holding torchvision's ``cifar-10-batches-py`` (read with a restricted
  unpickler that only rebuilds plain arrays) or the binary ``cifar-10-batches-bin``;
* ``imagenet``: ``--data-dir`` with ``train/`` and ``val/`` class folders;
* ``imagefolder``: a user's own ``--data-dir`` with ``train/`` and ``val/`` (or ``test/``) class
  folders, read at the genotype's input shape (:mod:`bars_zoo.imagefolder`);
* ``synthetic``: generated, learnable stand-ins of any shape (tests, smoke runs).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from bars_zoo._read import open_regular, read_regular
from bars_zoo.classnames import DATASET_CLASSES
from bars_zoo.errors import ConfigError, DatasetError, DatasetNotFoundError, option
from bars_zoo.knowndata import KNOWN_DATA

Split = Literal["train", "test"]
FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class DatasetInfo:
    """What a model trained on this data set needs to know (recorded in pretrained configs)."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...] = ()


DATASETS: dict[str, DatasetInfo] = {
    # the data sets bars-zoo reads: their images, classes and normalisation as knowndata has them
    **{
        name: DatasetInfo(name, *known, DATASET_CLASSES.get(name, ()))
        for name, known in KNOWN_DATA.items()
    },
    "synthetic": DatasetInfo("synthetic", (3, 32, 32), 10, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    # a user's folder: shape from the genotype, classes and mean/std from the folder
    # (bars_zoo.imagefolder.folder_info); this placeholder has none of them
    "imagefolder": DatasetInfo("imagefolder", (3, 224, 224), 0, (), ()),
}


def dataset_info(name: str, input_shape: tuple[int, int, int] | None = None) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (``synthetic`` may take any ``input_shape``;
    ``imagefolder``'s takes it, without classes or normalisation: see
    :func:`bars_zoo.imagefolder.folder_info`)."""
    if name not in DATASETS:
        raise ConfigError(
            f"unknown data set {name!r}", hint=f"choose one of: {', '.join(DATASETS)}"
        )
    info = DATASETS[name]
    if name == "imagefolder" and input_shape is not None:
        return DatasetInfo(name, input_shape, 0, (), ())
    if name == "synthetic" and input_shape is not None and input_shape != info.input_shape:
        c = input_shape[0]
        return DatasetInfo("synthetic", input_shape, info.num_classes, (0.5,) * c, (0.25,) * c)
    return info


@dataclass(frozen=True)
class ImageSet:
    """An in-memory image data set: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: Tensor
    labels: Tensor
    info: DatasetInfo

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: Tensor) -> ImageSet:
        return ImageSet(self.images[indices], self.labels[indices], self.info)


# --------------------------------------------------------------------------- readers


_REINSTALL = {
    "fashion-mnist": "reinstall the data set (`apt-get install --reinstall dataset-fashion-mnist`) "
    "or download its four .gz files again",
    "cifar10": "download CIFAR-10 again (`torchvision.datasets.CIFAR10(DIR, download=True)`)",
}


def _damaged(path: Path, what: str, dataset: str = "fashion-mnist") -> DatasetError:
    """The error of a data set file that is there but cannot be used (exit status 1)."""
    return DatasetError(f"{path} {what}", hint=_REINSTALL[dataset])


def _read_idx(path: Path) -> np.ndarray:
    """Read an idx file (LeCun's MNIST format), gzipped or not; a truncated or damaged file is a
    :class:`DatasetError` naming it, never a decompressor's traceback."""
    try:
        with open_regular(path) as raw:
            if path.suffix == ".gz":
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    data = f.read()
            else:
                data = raw.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _damaged(path, f"is truncated or corrupt ({err})") from None
    if len(data) < 4:
        raise _damaged(path, "is truncated or corrupt (no idx header)")
    _, _, dtype_code, ndim = struct.unpack(">BBBB", data[:4])
    if dtype_code != 0x08 or len(data) < 4 + 4 * ndim:
        raise _damaged(path, "is not an unsigned-byte idx file (truncated or corrupt)")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise _damaged(
            path, f"is truncated or corrupt ({body.size} of {int(np.prod(shape))} bytes)"
        )
    return body.reshape(shape)


def _find(root: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    return None


def load_fashion_mnist(split: Split, data_dir: str | os.PathLike[str] | None = None) -> ImageSet:
    """Fashion-MNIST (Xiao et al. 2017) from its idx files."""
    root = Path(data_dir).expanduser() if data_dir is not None else FMNIST_DIR
    prefix = "train" if split == "train" else "t10k"
    img_path = _find(root, f"{prefix}-images-idx3-ubyte")
    lbl_path = _find(root, f"{prefix}-labels-idx1-ubyte")
    if img_path is None or lbl_path is None:
        raise DatasetNotFoundError(
            f"Fashion-MNIST {split} files not found in {root}",
            hint="install them with `apt-get install dataset-fashion-mnist` (Debian) or pass "
            f"{option('data_dir', 'DIR')} holding {prefix}-images-idx3-ubyte.gz and {prefix}-labels-idx1-ubyte.gz",
        )
    images = torch.from_numpy(_read_idx(img_path).copy()).unsqueeze(1)  # (N, 1, 28, 28)
    labels = torch.from_numpy(_read_idx(lbl_path).astype(np.int64))
    _check_counts(lbl_path, len(labels), len(images))
    return ImageSet(images, labels, DATASETS["fashion-mnist"])


def _check_counts(
    labels_path: Path, labels: int, images: int, dataset: str = "fashion-mnist"
) -> None:
    """A label file beside image files of another split (``train-labels`` copied over
    ``t10k-labels``): one label per image, or a :class:`DatasetError` naming the label file."""
    if labels != images:
        raise _damaged(labels_path, f"holds {labels} labels for {images} images", dataset)


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds only dicts, lists, bytes, strings, numbers and numpy arrays: nothing executable."""

    _ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DatasetNotFoundError(
            f"refusing to unpickle {module}.{name} from a CIFAR-10 batch file"
        )


def load_cifar10(split: Split, data_dir: str | os.PathLike[str] | None) -> ImageSet:
    """CIFAR-10 (Krizhevsky 2009) from torchvision's python layout or the binary release."""
    if data_dir is None:
        raise DatasetNotFoundError(
            f"CIFAR-10 needs {option('data_dir')}",
            hint="download it with torchvision (`torchvision.datasets.CIFAR10(DIR, download=True)`) on a "
            f"machine with internet, then pass {option('data_dir', 'DIR')}",
        )
    root = Path(data_dir).expanduser()
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    py_dir = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    bin_dir = root / "cifar-10-batches-bin" if (root / "cifar-10-batches-bin").is_dir() else root
    if all((py_dir / n).is_file() for n in names):
        xs, ys = [], []
        for n in names:
            x1, y1 = _read_cifar_batch(py_dir / n)
            xs.append(x1)
            ys.append(y1)
        x, y = np.concatenate(xs), np.concatenate(ys)
    elif all((bin_dir / f"{n}.bin").is_file() for n in names):
        rows = []
        for n in names:
            flat = np.frombuffer(read_regular(bin_dir / f"{n}.bin"), dtype=np.uint8)
            if flat.size == 0 or flat.size % 3073:
                raise _damaged(bin_dir / f"{n}.bin", "is truncated or corrupt", "cifar10")
            rows.append(flat.reshape(-1, 3073))
        raw = np.concatenate(rows)
        y, x = raw[:, 0].astype(np.int64), raw[:, 1:].reshape(-1, 3, 32, 32)
    else:
        raise DatasetNotFoundError(
            f"CIFAR-10 {split} batches not found under {root}",
            hint=f"pass {option('data_dir')} pointing at the folder that holds cifar-10-batches-py/ "
            "(torchvision's layout) or cifar-10-batches-bin/",
        )
    return ImageSet(
        torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), DATASETS["cifar10"]
    )


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` and labels of one python-layout CIFAR-10 batch file; a truncated
    or damaged one is a :class:`DatasetError` naming it."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(read_regular(path)), encoding="latin1").load()
        x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(batch["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, IndexError) as err:
        raise _damaged(path, f"is truncated or corrupt ({type(err).__name__})", "cifar10") from None
    _check_counts(path, len(y), len(x), "cifar10")
    return x, y


def make_synthetic(
    split: Split,
    *,
    size: int = 2048,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    seed: int = 0,
) -> ImageSet:
    """Learnable synthetic images: each class is a fixed random template plus noise."""
    g = torch.Generator().manual_seed(1234)
    templates = torch.rand(num_classes, *input_shape, generator=g) * 255
    g.manual_seed(seed * 2 + (0 if split == "train" else 1))
    labels = torch.randint(0, num_classes, (size,), generator=g)
    noise = torch.randn(size, *input_shape, generator=g) * 60
    images = (templates[labels] + noise).clamp(0, 255).to(torch.uint8)
    info = dataset_info("synthetic", input_shape)
    info = DatasetInfo(info.name, input_shape, num_classes, info.mean, info.std)
    return ImageSet(images, labels, info)


def load_images(
    name: str,
    split: Split,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    subset: int | None = None,
    seed: int = 0,
) -> ImageSet:
    """An in-memory data set by name; ``subset`` keeps a seeded random sample of that many images."""
    if name == "fashion-mnist":
        data = load_fashion_mnist(split, data_dir)
    elif name == "cifar10":
        data = load_cifar10(split, data_dir)
    elif name == "synthetic":
        data = make_synthetic(split, seed=seed)
    elif name == "imagenet":
        raise ConfigError("ImageNet is not an in-memory data set", hint="use imagenet_loader()")
    elif name == "imagefolder":
        raise ConfigError(
            "an image folder is read at a genotype's shape", hint="use imagefolder.load_folder()"
        )
    else:
        dataset_info(name)  # raises the unknown-name error
        raise AssertionError(name)  # pragma: no cover
    return data if subset is None else sample(data, subset, seed)


def sample(data: ImageSet, n: int, seed: int = 0) -> ImageSet:
    """A seeded random sample of ``n`` images of ``data`` in their original order (all when
    ``n >= len(data)``)."""
    if n < 1:
        raise ConfigError(f"{option('subset')} must be positive, got {n}")
    if n >= len(data):
        return data
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.subset(idx.sort().values)


def split_indices(n: int, fractions: tuple[float, ...], seed: int = 0) -> list[Tensor]:
    """Disjoint seeded random index sets of ``n`` items with these fractions (the last takes the rest)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    out, start = [], 0
    for i, f in enumerate(fractions):
        end = n if i == len(fractions) - 1 else start + round(f * n)
        out.append(perm[start:end].sort().values)
        start = end
    return out


def normalize(images_uint8: Tensor, info: DatasetInfo) -> Tensor:
    """uint8 (B, C, H, W) -> normalised float, as every model in the zoo expects its input."""
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    return (images_uint8.float() / 255 - mean.to(images_uint8.device)) / std.to(images_uint8.device)


def imagenet_loader(
    data_dir: str | os.PathLike[str] | None,
    split: Split,
    batch_size: int,
    *,
    workers: int = 8,
    distributed: bool = False,
) -> torch.utils.data.DataLoader[Any]:
    """ImageNet from ``DIR/train`` and ``DIR/val`` class folders (torchvision ``ImageFolder``).

    Train: random resized crop 224 + flip; val: resize 256, center crop 224 (no cutout, BARS App. A).
    """
    from torchvision import datasets, transforms

    sub = "train" if split == "train" else "val"
    root = Path(data_dir).expanduser() / sub if data_dir is not None else None
    if root is None or not root.is_dir():
        raise DatasetNotFoundError(
            f"ImageNet {sub}/ folder not found" + (f" under {data_dir}" if data_dir else ""),
            hint=f"pass {option('data_dir', 'DIR')} with DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG",
        )
    info = DATASETS["imagenet"]
    norm = transforms.Normalize(info.mean, info.std)
    tf = (
        transforms.Compose(
            [
                transforms.RandomResizedCrop(224),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                norm,
            ]
        )
        if split == "train"
        else transforms.Compose(
            [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm]
        )
    )
    ds = datasets.ImageFolder(str(root), tf)
    sampler: torch.utils.data.DistributedSampler[Any] | None = None
    if distributed:
        sampler = torch.utils.data.DistributedSampler(ds, shuffle=split == "train")
    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=(split == "train" and sampler is None),
        sampler=sampler,
        num_workers=workers,
        pin_memory=True,
        drop_last=split == "train",
    )


__all__ = [
    "DATASETS",
    "DatasetInfo",
    "ImageSet",
    "dataset_info",
    "imagenet_loader",
    "load_cifar10",
    "load_fashion_mnist",
    "load_images",
    "make_synthetic",
    "normalize",
    "sample",
    "split_indices",
]
