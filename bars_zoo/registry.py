"""The pretrained registry: which zoo names have weights, where they live, and how they were made.

One entry per pretrained model, kept in the data file ``bars_zoo/pretrained/registry.json`` (found
with :func:`bars_zoo._resources.resource_dir`)::

    {
      "format_version": 1,
      "models": {
        "bars-fmnist-m": {
          "architecture": "bars-fmnist-m",        # genotypes/<architecture>.geno
          "dataset": "fashion-mnist", "input_size": [1, 28, 28],
          "mean": [0.286], "std": [0.353], "num_classes": 10, "top1": 91.3,
          "sha256": "<sha256 of model.safetensors>",
          "hub_repo": null, "revision": null,     # or "org/bars-fmnist-m" + a 40-hex commit
          "train_command": "bars-zoo train ...", "hardware": "2 CPU cores", ...
        }
      }
    }

Weights for an entry are found, in order: bundled in ``bars_zoo/pretrained/<name>/``, in
``$BARS_ZOO_WEIGHTS_DIR/<name>/``, in the Hugging Face cache, on the Hub (``hub_repo`` at the pinned
``revision``).  :func:`bars_zoo.publish.register_bundled` adds a bundled entry in one call; editing the
JSON by hand works too.  The configs (:class:`~bars_zoo.pretrainedcfg.PretrainedCfg`, re-exported
here) mirror timm's ``pretrained_cfg`` (a config kept apart from the architecture).  This module is torch-free, so ``list_models(pretrained=True)`` stays instant.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bars_zoo._io import atomic_write_text
from bars_zoo._read import check_regular, read_regular_text
from bars_zoo._resources import resource_dir
from bars_zoo.backbone import Backbone
from bars_zoo.errors import BarsError, ConfigError, IntegrityError
from bars_zoo.knowndata import DATASET_NORMALIZATION
from bars_zoo.pretrainedcfg import BARS_PAPER, SHA256_RE, PretrainedCfg, default_cfg
from bars_zoo.weightsdir import (
    WEIGHTS_DIR_ENV,
    weights_dir,
    weights_dir_names,
    weights_root_problem,
)

log = logging.getLogger(__name__)

REGISTRY_FORMAT = 1
REGISTRY_FILE = "registry.json"
#: Name prefixes ``load`` reads as a source, not as a name (``bars_zoo.hub.LOCAL_PREFIX``,
#: ``bars_zoo.hubclient.HUB_PREFIX``): a ``$BARS_ZOO_WEIGHTS_DIR`` folder so named never loads.
SOURCE_PREFIXES = ("local-dir:", "hf-hub:")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


# --------------------------------------------------------------------------- config.json

FOLDER_FORMAT = 1
CONFIG_FILE, GENOTYPE_FILE, WEIGHTS_FILE, CARD_FILE = (
    "config.json",
    "genotype.geno",
    "model.safetensors",
    "README.md",
)


class ModelConfig(BaseModel):
    """``config.json`` of a model folder (local, bundled or a Hub repo)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int
    library_name: str = "bars-zoo"
    bars_zoo_version: str
    architecture: str
    genotype_sha256: Annotated[str, Field(pattern=SHA256_RE.pattern)]
    weights_sha256: Annotated[str, Field(pattern=SHA256_RE.pattern)]
    weights_size: Annotated[int, Field(ge=0)]
    packed: bool
    pretrained_cfg: PretrainedCfg
    complexity: dict[str, Any] = Field(default_factory=dict)
    # an explicit record, written when the model's state (bars_zoo.trainedness) differs from what
    # the folder reads as without it: ``false`` for untrained weights saved packed, pushed with
    # --allow-untrained (hub_repo), given a top-1 ...; bars_zoo.trainedness.folder_trained reads it
    trained: bool | None = None

    def to_bytes(self) -> bytes:
        """The ``config.json`` bytes (``trained`` only when recorded, so that folders without
        the record read as before, also by older bars-zoo versions)."""
        exclude = {"trained"} if self.trained is None else set()
        return self.model_dump_json(indent=2, exclude=exclude).encode() + b"\n"


