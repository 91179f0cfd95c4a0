"""Load, save and publish pretrained models: ``load``, ``save_pretrained``, ``push_to_hub``.

A model folder (bundled, local, or a Hugging Face Hub repo) holds ``config.json``
(:class:`~bars_zoo.registry.ModelConfig`), ``genotype.geno`` (canonical text), ``model.safetensors``
(:mod:`bars_zoo.packing`: 1-bit packed binary weights) and ``README.md`` (:mod:`bars_zoo.card`).

``load(name)`` resolves ``name`` like timm's ``create_model(pretrained=True)``:

* ``local-dir:PATH`` - that folder;
* ``hf-hub:org/repo[@rev]`` - the Hugging Face cache, then the Hub;
* a zoo name - bundled ``bars_zoo/pretrained/<name>/``, then ``$BARS_ZOO_WEIGHTS_DIR/<name>/``, then
  the registry's Hub repo at its pinned commit (cache first, then the Hub).

Every weights file is checked before use: sha256 against the registry and ``config.json``, size,
genotype hash, strict tensor names and shapes.  Pickles are refused.  Hub exceptions become
:mod:`bars_zoo.errors` types with the cause chained.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bars_zoo import registry
from bars_zoo.builder import build
from bars_zoo.card import GENERATED_MARK
from bars_zoo.devices import resolve_device
from bars_zoo.dsl import read as read_genotype
from bars_zoo.errors import (
    ConfigError,
    HubError,
    OfflineError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnknownModelError,
    WeightsNotPublishedError,
)
from bars_zoo.folder import (
    FOLDER_FILES,
    load_folder,
    local_folder,
    save_pretrained,
    write_card,
    write_folder,
)
from bars_zoo.lookup import check_weights_folder, zoo_genotype
from bars_zoo.registry import (
    CARD_FILE,
    CONFIG_FILE,
    GENOTYPE_FILE,
    WEIGHTS_FILE,
    PretrainedCfg,
    read_config,
)
from bars_zoo.spec import NetworkSpec

log = logging.getLogger(__name__)

LOCAL_PREFIX, HUB_PREFIX = "local-dir:", "hf-hub:"


# --------------------------------------------------------------------------- load


def load(
    name: str | os.PathLike[str],
    pretrained: bool = True,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """A model by name, in eval mode, with ``.spec`` and ``.pretrained_cfg`` (mean/std/input_size).

    ``name``: a zoo name (``"bars-fmnist-m"``), ``"local-dir:PATH"`` or ``"hf-hub:org/repo@rev"``.
    ``pretrained=False`` builds the architecture only.  ``local_files_only`` (default: the
    ``HF_HUB_OFFLINE`` environment variable) forbids network access.  A ``pathlib.Path`` is a
    local model folder (``local-dir:``).
    """
    if isinstance(name, os.PathLike):
        name = LOCAL_PREFIX + os.fspath(name)
    if not isinstance(name, str):
        hint = " (a spec: bars_zoo.build(spec) makes its model)" if hasattr(name, "cells") else ""
        raise TypeError(f"load takes a model name or a path, got {type(name).__name__}{hint}")
    if device is not None:
        device = resolve_device(device)  # an unknown or absent device is a ConfigError
    if not pretrained:
        spec, cfg = _architecture(name, revision, cache_dir, _offline(local_files_only))
        model = build(spec, device=device)
        model.pretrained_cfg = cfg.untrained()  # type: ignore[assignment]
        return model.eval()
    folder, expected_sha, entry = locate(name, revision, cache_dir, _offline(local_files_only))
    return load_folder(folder, expected_sha256=expected_sha, cfg=entry, device=device)


def pull(
    name: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool | None = None,
) -> Path:
    """Fetch ``name``'s files (into the Hugging Face cache when they come from the Hub), verify
    them, and return the folder."""
    folder, expected_sha, entry = locate(name, revision, cache_dir, _offline(local_files_only))
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
    local = registry.weights_dir(name)
    if revision is None and local is not None and (local / WEIGHTS_FILE).is_file():
        check_weights_folder(local, name)  # what `bars-zoo list` checks too
        return local, None, None
    if entry is not None and entry.hub_repo is not None:
        assert entry.revision is not None  # validate_entry pins Hub entries
        rev = revision or entry.revision
        folder = hub_folder(entry.hub_repo, rev, cache_dir, offline)
        return (folder, entry.sha256, entry) if pinned else (folder, None, None)
    raise _no_weights(name, entry is not None)


def parse_hub_name(name: str, revision: str | None) -> tuple[str, str | None]:
    """``hf-hub:org/repo@rev`` -> ``("org/repo", "rev")`` (``revision`` may also give the rev)."""
    body = name[len(HUB_PREFIX) :]
    repo, at, rev = body.partition("@")
    if at and not rev:
        raise ConfigError(
            f"{name!r} ends in '@' without a revision",
            hint="write hf-hub:ORG/REPO@REV (a branch, tag or commit), or leave '@' out for main",
        )
    if not valid_repo_id(repo):
        raise ConfigError(
            f"{name!r} is not a Hub model name", hint="write hf-hub:ORG/REPO or hf-hub:ORG/REPO@REV"
        )
    if rev and revision and rev != revision:
        raise ConfigError(f"{name!r} names revision {rev!r} but revision={revision!r} was given")
    check_revision(rev or revision or None)
    return repo, (rev or revision or None)


def valid_repo_id(repo: str) -> bool:
    """Whether ``repo`` is a Hub repo id of the form ``ORG/NAME`` that the Hub accepts."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if repo.count("/") != 1 or not all(repo.split("/")):
        return False
    try:
        validate_repo_id(repo)
    except HFValidationError:
        return False
    return True


