"""Publish a model folder: to a Hugging Face Hub repo (``push_to_hub``) or into the package's zoo
(``register_bundled``).

Both verify the folder as a load does and copy it (the weights byte for byte) with an updated
``pretrained_cfg`` in its ``config.json``; a generated (or missing) card is regenerated to load the
published name, a hand-written one goes as it is.  A push is one commit to the repo (and branch or
pull request) it creates if needed; an existing repo keeps its visibility.  Bundling writes
``bars_zoo/pretrained/<name>/`` and the registry entry (sha256 included).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from bars_zoo import registry
from bars_zoo._args import check_flag
from bars_zoo._read import read_regular
from bars_zoo.card import GENERATED_MARK
from bars_zoo.errors import ConfigError, HubError, option
from bars_zoo.folder import (
    FOLDER_FILES,
    load_folder,
    local_folder,
    save_pretrained,
    write_folder,
)
from bars_zoo.foldercard import write_card
from bars_zoo.hubclient import HUB_PREFIX, check_revision, hub_errors, valid_repo_id
from bars_zoo.registry import (
    CARD_FILE,
    CONFIG_FILE,
    GENOTYPE_FILE,
    WEIGHTS_FILE,
    PretrainedCfg,
    read_config,
)
from bars_zoo.trainedness import folder_trained

log = logging.getLogger(__name__)


def push_to_hub(
    model_or_dir: nn.Module | str | os.PathLike[str],
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool | None = None,
    create_pr: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    allow_untrained: bool = False,
    dry_run: bool = False,
) -> str:
    """Upload a model (saved packed) or a model folder to ``repo_id`` in one commit; returns the
    commit sha, to pin in the registry.

    Untrained weights (a folder that records no training, :func:`bars_zoo.trainedness.folder_trained`:
    what ``bars-zoo build -o`` writes, ``bars_zoo.build(spec)`` however saved) are refused unless
    ``allow_untrained=True``; they are then uploaded with ``"trained": false`` in their config
    and a card that says so.  ``dry_run=True`` verifies and stages everything as a push would,
    makes no network call, and returns what would be uploaded (files, sizes, ``config.json``,
    the card) as text instead of a commit sha.  The repo (and the ``revision`` branch) is created if
    needed, private when ``private=True``; ``None`` leaves the visibility to the Hub's default for
    the owner (an organisation may make new repos private).  An existing repo keeps its
    visibility: ``private=True`` for a public one raises :class:`HubError` before the upload,
    ``private=False`` for a private one warns.  A folder is verified first, and
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
    check_flag(allow_untrained, "allow_untrained")
    check_flag(dry_run, "dry_run")
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
        if isinstance(model_or_dir, nn.Module):  # saved as save_pretrained saves it, then staged
            source = save_pretrained(model_or_dir, Path(tmp) / "saved")
        else:
            source = local_folder(
                os.fspath(model_or_dir), hint="push takes a folder written by save_pretrained"
            )
        _stage_folder(source, stage, repo_id, load_name, allow_untrained=allow_untrained)
        if dry_run:
            return push_plan(stage, repo_id, revision=revision, create_pr=create_pr)
        api = HfApi(token=token)
        with hub_errors(repo_id, revision, upload=True):
            api.create_repo(repo_id, private=private, exist_ok=True)
            if private is not None:  # create_repo ignores it for a repo that already exists
                _check_visibility(
                    repo_id, private, getattr(api.repo_info(repo_id), "private", None)
                )
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


def _check_visibility(repo_id: str, private: bool, is_private: bool | None) -> None:
    """The push asked for a ``private`` repo and found ``repo_id`` already there, ``is_private``:
    a public one is refused before anything is uploaded (the weights would be public, and this
    is no place to hide a repo that others may use), a private one that was asked to be public is
    left private with a warning.  ``None`` (the Hub did not say) passes."""
    if is_private is None or is_private == private:
        return
    if private:
        raise HubError(
            f"{repo_id} already exists and is public, so a private push would publish the model",
            hint=f"make the repo private first (its settings page on the Hub, or "
            f"huggingface_hub.HfApi().update_repo_settings({repo_id!r}, private=True)), or push "
            f"to a new repo, or leave {option('private', True)} out to publish it; nothing was uploaded",
        )
    log.warning(
        "%s already exists and is private: it stays private (make it public on the Hub)", repo_id
    )


def _stage_folder(
    src: Path,
    stage: Path,
    repo_id: str,
    load_name: str | None = None,
    *,
    allow_untrained: bool = False,
) -> None:
    """Copy a verified folder for upload, with ``hub_repo`` set and a generated card refreshed;
    untrained weights are refused unless ``allow_untrained``, and then recorded as untrained
    (``hub_repo`` alone would read as a published, trained model)."""
    load_folder(src)
    config = read_config(src)
    untrained = not folder_trained(config)
    if untrained and not allow_untrained:
        raise ConfigError(
            f"{src} holds untrained weights ("
            + (
                'its config.json records "trained": false'
                if config.trained is False
                else "its config.json records no training: no top-1, training command, Hub "
                "repo or backbone"
            )
            + "): pushing it would publish random weights",
            hint=f"train it first (bars-zoo train {src / GENOTYPE_FILE} ...), or pass "
            f"{option('allow_untrained', True)} to publish it as untrained (its card says so); "
            "nothing was uploaded",
        )
    update = {"hub_repo": repo_id, "revision": None}
    cfg = config.pretrained_cfg.model_copy(update=update)
    _copy_with_cfg(src, stage, cfg, load_name=load_name, trained=False if untrained else None)


def push_plan(
    stage: Path, repo_id: str, *, revision: str | None = None, create_pr: bool = False
) -> str:
    """What a push of the staged folder ``stage`` uploads, as text: the target, each file and its
    size, then ``config.json`` and the card in full (``push_to_hub(..., dry_run=True)``)."""
    where = f"{repo_id}" + (f" (revision {revision})" if revision else "")
    if create_pr:
        where += ", as a pull request"
    lines = [f"dry run: nothing uploaded; a push would commit to {where}:"]
    for name in FOLDER_FILES:
        lines.append(f"  {name:<18} {(stage / name).stat().st_size:>12,} bytes")
    for name in (CONFIG_FILE, CARD_FILE):
        text = (stage / name).read_text(encoding="utf-8", errors="replace")
        lines += ["", f"--- {name} ---", text.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _copy_with_cfg(
    src: Path,
    dest: Path,
    cfg: PretrainedCfg,
    load_name: str | None = None,
    *,
    trained: bool | None = None,
) -> Path:
    """Copy a model folder (weights byte for byte) with ``cfg`` in its ``config.json`` (and the
    explicit ``trained`` record when given); a generated (or missing) card is regenerated, a
    hand-written one kept."""
    update: dict[str, Any] = {"pretrained_cfg": cfg}
    if trained is not None:
        update["trained"] = trained
    config = read_config(src).model_copy(update=update)
    card = src / CARD_FILE
    raw = card.read_bytes() if card.is_file() else b""  # a hand-written card goes as it is
    text = raw.decode("utf-8", errors="replace")  # (in any encoding) - only read for the mark
    dest = write_folder(
        dest,
        {
            CONFIG_FILE: config.to_bytes(),
            GENOTYPE_FILE: read_regular(src / GENOTYPE_FILE),
            WEIGHTS_FILE: read_regular(src / WEIGHTS_FILE),
            CARD_FILE: raw,
        },
    )
    if not text or GENERATED_MARK in text:
        write_card(dest, load_name=load_name)
    return dest


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


__all__ = ["push_plan", "push_to_hub", "register_bundled"]
