"""A model given by name or path (``bars-zoo eval NAME|DIR``, ``deploy``, ``evaluate(model=...)``):
what it refers to - a zoo or Hub name, a model folder, a finished training folder (its ``model/``),
an unfinished one (its checkpoint's best weights) - and the errors of one that is none of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bars_zoo._read import check_regular
from bars_zoo.errors import UnknownModelError
from bars_zoo.runmodel import model_from_checkpoint, run_split

_NAMES_HINT = "give a zoo name (bars-zoo list), a model folder, local-dir:PATH or hf-hub:ORG/REPO"


def model_source(ref: str | os.PathLike[str]) -> str:
    """The name :func:`bars_zoo.hub.load` takes for a model given on the command line: a finished
    training output folder is its ``model/`` folder, a model folder (or its weights file) is
    ``local-dir:``, anything else is a name as it is.  The commands that read a model (``eval``,
    ``deploy``) resolve it here, so that they accept the same things.

    A search run directory is refused; a training folder whose run has not finished stays
    ``local-dir:`` of itself (loading it says how to finish the run)."""
    text = os.fspath(ref)
    if not text.strip():  # Path("") is the current folder: an unset variable must not mean it
        raise UnknownModelError("no model was given (an empty name)", hint=_NAMES_HINT)
    if text.startswith(("local-dir:", "hf-hub:")):
        return text
    path = Path(text).expanduser()
    if path.is_file() and path.suffix == ".safetensors":  # the weights file of a model folder
        return f"local-dir:{path}"
    if not path.is_dir():
        if looks_like_path(text) and not path.exists():
            raise UnknownModelError(f"no such folder {text}", hint=sibling_hint(path))
        return text
    if is_search_run(path):
        raise UnknownModelError(
            f"{path} is a `bars-zoo search` run directory, not a trained model",
            hint="the search wrote a .geno file: train it with `bars-zoo train FILE.geno`, "
            "then evaluate the training folder",
        )
    check_regular(path / "config.json")  # a FIFO: refused as such, not "neither a model ..."
    if (path / "model" / "config.json").is_file():
        return f"local-dir:{path / 'model'}"
    if (path / "config.json").is_file() or (path / "checkpoint.pt").is_file():
        return f"local-dir:{path}"
    raise UnknownModelError(
        f"{path} is neither a model folder nor a training output folder",
        hint="give a folder with config.json (save_pretrained) or checkpoint.pt (bars-zoo train)",
    )


def looks_like_path(text: str) -> bool:
    """Whether a model argument is meant as a path, not a zoo or Hub name: it has a ``/`` (a zoo
    name never has one; a Hub repo is written ``hf-hub:ORG/REPO``) or starts with ``.`` or ``~``."""
    return "/" in text or text.startswith((".", "~")) or os.sep in text


def sibling_hint(path: Path) -> str:
    """A did-you-mean among the folders beside a missing ``path`` (``runs/my-nett`` ->
    ``runs/my-net``), else what the argument takes."""
    from bars_zoo.zoo import close_names

    parent = path.parent
    try:
        siblings = sorted(p.name for p in parent.iterdir() if p.is_dir())
    except OSError:
        siblings = []
    close = close_names(path.name, siblings)
    if close:
        shown = " or ".join(repr(os.path.join(os.fspath(parent), c)) for c in close)
        return f"did you mean {shown}?"
    if not parent.is_dir():
        return f"{parent} does not exist either; give a model folder or a `bars-zoo train` --out folder"
    return "give a model folder (save_pretrained) or a `bars-zoo train` --out folder"


def unfinished_run(ref: str | os.PathLike[str]) -> bool:
    """Whether ``ref`` is a training output folder without its ``model/`` folder yet."""
    path = Path(os.fspath(ref)).expanduser()
    return (
        path.is_dir()
        and (path / "checkpoint.pt").is_file()
        and not (path / "config.json").is_file()
        and not (path / "model" / "config.json").is_file()
    )


def load_model(ref: str | os.PathLike[str], device: torch.device | None = None) -> nn.Module:
    """A trained model from a zoo name, ``local-dir:PATH``, a model folder or a training out dir.

    Names and folders resolve through :func:`model_source` and load with
    :func:`bars_zoo.hub.load`; a training output folder yields its ``model/`` folder when training
    finished, else the weights of its checkpoint (best validation epoch first).
    """
    source = model_source(ref)
    if unfinished_run(ref):
        return model_from_checkpoint(Path(os.fspath(ref)).expanduser(), device=device)
    return _hub_load(source, device)


def is_search_run(path: Path) -> bool:
    """Whether ``path`` is the run directory of a search (its config.json is a SearchConfig)."""
    import json

    from bars_zoo._read import read_regular_text
    from bars_zoo.errors import ConfigError

    try:
        cfg = json.loads(read_regular_text(path / "config.json"))
    except (OSError, ValueError, ConfigError):  # ConfigError: a FIFO, refused where it is read
        return False
    return isinstance(cfg, dict) and "base_channels" in cfg and "edge_ops" in cfg


def _hub_load(ref: str, device: torch.device | None) -> nn.Module:
    from bars_zoo.hub import load

    model: nn.Module = load(ref)
    return model.to(device) if device is not None else model


def run_holdout(ref: str | os.PathLike[str], split: str) -> dict[str, Any] | None:
    """For the ``val``/``train`` split of a training folder ``ref``: how that run held out its
    validation images (:func:`bars_zoo.runmodel.run_split`); ``None`` otherwise."""
    if split == "test" or not Path(ref).is_dir():
        return None
    return run_split(ref)


__all__ = [
    "is_search_run",
    "load_model",
    "looks_like_path",
    "model_source",
    "run_holdout",
    "sibling_hint",
    "unfinished_run",
]
