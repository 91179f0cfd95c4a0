"""A model given by name or path (``bars-zoo eval NAME|DIR``, ``deploy``, ``evaluate(model=...)``):
what it refers to - a zoo or Hub name, a model folder, a finished training folder (its ``model/``),
an unfinished one (its checkpoint's best weights) - and the errors of one that is none of them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bars_zoo._read import check_regular
from bars_zoo.checkpoint import MODEL_DIR
from bars_zoo.errors import UnknownModelError
from bars_zoo.registry import CONFIG_FILE
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
            raise UnknownModelError(f"no such folder {text}", hint=missing_path_hint(text, path))
        return text
    if is_search_run(path):
        raise UnknownModelError(
            f"{path} is a `bars-zoo search` run directory, not a trained model",
            hint="the search wrote a .geno file: train it with `bars-zoo train FILE.geno`, "
            "then evaluate the training folder",
        )
    check_regular(path / "config.json")  # a FIFO: refused as such, not "neither a model ..."
    model = finished_run_model(path)
    if model is not None:
        return f"local-dir:{model}"
    if (path / "config.json").is_file() or (path / "checkpoint.pt").is_file():
        return f"local-dir:{path}"
    raise UnknownModelError(
        f"{path} is neither a model folder nor a training output folder",
        hint="give a folder with config.json (save_pretrained) or checkpoint.pt (bars-zoo train)",
    )


def finished_run_model(path: Path) -> Path | None:
    """The ``model/`` folder of a finished training run's ``--out`` folder ``path`` (one with
    ``model/config.json``, whether or not its ``checkpoint.pt`` is still there), else ``None``.
    The one rule for "a finished training folder" of ``eval``, ``deploy``, ``card`` and ``push``."""
    model = path / MODEL_DIR
    return model if (model / CONFIG_FILE).is_file() else None


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


# a Hub repo id as the Hub writes it (ORG/REPO, optionally @REVISION): without its hf-hub: prefix
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*(@[\w.\-]+)?", re.ASCII)


def missing_path_hint(text: str, path: Path) -> str:
    """The hint for a model argument ``text`` that looks like a path but names nothing: a folder
    beside it of a close name (:func:`sibling_hint`), else the name it was likely meant as - a zoo
    name written with a trailing ``/`` (``bars-fmnist-m/``), a Hub repo id without ``hf-hub:``
    (``timm/bars-b``, when there is no folder ``timm``)."""
    hint = sibling_hint(path)
    if hint.startswith("did you mean"):
        return hint
    bare = text.rstrip("/" + os.sep)
    if bare and not looks_like_path(bare):
        from bars_zoo import registry
        from bars_zoo.zoo import close_names, list_models

        known = sorted(set(list_models(warn=False)) | set(registry.entries()))
        close = [bare] if bare in known else close_names(bare, known)
        if close:
            return f"did you mean {' or '.join(repr(c) for c in close)} (a zoo name, no '/')?"
    if _HUB_ID.fullmatch(text) and not path.parent.exists():
        return (
            f"did you mean hf-hub:{text}? (a Hub repo is written hf-hub:ORG/REPO; there is no "
            f"folder {path.parent} either)"
        )
    return hint


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
    "finished_run_model",
    "is_search_run",
    "load_model",
    "looks_like_path",
    "missing_path_hint",
    "model_source",
    "run_holdout",
    "sibling_hint",
    "unfinished_run",
]
