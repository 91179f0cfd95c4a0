"""``--resume`` of a run on an image folder: refused when the folder's files changed (named in
words), accepted for an identical copy of the folder under another name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_imagefolder import _train, genotype, make_folder

from bars_zoo.errors import CheckpointMismatchError

TEXT = genotype("1x28x28")


def _started(tmp_path: Path) -> tuple[Path, Path]:
    """An image folder and a run on it stopped after its first of two epochs."""
    data = make_folder(tmp_path / "pets")
    out = tmp_path / "run"
    assert not _train(data, out, TEXT, epochs=2, stop_after=1).finished
    return data, out


def _resume(data: Path, out: Path) -> None:
    _train(data, out, TEXT, epochs=2, resume=True)


def test_resume_refuses_an_image_moved_to_another_class_folder(tmp_path):
    data, out = _started(tmp_path)
    shutil.move(data / "train" / "cat" / "000.png", data / "train" / "dog" / "moved.png")
    shutil.move(data / "train" / "dog" / "001.png", data / "train" / "cat" / "moved.png")
    with pytest.raises(CheckpointMismatchError, match=r"36 files both times") as err:
        _resume(data, out)
    assert f"the training images in {data / 'train'} changed since the run started" in str(
        err.value
    )
    assert "another -o" in str(err.value.hint) and "restore the folder" in str(err.value.hint)


def test_resume_refuses_renamed_images_that_change_the_held_out_split(tmp_path):
    data, out = _started(tmp_path)
    for path in sorted((data / "train" / "emu").iterdir()):
        path.rename(path.with_name("x" + path.name))
    with pytest.raises(CheckpointMismatchError, match=r"training images .* changed"):
        _resume(data, out)


def test_resume_refuses_an_image_added_to_val_naming_the_counts(tmp_path):
    data, out = _started(tmp_path)
    shutil.copy(data / "val" / "cat" / "000.png", data / "val" / "cat" / "new.png")
    with pytest.raises(CheckpointMismatchError) as err:
        _resume(data, out)
    msg = str(err.value)
    assert (
        f"the evaluation images in {data / 'val'} changed since the run started (18 -> 19 files)"
        in msg
    )
    assert "{" not in msg  # words, not a dict
    assert "settings it was started with" not in str(err.value.hint)


def test_resume_refuses_an_added_training_image_naming_the_counts(tmp_path):
    data, out = _started(tmp_path)
    shutil.copy(data / "train" / "dog" / "000.png", data / "train" / "dog" / "new.png")
    with pytest.raises(CheckpointMismatchError, match=r"\(36 -> 37 files\)"):
        _resume(data, out)


def test_resume_refuses_other_class_folders_naming_them(tmp_path):
    data, out = _started(tmp_path)
    for split in ("train", "val"):
        (data / split / "emu").rename(data / split / "owl")
    with pytest.raises(
        CheckpointMismatchError, match=r"class folders differ .*gone: emu; new: owl"
    ):
        _resume(data, out)


def test_resume_accepts_an_identical_copy_of_the_folder_under_another_name(tmp_path):
    data, out = _started(tmp_path)
    copy = shutil.copytree(data, tmp_path / "elsewhere" / "animals")
    shutil.rmtree(data)
    result = _train(copy, out, TEXT, epochs=2, resume=True)
    assert result.finished and result.epochs_done == 2