def read_config(folder: Path) -> ModelConfig:
    """Parse ``folder/config.json`` (raises :class:`IntegrityError` naming what is wrong)."""
    path = folder / CONFIG_FILE
    check_regular(path)  # a FIFO would hang the read, and is not "no config.json"
    if not path.is_file():
        raise IntegrityError(
            f"{folder} has no {CONFIG_FILE}",
            hint="a model folder holds config.json, genotype.geno, model.safetensors and "
            "README.md, as written by bars_zoo.save_pretrained",
        )
    try:
        raw = json.loads(read_regular_text(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IntegrityError(f"{path} is not valid JSON: {e}") from e
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > FOLDER_FORMAT:
        raise IntegrityError(
            f"{path} has format_version {version}; this bars-zoo reads {FOLDER_FORMAT}",
            hint="upgrade bars-zoo (pip install -U bars-zoo)",
        )
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "config"
        raise IntegrityError(f"{path}: {where}: {first['msg']}") from e


# --------------------------------------------------------------------------- the data file


def registry_path() -> Path:
    """``bars_zoo/pretrained/registry.json``."""
    return resource_dir("pretrained") / REGISTRY_FILE


@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int) -> dict[str, PretrainedCfg]:
    del mtime_ns  # part of the cache key only: an edited file is read again
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise IntegrityError(
            f"{path} is not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}",
            hint="fix the registry file or restore it from git",
        ) from e
    if not isinstance(data, dict) or data.get("format_version") != REGISTRY_FORMAT:
        raise IntegrityError(
            f"{path}: expected an object with format_version {REGISTRY_FORMAT}",
            hint="see docs/hub.md for the registry format",
        )
    models = data.get("models", {})
    out: dict[str, PretrainedCfg] = {}
    for name, raw in models.items():
        try:
            out[name] = validate_entry(name, raw)
        except ConfigError as e:
            raise IntegrityError(f"{path}: {e.raw_message}", hint=e.raw_hint) from e
    return out


def validate_entry(name: str, raw: dict[str, Any] | PretrainedCfg) -> PretrainedCfg:
    """Check one registry entry: a valid config, and a Hub entry is pinned (commit + sha256)."""
    try:
        cfg = raw if isinstance(raw, PretrainedCfg) else PretrainedCfg.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "entry"
        raise ConfigError(
            f"registry entry {name!r}: {where}: {first['msg']}",
            hint="see the PretrainedCfg fields in docs/hub.md",
        ) from e
    if cfg.hub_repo is not None and (cfg.revision is None or not COMMIT_RE.match(cfg.revision)):
        raise ConfigError(
            f"registry entry {name!r} names Hub repo {cfg.hub_repo!r} without a pinned revision",
            hint="set 'revision' to the 40-hex commit sha that push_to_hub returned",
        )
    if cfg.hub_repo is not None and cfg.sha256 is None:
        raise ConfigError(
            f"registry entry {name!r} names a Hub repo but no sha256 of model.safetensors",
            hint="set 'sha256' (sha256sum model.safetensors)",
        )
    return cfg


def entries(path: str | os.PathLike[str] | None = None) -> dict[str, PretrainedCfg]:
    """Every registry entry, ``name -> PretrainedCfg`` (an empty dict when there is no file)."""
    p = Path(path) if path is not None else registry_path()
    if not p.is_file():
        return {}
    return dict(_read(str(p), p.stat().st_mtime_ns))


def get(name: str) -> PretrainedCfg | None:
    """The entry called ``name``, or ``None``."""
    return entries().get(name)


def pretrained_names(pattern: str = "*", *, warn: bool = False) -> list[str]:
    """Sorted names matching ``pattern`` that ``load(name)`` finds weights for: registry entries
    bundled or pinned on the Hub, and the model folders in ``$BARS_ZOO_WEIGHTS_DIR`` that ``load``
    accepts under their name (:func:`bars_zoo.lookup.check_weights_folder`); a folder it refuses
    is left out (``load`` refuses it).  ``warn``: log, one line each, why a folder matching
    ``pattern`` is left out, and a ``$BARS_ZOO_WEIGHTS_DIR`` that is not a folder."""
    if warn and (problem := weights_root_problem()) is not None:
        log.warning("%s: no model folders are read from it", problem)
    names = {
        n for n in set(entries()) | set(weights_dir_names()) if fnmatch.fnmatchcase(n, pattern)
    }
    return [n for n in sorted(names) if weights_source(n, get(n), warn=warn) is not None]


def bundled_dir(name: str) -> Path:
    """Where the bundled weights of ``name`` live: ``bars_zoo/pretrained/<name>/``."""
    return resource_dir("pretrained") / name


def weights_source(name: str, cfg: PretrainedCfg | None, *, warn: bool = False) -> str | None:
    """Where ``load(name)`` takes ``name``'s pretrained weights from, deciding as it decides:
    ``"bundled"`` (a registry entry with its folder in the package), ``"$BARS_ZOO_WEIGHTS_DIR"``
    (a folder there that :func:`bars_zoo.lookup.check_weights_folder` accepts),
    ``"hf-hub:ORG/REPO"`` (a pinned entry); ``None`` when there are none, or when a
    ``$BARS_ZOO_WEIGHTS_DIR/<name>/`` folder is there and refused (``load`` then refuses too,
    rather than fall back to the Hub; ``warn``: log why, in one line)."""
    if cfg is not None and (bundled_dir(name) / WEIGHTS_FILE).is_file():
        return "bundled"
    local = weights_dir(name)
    try:
        here = local is not None and local.is_dir()
    except OSError:  # a $BARS_ZOO_WEIGHTS_DIR we may not read: `list` warns once, and goes on
        here = False
    if local is not None and here:
        from bars_zoo.lookup import check_weights_folder  # lookup builds on this module

        try:
            check_weights_folder(local, name)
        except BarsError as e:
            if warn:
                why = e.message.strip().splitlines()[0] if e.message.strip() else type(e).__name__
                log.warning(
                    "%s is not used for %r: %s%s",
                    local,
                    name,
                    why,
                    f"; hint: {e.hint}" if e.hint else "",
                )
            return None
        return f"${WEIGHTS_DIR_ENV}"
    if cfg is not None and cfg.hub_repo is not None:
        return f"hf-hub:{cfg.hub_repo}"
    return None


def genotype_sha256(spec: Any) -> str:
    """sha256 of a spec's canonical text (``bars_zoo.dsl.format``; comments do not count): the
    ``genotype_sha256`` that ``config.json`` and the weights' metadata record."""
    from bars_zoo.dsl import format as format_spec

    return hashlib.sha256(format_spec(spec).encode("utf-8")).hexdigest()


def has_weights(name: str, cfg: PretrainedCfg) -> bool:
    """Whether ``name`` can be loaded pretrained (bundled, in the weights folder, or on the Hub)."""
    return weights_source(name, cfg) is not None


def add_entry(name: str, cfg: PretrainedCfg, *, path: str | os.PathLike[str] | None = None) -> Path:
    """Add or replace entry ``name`` in the registry file (written atomically); returns the file."""
    cfg = validate_entry(name, cfg)
    p = Path(path) if path is not None else registry_path()
    models: dict[str, Any] = {}
    if p.is_file():
        models = {n: c.to_json() for n, c in entries(p).items()}
    models[name] = cfg.to_json()
    doc = {"format_version": REGISTRY_FORMAT, "models": dict(sorted(models.items()))}
    atomic_write_text(p, json.dumps(doc, indent=2) + "\n")
    return p


__all__ = [
    "BARS_PAPER",
    "CARD_FILE",
    "CONFIG_FILE",
    "DATASET_NORMALIZATION",
    "GENOTYPE_FILE",
    "SOURCE_PREFIXES",
    "WEIGHTS_FILE",
    "Backbone",
    "ModelConfig",
    "PretrainedCfg",
    "add_entry",
    "bundled_dir",
    "default_cfg",
    "entries",
    "genotype_sha256",
    "get",
    "has_weights",
    "pretrained_names",
    "read_config",
    "registry_path",
    "validate_entry",
    "weights_source",
]
