"""Load a pretrained model by name: ``load``, ``pull`` and the name resolution behind them.

A model folder (bundled, local, or a Hugging Face Hub repo) holds ``config.json``
(:class:`~bars_zoo.registry.ModelConfig`), ``genotype.geno`` (canonical text), ``model.safetensors``
(:mod:`bars_zoo.packing`: 1-bit packed binary weights) and ``README.md`` (:mod:`bars_zoo.card`);
:mod:`bars_zoo.folder` writes and verifies one, :mod:`bars_zoo.publish` publishes one.

``load(name)`` resolves ``name`` like timm's ``create_model(pretrained=True)``:

* ``local-dir:PATH`` - that folder;
* ``hf-hub:org/repo[@rev]`` - the Hugging Face cache, then the Hub;
* a zoo name - bundled ``bars_zoo/pretrained/<name>/``, then ``$BARS_ZOO_WEIGHTS_DIR/<name>/``, then
  the registry's Hub repo at its pinned commit (cache first, then the Hub).

Every weights file is checked before use: sha256 against the registry and ``config.json``, size,
genotype hash, strict tensor names and shapes.  Pickles are refused.  Hub exceptions become
:mod:`bars_zoo.errors` types with the cause chained (:mod:`bars_zoo.hubclient`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from bars_zoo import registry, weightsdir
from bars_zoo._args import check_flag
from bars_zoo.builder import BarsNet, build, check_num_classes
from bars_zoo.devices import resolve_device
from bars_zoo.dsl import read as read_genotype
from bars_zoo.errors import (
    ArgumentTypeError,
    ConfigError,
    UnknownModelError,
    WeightsNotPublishedError,
)
from bars_zoo.folder import load_folder, local_folder
from bars_zoo.hubclient import HUB_PREFIX, check_revision, hub_folder, offline_mode, parse_hub_name
from bars_zoo.lookup import check_weights_folder, zoo_genotype

# register_bundled was documented as bars_zoo.hub.register_bundled: code that imports it from here
# keeps working (it lives in bars_zoo.publish)
from bars_zoo.publish import register_bundled as register_bundled
from bars_zoo.registry import (
    COMMIT_RE,
    CONFIG_FILE,
    GENOTYPE_FILE,
    WEIGHTS_FILE,
    PretrainedCfg,
    read_config,
)
from bars_zoo.spec import NetworkSpec

LOCAL_PREFIX = "local-dir:"


def load(
    name: str | os.PathLike[str],
    pretrained: bool = True,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
    device: torch.device | str | None = None,
    num_classes: int | None = None,
) -> BarsNet:
    """A model by name, in eval mode, with ``.spec`` and ``.pretrained_cfg`` (mean/std/input_size).

    ``name``: a zoo name (``"bars-fmnist-m"``), ``"local-dir:PATH"`` or ``"hf-hub:org/repo@rev"``.
    ``pretrained=False`` builds the architecture only.  ``local_files_only`` (default: the
    ``HF_HUB_OFFLINE`` environment variable) forbids network access.  A ``pathlib.Path`` is a
    local model folder (``local-dir:``).  ``num_classes`` other than the model's: the pretrained
    backbone with a fresh classifier for that many classes (timm's ``create_model(...,
    num_classes=N)``; :meth:`~bars_zoo.builder.BarsNet.reset_classifier`).  The arguments are
    checked in signature order before any file is read (``pretrained`` a ``bool``, ``device``,
    then ``num_classes``): the first slip is the :class:`~bars_zoo.errors.ConfigError` raised.
    """
    if isinstance(name, os.PathLike):
        name = LOCAL_PREFIX + os.fspath(name)
    if not isinstance(name, str):
        hint = " (a spec: bars_zoo.build(spec) makes its model)" if hasattr(name, "cells") else ""
        raise ArgumentTypeError(
            f"load takes a model name or a path, got {type(name).__name__}{hint}",
            hint="a zoo name such as 'bars-fmnist-m' (bars_zoo.list_models(pretrained=True) "
            "lists them), 'local-dir:PATH' or 'hf-hub:ORG/REPO'",
        )
    # the arguments in signature order, before any file is read: the first slip is reported
    check_flag(pretrained, "pretrained")
    check_flag(local_files_only, "local_files_only", allow_none=True)
    if device is not None:
        device = resolve_device(device)  # an unknown or absent device is a ConfigError
    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
    if not pretrained:
        spec, cfg = _architecture(name, revision, cache_dir, offline_mode(local_files_only))
        model = build(spec, device=device)
        model.pretrained_cfg = cfg.untrained()  # type: ignore[assignment]
        model.eval()
    else:
        folder, expected_sha, entry = locate(
            name, revision, cache_dir, offline_mode(local_files_only)
        )
        model = load_folder(folder, expected_sha256=expected_sha, cfg=entry, device=device)
        _record_commit(model, folder)
    if num_classes is not None and num_classes != model.spec.num_classes:
        model.reset_classifier(num_classes)
    return model


def _record_commit(model: BarsNet, folder: Path) -> None:
    """A model loaded from a Hub snapshot (``.../models--ORG--REPO/snapshots/<commit>``) whose
    config names a Hub repo records the commit the load resolved (``hf-hub:ORG/REPO`` at ``main``
    or a branch, too), so that ``pretrained_cfg`` and a new classifier's ``backbone`` name exactly
    the files loaded: the config's own repo gets ``revision`` set to the commit; a config that
    names another repo (a duplicated repo: its config is the source's) gets the repo loaded and
    its commit instead (the source's commit is not known here, and its repo may since have
    changed).  A config that names no Hub repo records none."""
    cfg = model.pretrained_cfg
    commit = folder.name
    if folder.parent.name != "snapshots" or not COMMIT_RE.match(commit):
        return
    parts = folder.parent.parent.name.split("--")  # huggingface_hub's cache folder of the repo
    if len(parts) != 3 or parts[0] != "models":
        return
    repo = f"{parts[1]}/{parts[2]}"
    if isinstance(cfg, PretrainedCfg) and cfg.hub_repo is not None:
        update = {"hub_repo": repo, "revision": commit}
        model.pretrained_cfg = cfg.model_copy(update=update)  # type: ignore[assignment]


def pull(
    name: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
) -> Path:
    """Fetch ``name``'s files (into the Hugging Face cache when they come from the Hub), verify
    them, and return the folder."""
    folder, expected_sha, entry = locate(name, revision, cache_dir, offline_mode(local_files_only))
    load_folder(folder, expected_sha256=expected_sha, cfg=entry)
    return folder


def locate(
    name: str, revision: str | None, cache_dir: Any, offline: bool
) -> tuple[Path, str | None, PretrainedCfg | None]:
    """Resolve ``name`` to (folder, sha256 the registry pins or None, registry entry or None).

    The registry's entry (its metadata and sha256) comes back only for the files it describes:
    another ``revision`` of its Hub repo is described by that revision's own ``config.json``.
    """
    if name.startswith(LOCAL_PREFIX):
        if revision is not None:
            raise ConfigError(
                f"revision={revision!r} was given for a local folder, which has no revisions",
                hint="leave the revision out, or load hf-hub:ORG/REPO@REV",
            )
        return local_folder(name[len(LOCAL_PREFIX) :]), None, None
    if name.startswith(HUB_PREFIX):
        repo, rev = parse_hub_name(name, revision)
        return hub_folder(repo, rev, cache_dir, offline), None, None
    check_revision(revision)
    entry = registry.get(name)
    pinned = entry is not None and revision in (None, entry.revision)
    bundled = registry.bundled_dir(name)
    if entry is not None and pinned and (bundled / WEIGHTS_FILE).is_file():
        return bundled, entry.sha256, entry
    if entry is not None and entry.hub_repo is None and revision is not None:
        raise ConfigError(
            f"{name!r} is bundled with the package and has no revision {revision!r}",
            hint="leave the revision out",
        )
    local = weightsdir.weights_dir(name)
    if revision is None and local is not None and local.is_dir():
        check_weights_folder(local, name)  # what `bars-zoo list` checks too; raises why not
        return local, None, None
    if entry is not None and entry.hub_repo is not None:
        assert entry.revision is not None  # validate_entry pins Hub entries
        rev = revision or entry.revision
        folder = hub_folder(entry.hub_repo, rev, cache_dir, offline)
        return (folder, entry.sha256, entry) if pinned else (folder, None, None)
    raise _no_weights(name, entry is not None)


def _no_weights(name: str, registered: bool) -> Exception:
    from bars_zoo.zoo import list_models, unknown_model_hint

    zoo = list_models(warn=False)
    if name in zoo or registered:
        spec = zoo_genotype(name, registry.get(name))
        ds = (spec.meta.get("dataset") if spec else None) or (
            registry.default_cfg(spec).dataset if spec else None
        )
        epochs = {"cifar10": 200, "imagenet": 100}.get(ds or "", "N")
        data = "" if ds == "fashion-mnist" else " --data-dir DATA"
        return WeightsNotPublishedError(
            f"no pretrained weights are published for {name!r} yet (the architecture exists: "
            f"bars_zoo.load({name!r}, pretrained=False))",
            hint=f"train it: `bars-zoo train {name} --dataset {ds or 'DATASET'}{data} --epochs "
            f"{epochs} --out runs/{name}`; publish the model folder it writes: `bars-zoo push "
            f"runs/{name}/model ORG/{name}`, and pin the printed commit in "
            "bars_zoo/pretrained/registry.json (docs/hub.md); or load that folder as "
            f"'local-dir:runs/{name}/model', or put it at ${weightsdir.WEIGHTS_DIR_ENV}/{name}/"
            + _root_note(),
        )
    known = sorted(set(zoo) | set(registry.entries()))
    hint = unknown_model_hint(
        name, known, "; other sources are written local-dir:PATH or hf-hub:ORG/REPO"
    )
    path = Path(name).expanduser() if name.strip() else None
    if path is not None and path.is_dir():  # a folder given as a bare path
        hint = f"{name!r} is a folder: load it as 'local-dir:{name}' (or pass a pathlib.Path)"
    elif path is not None and path.is_file():
        hint = (
            f"{name!r} is a genotype file, which has no weights: train it (`bars-zoo train "
            f"{name} --dataset DATASET --epochs N --out DIR`) and load DIR/model"
            if path.suffix == ".geno"
            else f"{name!r} is a file: give the model folder that holds config.json and "
            "model.safetensors"
        )
    return UnknownModelError(f"unknown model {name!r}", hint=hint + _root_note())


def _root_note() -> str:
    """A hint's note that ``$BARS_ZOO_WEIGHTS_DIR`` names no folder (so nothing was found in it)."""
    problem = weightsdir.weights_root_problem()
    return f"; note: {problem}, so no model folder was looked for there" if problem else ""


def _architecture(
    name: str, revision: str | None, cache_dir: Any, offline: bool
) -> tuple[NetworkSpec, PretrainedCfg]:
    """The spec and config of ``name`` without reading weights."""
    if name.startswith((LOCAL_PREFIX, HUB_PREFIX)):
        if name.startswith(LOCAL_PREFIX):
            folder = local_folder(name[len(LOCAL_PREFIX) :])
        else:
            repo, rev = parse_hub_name(name, revision)
            folder = hub_folder(repo, rev, cache_dir, offline, files=(CONFIG_FILE, GENOTYPE_FILE))
        spec = read_genotype(folder / GENOTYPE_FILE)
        return spec, read_config(folder).pretrained_cfg
    from bars_zoo.zoo import load_genotype

    entry = registry.get(name)
    spec = zoo_genotype(name, entry)  # bundled, or genotypes/<architecture>.geno
    local = weightsdir.weights_dir(name)
    if spec is None and entry is None and local is not None and local.is_dir():
        # a name only $BARS_ZOO_WEIGHTS_DIR knows (listed by list_models when it passes the check)
        check_weights_folder(local, name)  # raises why not
        return read_genotype(local / GENOTYPE_FILE), read_config(local).pretrained_cfg
    if spec is None and (entry is None or entry.hub_repo is None):
        spec = load_genotype(entry.architecture if entry else name)  # a .geno path, or unknown
    if spec is None:
        assert entry is not None and entry.hub_repo is not None
        # a registry entry of an architecture the zoo has no genotype for: the repo holds it
        rev = revision or entry.revision
        folder = hub_folder(
            entry.hub_repo, rev, cache_dir, offline, files=(CONFIG_FILE, GENOTYPE_FILE)
        )
        return read_genotype(folder / GENOTYPE_FILE), entry
    return spec, entry or registry.default_cfg(spec)


__all__ = ["LOCAL_PREFIX", "load", "locate", "pull", "register_bundled"]
