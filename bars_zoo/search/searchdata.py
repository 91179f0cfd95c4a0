"""The data a search reads: a built-in data set, or a user's image folder (``--dataset
imagefolder --data-dir DIR --input-shape CxHxW``).

:func:`search_data` says what the search space and the genotype need before any image is read -
the name the genotype's ``meta dataset`` records, the image shape and the class count - and, for an
image folder, the record of its ``train/`` files (:func:`bars_zoo.imagefiles.file_record`) that
the checkpoint keeps, so that ``--resume`` on a folder whose images changed is refused in words
(:func:`check_files`).  :func:`train_images` reads the training images: an image folder through
:mod:`bars_zoo.imagefolder`, as ``bars-zoo train`` reads it (scaled and center-cropped to the
shape, normalised with the mean/std measured on ``train/``).  The search only ever reads
``train/``: its two halves (weights, architecture) are cut from it, and the folder's ``val/`` or
``test/`` split is left for the training run to evaluate on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bars_zoo.data import ImageSet, dataset_info, load_images
from bars_zoo.errors import CheckpointMismatchError, DatasetError, option
from bars_zoo.search.config import SearchConfig

if TYPE_CHECKING:
    from bars_zoo.imagefolder import FolderLayout


@dataclass(frozen=True)
class SearchData:
    """What a search knows of its data before reading it."""

    name: str  # recorded in the genotype's meta dataset: the data set, or the folder's name
    input_shape: tuple[int, int, int]
    num_classes: int
    data_dir: str | os.PathLike[str] | None = None
    files: dict[str, Any] | None = None  # an image folder's train/ files (imagefiles.file_record)
    folder: FolderLayout | None = None  # an image folder's walk, which the images are read from


def search_data(cfg: SearchConfig, data_dir: str | os.PathLike[str] | None) -> SearchData:
    """The shape, classes and name of ``cfg.dataset``; an image folder's are its ``train/`` class
    folders (at least two) read at ``cfg.input_shape``."""
    if cfg.dataset != "imagefolder":
        info = dataset_info(cfg.dataset)
        return SearchData(cfg.dataset, info.input_shape, info.num_classes, data_dir)
    from bars_zoo.imagefiles import file_record
    from bars_zoo.imagefolder import scan

    assert cfg.input_shape is not None  # SearchConfig requires it for an image folder
    layout = scan(data_dir)  # refuses a missing data_dir or train/, an empty class folder
    if len(layout.classes) < 2:
        raise DatasetError(
            f"{layout.root / 'train'} has one class folder ({layout.classes[0]}): a search "
            "needs two classes or more to tell apart",
            hint="put each class's images in a folder of its own under train/ (e.g. train/cat/, "
            "train/dog/)",
        )
    if not layout.name.isprintable():  # found after the search, it would fail the genotype
        raise DatasetError(
            f"the folder name {layout.name!r} holds control characters, which the genotype's "
            "meta dataset line (its name, as training records it) cannot",
            hint="rename the folder (or link it under a plain name) and pass that as "
            f"{option('data_dir')}",
        )
    # the search reads train/ only: the evaluation split is neither listed (an empty class folder
    # there is no error) nor recorded (a change of it does not concern the search)
    files = file_record(layout, eval_split=False)
    return SearchData(layout.name, cfg.input_shape, len(layout.classes), data_dir, files, layout)


def train_images(cfg: SearchConfig, data: SearchData) -> ImageSet:
    """The training images the search cuts into its halves (``cfg.subset``: a seeded sample)."""
    if data.files is None:
        return load_images(
            cfg.dataset, "train", data_dir=data.data_dir, subset=cfg.subset, seed=cfg.seed
        )
    from bars_zoo.imagefolder import folder_info, load_folder

    folder = data.folder if data.folder is not None else data.data_dir  # one walk, one decode each
    info = folder_info(folder, data.input_shape)
    return load_folder(folder, "train", info, subset=cfg.subset, seed=cfg.seed)


def too_few_hint(cfg: SearchConfig, data: SearchData, have: int) -> str:
    """What to change when the halves of ``have`` training images are smaller than a batch."""
    hint = f"use a smaller {option('batch_size')}"
    if cfg.subset is not None and cfg.subset <= have:  # the subset is what limits them
        return f"{hint} or a larger {option('subset')}"
    if data.files is not None:
        root = Path(data.data_dir or ".").expanduser() / "train"
        return f"{hint}, or add images to {root} (each half must hold one batch)"
    return hint


def check_files(data: SearchData, recorded: dict[str, Any] | None, run_dir: Path) -> None:
    """Refuse to resume the search in ``run_dir`` when the image folder's files are not those
    its checkpoint ``recorded`` (``None``: it recorded none), saying what changed."""
    if data.files is None:
        return
    from bars_zoo.imagefiles import describe_change

    change = describe_change(recorded, data.files, data.data_dir)
    if change is not None:
        raise CheckpointMismatchError(
            f"cannot resume the search in {run_dir}: {change}",
            hint="restore the folder as the search started with it, or start a new search "
            f"with another {option('run_dir')} / {option('out')}",
        )


__all__ = ["SearchData", "check_files", "search_data", "too_few_hint", "train_images"]
