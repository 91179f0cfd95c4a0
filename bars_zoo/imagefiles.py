"""What a training run on an image folder records of its files, so that ``--resume`` notices when
they changed (``--dataset imagefolder``; :func:`bars_zoo.training.trajectory`).

Per split (``train/`` and the evaluation split, ``test/`` or ``val/``): the number of images and a
sha256 of their relative paths, labels and byte sizes, in the order the run reads them.  Moving an
image to another class folder, renaming one (which changes the held-out validation split),
adding, removing or rewriting one to another size all change it; no pixel is read, so it costs a
directory walk (none when given the walk its run made, a :class:`~bars_zoo.imagefolder.FolderLayout`:
the record is of the very files the run read).  The folder's own name is not part of it: a copy of
the folder elsewhere, or renamed, resumes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from bars_zoo.imagefolder import scan


def _split(split_dir: Path, files: tuple[tuple[Path, int], ...]) -> dict[str, Any]:
    digest = hashlib.sha256()
    for path, label in files:
        rel = path.relative_to(split_dir).as_posix()
        digest.update(f"{rel}\0{label}\0{path.stat().st_size}\n".encode())
    return {"dir": split_dir.name, "files": len(files), "sha256": digest.hexdigest()[:16]}


def file_record(
    data_dir: str | os.PathLike[str] | None, *, eval_split: bool = True
) -> dict[str, Any]:
    """The record of an image folder's files: ``{"classes": [...], "train": {"dir", "files",
    "sha256"}, "eval": {...} | None}`` (refusing a folder :func:`bars_zoo.imagefolder.scan`
    refuses; a :class:`~bars_zoo.imagefolder.FolderLayout` is not walked again).  With
    ``eval_split=False`` (a search, which reads ``train/`` only) the evaluation split is neither
    listed nor recorded (``"eval": None``), so a class folder without images there is no error."""
    layout = scan(data_dir)
    record: dict[str, Any] = {"classes": list(layout.classes)}
    record["train"] = _split(layout.root / "train", layout.train)
    record["eval"] = None
    if eval_split and layout.eval_dir is not None:
        record["eval"] = _split(layout.eval_dir, layout.eval_files)
    return record


def describe_change(
    before: dict[str, Any] | None, now: dict[str, Any], data_dir: str | os.PathLike[str] | None
) -> str | None:
    """How the files of ``data_dir`` differ from the record a run started with (``None``: they do
    not), in words: ``the training images in DIR/train changed since the run started (144 -> 145
    files)``, ``the class folders differ: ...``."""
    if before == now:
        return None
    root = Path(data_dir or ".").expanduser()
    if not before or "train" not in before:
        return f"the run started before bars-zoo recorded the files of {root}"
    old, new = before.get("classes", []), now["classes"]
    if old != new:
        gone = [c for c in old if c not in new]
        added = [c for c in new if c not in old]
        parts = [f"gone: {', '.join(gone)}"] if gone else []
        parts += [f"new: {', '.join(added)}"] if added else []
        return f"the class folders differ from those the run started with ({'; '.join(parts)})"
    changes = []
    for key, what in (("train", "training"), ("eval", "evaluation")):
        a, b = before.get(key), now.get(key)
        if a == b:
            continue
        if a is None or b is None or a["dir"] != b["dir"]:
            had = f"{a['dir']}/" if a else "none"
            has = f"{b['dir']}/" if b else "none"
            changes.append(f"the {what} split of {root} is now {has} (it was {had})")
            continue
        count = (
            f"{a['files']} -> {b['files']} files"
            if a["files"] != b["files"]
            else f"{a['files']} files both times; names, class folders or sizes differ"
        )
        changes.append(
            f"the {what} images in {root / b['dir']} changed since the run started ({count})"
        )
    return "; ".join(changes)


__all__ = ["describe_change", "file_record"]