_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|^[-/.]|[/.]$|\.lock$|^@$")


def check_revision(revision: str | None) -> None:
    """Refuse a ``revision`` that no Hub (git) branch, tag or commit can be called, before any
    network call: the git ref-name rules (``git check-ref-format``), which a sha, ``main``, a tag or
    ``refs/pr/1`` all pass."""
    if revision is not None and (not revision or _BAD_REF.search(revision)):
        raise ConfigError(
            f"{revision!r} is not a revision name",
            hint="give a branch, tag or commit sha: no spaces, '..', '~^:?*[\\', '@{', "
            "and no leading '-' or trailing '/' or '.'",
        )


def _no_weights(name: str, registered: bool) -> Exception:
    from bars_zoo.zoo import close_names, list_models

    zoo = list_models()
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
            f"'local-dir:runs/{name}/model', or put it at ${registry.WEIGHTS_DIR_ENV}/{name}/",
        )
    known = sorted(set(zoo) | set(registry.entries()))
    close = close_names(name, known)
    hint = (
        f"did you mean {' or '.join(repr(c) for c in close)}?"
        if close
        else "see `bars-zoo list`; other sources are written local-dir:PATH or hf-hub:ORG/REPO"
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
    return UnknownModelError(f"unknown model {name!r}", hint=hint)


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
    local = registry.weights_dir(name)
    if spec is None and entry is None and local is not None and registry.weights_source(name, None):
        # a name only $BARS_ZOO_WEIGHTS_DIR knows (listed by list_models): its folder holds it
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


# --------------------------------------------------------------------------- the Hub


def _offline(local_files_only: bool | None) -> bool:
    if local_files_only is not None:
        return local_files_only
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    if env:
        return env in ("1", "ON", "YES", "TRUE")
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_folder(
    repo: str,
    revision: str | None,
    cache_dir: Any,
    offline: bool,
    files: tuple[str, ...] = FOLDER_FILES,
) -> Path:
    """The cached snapshot of ``repo`` at ``revision``: from the cache first when the revision is
    a commit (or when offline), else from the Hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    kw: dict[str, Any] = {
        "revision": revision,
        "cache_dir": cache_dir,
        "allow_patterns": list(files),
        "library_name": "bars-zoo",
    }
    with hub_errors(repo, revision, local_files_only=offline):
        if offline or (revision is not None and registry.COMMIT_RE.match(revision)):
            try:
                path = Path(snapshot_download(repo, local_files_only=True, **kw))
                if all((path / f).is_file() for f in files if f != CARD_FILE):
                    return path
            except LocalEntryNotFoundError:
                if offline:
                    raise
            if offline:
                raise LocalEntryNotFoundError(f"the cached snapshot of {repo} is incomplete")
            assert revision is not None  # a commit: not offline
            _reachable(repo, revision)
        path = Path(snapshot_download(repo, local_files_only=False, **kw))
    missing = [f for f in files if f != CARD_FILE and not (path / f).is_file()]
    if missing:  # huggingface_hub falls back to a partial cached snapshot when the Hub is down
        where = f"{repo}@{revision}" if revision else repo
        raise HubError(
            f"the snapshot of {where} has no {', '.join(missing)}: the Hub could not be reached "
            "and the cached snapshot is incomplete, or the repo lacks the file",
            hint=f"check the network and run `bars-zoo pull hf-hub:{where}` again; a model repo "
            f"holds {', '.join(FOLDER_FILES)} (bars-zoo push writes them)",
        )
    return path


def _reachable(repo: str, commit: str) -> None:
    """Ask the Hub once about ``repo`` at ``commit`` before downloading it: a download at a commit
    lists the repo's files with retries and backs off for about 25 s when the Hub cannot be
    reached; this one request fails at once (and names a missing repo or commit)."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as he

    try:
        HfApi(library_name="bars-zoo").repo_info(repo, revision=commit)
    except he.HfHubHTTPError:  # the Hub answered (no such repo or commit ...): hub_errors says so
        raise
    except _transport_errors() as e:
        raise _not_cached(f"{repo}@{commit}") from e


def _transport_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub import errors as he

    return (getattr(he, "HTTPError", ConnectionError), ConnectionError, TimeoutError)


@contextmanager
def hub_errors(
    repo: str, revision: str | None, *, upload: bool = False, local_files_only: bool = False
) -> Iterator[None]:
    """Turn huggingface_hub exceptions into bars-zoo errors (the cause is kept); ``upload``: the
    request was a push, so "not in the cache" is not the story."""
    from huggingface_hub import errors as he

    where = f"{repo}@{revision}" if revision else repo
    try:
        yield
    except he.OfflineModeIsEnabled as e:
        if not upload:
            raise _not_cached(where) from e
        raise OfflineError(
            f"cannot push {where}: offline mode is on (HF_HUB_OFFLINE)",
            hint="unset HF_HUB_OFFLINE and connect; nothing was uploaded",
        ) from e
    except he.RevisionNotFoundError as e:
        raise RevisionNotFoundError(
            f"the Hub repo {repo} has no revision {revision!r}",
            hint="check the branch, tag or commit sha (leave @rev out for main)",
        ) from e
    except he.RepositoryNotFoundError as e:
        raise RepoNotFoundError(
            f"no Hub repo {repo!r} (or it is private or gated)",
            hint="check the name; for a private repo log in (`hf auth login`) or set HF_TOKEN",
        ) from e
    except he.LocalEntryNotFoundError as e:
        detail = str(e) if "incomplete" in str(e) else None
        raise _not_cached(where, detail, local_files_only) from e
    except he.EntryNotFoundError as e:
        raise HubError(
            f"{where} lacks a file of the bars-zoo layout: {e}",
            hint=f"a model repo holds {', '.join(FOLDER_FILES)} (bars-zoo push writes them)",
        ) from e
    except he.HfHubHTTPError as e:
        raise HubError(f"the Hub refused a request for {where}: {e}") from e
    except _transport_errors() as e:
        raise OfflineError(
            f"cannot reach the Hugging Face Hub for {where}: {e}",
            hint="check the network; nothing was uploaded"
            if upload
            else "check the network, or set HF_HUB_OFFLINE=1 to use cached files only",
        ) from e
    except he.HFValidationError as e:
        raise ConfigError(f"{where!r} is not a Hub repo id: {e}", hint="write ORG/NAME") from e


def _not_cached(
    where: str, detail: str | None = None, local_files_only: bool = False
) -> OfflineError:
    """A download that found neither the cache nor the Hub: say which of the two was ruled out."""
    if _offline(None):
        why = "offline mode is on (HF_HUB_OFFLINE)"
        first = (
            "unset HF_HUB_OFFLINE (or local_files_only) and connect, then run "
            f"`bars-zoo pull hf-hub:{where}`"
        )
    elif local_files_only:
        why = "local_files_only=True forbids asking the Hub"
        first = "leave local_files_only out (or False) to download it"
    else:
        why = "the Hub could not be reached"
        first = f"check the network and run `bars-zoo pull hf-hub:{where}`"
    return OfflineError(
        f"{detail or f'{where} is not in the Hugging Face cache'}, and {why}",
        hint=f"{first}; or copy the model folder here and load it as local-dir:PATH",
    )


def push_to_hub(
    model_or_dir: nn.Module | str | os.PathLike[str],
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool | None = None,
    create_pr: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload a model (saved packed) or a model folder to ``repo_id`` in one commit; returns the
    commit sha, to pin in the registry.  The repo (and the ``revision`` branch) is created if
    needed, private when ``private=True``; ``None`` leaves the visibility to the Hub's default for
    the owner (an organisation may make new repos private).  A folder is verified first, and
    uploaded with ``hub_repo`` set in its config."""
    from huggingface_hub import HfApi

    if not isinstance(repo_id, str):
        raise TypeError(f"repo_id is a string 'ORG/NAME', got {type(repo_id).__name__}")
    if not valid_repo_id(repo_id):
        raise ConfigError(
            f"{repo_id!r} is not a Hub repo id",
            hint="write ORG/NAME with letters, digits, '-', '_' or '.' (at most 96 characters)",
        )
    check_revision(revision)
    with tempfile.TemporaryDirectory(prefix="bars-zoo-push-") as tmp:
        stage = Path(tmp) / "model"
        # the branch this push needs (made if missing): none for main or an open pull request
        # (refs/pr/N); the card's usage loads it, unless the push opens a pull request against it
        branch = (
            revision
            if revision and revision != "main" and not revision.startswith("refs/pr/")
            else None
        )
        load_name = f"{HUB_PREFIX}{repo_id}@{branch}" if branch and not create_pr else None
        if isinstance(model_or_dir, nn.Module):
            save_pretrained(model_or_dir, stage, pretrained_cfg={"hub_repo": repo_id})
            if load_name is not None:
                write_card(stage, load_name=load_name)
        else:
            _stage_folder(Path(model_or_dir), stage, repo_id, load_name)
        api = HfApi(token=token)
        with hub_errors(repo_id, revision, upload=True):
            api.create_repo(repo_id, private=private, exist_ok=True)
            if branch:  # a pull request needs its base branch too
                api.create_branch(repo_id, branch=branch, exist_ok=True)
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=stage,
                revision=revision,
                create_pr=create_pr,
                commit_message=commit_message or f"Upload {read_config(stage).architecture}",
                allow_patterns=list(FOLDER_FILES),
            )
    oid = getattr(info, "oid", None)
    if not isinstance(oid, str):
        raise HubError(f"the Hub did not return a commit for {repo_id}")
    log.info("pushed to %s at commit %s", repo_id, oid)
    pr_url = getattr(info, "pr_url", None)
    if pr_url:  # the commit is on the pull request until it is merged: say where to merge it
        log.warning("opened a pull request: %s (merge it before pinning a commit)", pr_url)
    return oid


def _stage_folder(src: Path, stage: Path, repo_id: str, load_name: str | None = None) -> None:
    """Copy a verified folder for upload, with ``hub_repo`` set and a generated card refreshed."""
    src = local_folder(str(src))
    load_folder(src)
    cfg = read_config(src).pretrained_cfg
    update = {"hub_repo": repo_id, "revision": None}
    _copy_with_cfg(src, stage, cfg.model_copy(update=update), load_name=load_name)


def _copy_with_cfg(src: Path, dest: Path, cfg: PretrainedCfg, load_name: str | None = None) -> Path:
    """Copy a model folder (weights byte for byte) with ``cfg`` in its ``config.json``; a
    generated (or missing) card is regenerated, a hand-written one kept."""
    config = read_config(src).model_copy(update={"pretrained_cfg": cfg})
    card = src / CARD_FILE
    raw = card.read_bytes() if card.is_file() else b""  # a hand-written card goes as it is
    text = raw.decode("utf-8", errors="replace")  # (in any encoding) - only read for the mark
    dest = write_folder(
        dest,
        {
            CONFIG_FILE: config.model_dump_json(indent=2).encode() + b"\n",
            GENOTYPE_FILE: (src / GENOTYPE_FILE).read_bytes(),
            WEIGHTS_FILE: (src / WEIGHTS_FILE).read_bytes(),
            CARD_FILE: raw,
        },
    )
    if not text or GENERATED_MARK in text:
        write_card(dest, load_name=load_name)
    return dest


# --------------------------------------------------------------------------- registry


def register_bundled(
    folder: str | os.PathLike[str], name: str | None = None, **fields: Any
) -> PretrainedCfg:
    """Bundle a model folder into the package as zoo model ``name`` and add its registry entry.

    Verifies the folder, copies it to ``bars_zoo/pretrained/<name>/`` and writes the entry (its
    ``pretrained_cfg`` plus the weights' sha256, updated with ``fields`` such as ``top1``,
    ``train_command``, ``hardware``, ``hub_repo``/``revision``) into
    ``bars_zoo/pretrained/registry.json``.  The bundled ``config.json`` gets the same config and a
    generated card is rewritten to load ``name``.  The weights file is copied byte for byte.
    """
    src = local_folder(os.fspath(folder))
    load_folder(src)  # refuse to bundle anything that does not verify and load
    config = read_config(src)
    name = name or config.architecture
    cfg = registry.validate_entry(
        name, {**config.pretrained_cfg.to_json(), **fields, "sha256": config.weights_sha256}
    )
    _copy_with_cfg(src, registry.bundled_dir(name), cfg, load_name=name)
    registry.add_entry(name, cfg)
    return cfg


__all__ = [
    "hub_errors",
    "load",
    "load_folder",
    "locate",
    "pull",
    "push_to_hub",
    "register_bundled",
    "save_pretrained",
    "write_card",
]
