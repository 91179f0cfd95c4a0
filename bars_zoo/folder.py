"""A model folder on disk: ``save_pretrained`` writes one, ``load_folder`` verifies and loads one.

The layout is the same bundled in the package, in a local folder and in a Hugging Face Hub repo::

    config.json        ModelConfig: versions, architecture, genotype sha256, weights sha256 + size,
                       packed flag, pretrained_cfg (mean/std/input_size/dataset/top-1...), complexity
    genotype.geno      the architecture, canonical text (bars_zoo.dsl.format)
    model.safetensors  the weights (bars_zoo.packing: 1-bit packed binary convolutions)
    README.md          the model card (bars_zoo.card)

Loading checks, in order: no pickle; ``config.json`` parses; the genotype's canonical sha256 matches
``config.json`` and the config's input size and classes are the genotype's
(:func:`bars_zoo.lookup.check_folder_files`, which ``bars-zoo list`` uses too); the weights' sha256
matches the registry (when it pins one) and ``config.json``, and their size is the recorded one; the
genotype sha256 in the weights' metadata matches; every tensor name, shape and dtype fits the
architecture.  Writes replace the folder atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bars_zoo import registry
from bars_zoo._io import blamed_on, check_file_path
from bars_zoo._read import check_regular, read_regular_text
from bars_zoo.builder import BarsNet, build, unwrap_model
from bars_zoo.card import render_card
from bars_zoo.checkpoint import CHECKPOINT, MODEL_DIR
from bars_zoo.complexity import complexity
from bars_zoo.dsl import format as format_spec
from bars_zoo.errors import ConfigError, IntegrityError, UnknownModelError, option
from bars_zoo.foldercard import folder_card, write_card
from bars_zoo.foldercard import hand_written_card as hand_written_card
from bars_zoo.lookup import check_folder_files
from bars_zoo.metacheck import warn_stale_meta
from bars_zoo.packing import (
    PICKLE_SUFFIXES,
    binary_convs,
    cached_repo,
    genotype_sha256,
    load_tensors,
    metadata_flag,
    read_weights,
    refuse_pickle,
    weights_bytes,
)
from bars_zoo.pretrainedcfg import validated_cfg
from bars_zoo.registry import (
    CARD_FILE,
    CONFIG_FILE,
    FOLDER_FORMAT,
    GENOTYPE_FILE,
    WEIGHTS_FILE,
    ModelConfig,
    PretrainedCfg,
)
from bars_zoo.spec import NetworkSpec
from bars_zoo.trainedness import folder_record, folder_trained, set_trained

FOLDER_FILES = (CONFIG_FILE, GENOTYPE_FILE, WEIGHTS_FILE, CARD_FILE)

# --------------------------------------------------------------------------- save


def save_pretrained(
    model: nn.Module,
    save_directory: str | os.PathLike[str],
    *,
    packed: bool = True,
    pretrained_cfg: PretrainedCfg | Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a model folder; returns the folder.

    ``packed=True`` stores binary weights as sign bits + one scale per layer (~1/32 of float32;
    eval outputs of the reloaded model equal the original's exactly); ``packed=False`` keeps the
    latent float weights for further training.  ``pretrained_cfg`` (a :class:`PretrainedCfg`, or a
    dict of fields such as ``dataset``, ``mean``, ``std``, ``top1``, ``train_command``) overrides
    the model's own ``pretrained_cfg``.  The folder is replaced atomically.
    """
    return write_folder(
        Path(save_directory), folder_files(model, packed=packed, pretrained_cfg=pretrained_cfg)
    )


def folder_files(
    model: nn.Module,
    *,
    packed: bool = True,
    pretrained_cfg: PretrainedCfg | Mapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """The files :func:`save_pretrained` writes for ``model``, file name -> bytes, weights
    serialised once (a caller that checks them before :func:`write_folder` writes them, as
    ``bars-zoo build -o`` does, checks the very bytes written)."""
    from bars_zoo import __version__

    model = unwrap_model(model)
    spec = getattr(model, "spec", None)
    if not isinstance(spec, NetworkSpec):
        raise ConfigError(
            "save_pretrained needs a bars-zoo model (one with a .spec)",
            hint="build it with bars_zoo.build(spec) or bars_zoo.load(name)",
        )
    cx = complexity(spec)
    if not binary_convs(model) and cx.bops > 0:
        raise ConfigError(  # a DeployedNet: packed kernels, no latent binary weights to save
            "this is a deployed model (packed XNOR kernels): it has no weights save_pretrained "
            "can write",
            hint="save the BarsNet you deployed: bars_zoo.save_pretrained(model, DIR), then "
            "bars_zoo.load_deployed(DIR)",
        )
    data = weights_bytes(model, spec, packed=packed, version=__version__)
    sha = hashlib.sha256(data).hexdigest()
    cfg = _merge_cfg(model, spec, pretrained_cfg).model_copy(update={"sha256": sha})
    # the model's own state (bars_zoo.trainedness), recorded when the folder would read otherwise
    trained = folder_record(model, packed=packed, cfg=cfg)
    config = ModelConfig(
        format_version=FOLDER_FORMAT,
        bars_zoo_version=__version__,
        architecture=spec.name,
        genotype_sha256=genotype_sha256(spec),
        weights_sha256=sha,
        weights_size=len(data),
        packed=packed,
        pretrained_cfg=cfg,
        complexity=cx.to_dict(layers=False),
        trained=trained,
    )
    files = {
        CONFIG_FILE: config.to_bytes(),
        GENOTYPE_FILE: format_spec(spec).encode(),
        WEIGHTS_FILE: data,
    }
    sizes = {k: len(v) for k, v in files.items()}
    card = render_card(
        spec,
        cfg,
        packed=packed,
        complexity_summary=cx.summary(),
        files=sizes,
        trained=folder_trained(config),
    )
    files[CARD_FILE] = card.encode()
    return files


def _merge_cfg(
    model: nn.Module, spec: NetworkSpec, override: PretrainedCfg | Mapping[str, Any] | None
) -> PretrainedCfg:
    fields = override.model_dump() if isinstance(override, PretrainedCfg) else dict(override or {})
    _check_shape(fields, spec)  # first: labels for the other class count would be the error else
    if isinstance(override, PretrainedCfg):
        cfg = override
    else:
        have = getattr(model, "pretrained_cfg", None)
        base = (
            have
            if isinstance(have, PretrainedCfg)
            else registry.default_cfg(spec, fields.get("dataset"))
        )
        cfg = validated_cfg({**base.to_json(), **fields, "revision": None})
    _check_shape(cfg.model_dump(), spec)
    return cfg.model_copy(update={"architecture": spec.name})


def _check_shape(fields: dict[str, Any], spec: NetworkSpec) -> None:
    """A :class:`ConfigError` when ``num_classes``/``input_size`` in ``fields`` are not the model's."""
    classes, size = fields.get("num_classes"), fields.get("input_size")
    wrong = [
        f"{classes} classes, but the model has {spec.num_classes}"
        if isinstance(classes, int) and classes != spec.num_classes
        else "",
        f"input_size {tuple(size)}, but the model takes {spec.input_shape}"
        if isinstance(size, list | tuple) and tuple(size) != spec.input_shape
        else "",
    ]
    if any(wrong):
        raise ConfigError(
            "pretrained_cfg says " + "; and ".join(w for w in wrong if w),
            hint="leave num_classes/input_size out of pretrained_cfg (they come from the model), "
            "or change the model's classifier first (model.reset_classifier(n))",
        )


def write_folder(target: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` into a fresh sibling folder, then rename it over ``target`` (over the
    folder a symlink ``target`` points to: the link stays)."""
    target = check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with blamed_on(target):
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old = None
    try:
        os.chmod(tmp, 0o755)
        for name, data in files.items():
            with blamed_on(target / name), open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        if target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, old / "x")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "x").exists() and not target.exists():
            os.replace(old / "x", target)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


def check_target(target: str | os.PathLike[str]) -> Path:
    """The folder :func:`write_folder` would write for ``target`` (the folder a symlink points
    to), after the checks it makes before writing: a folder that exists may be replaced only when
    it is empty or a bars-zoo model folder, and no file may stand where a folder belongs.  Raises
    :class:`ConfigError`; a command calls it to refuse before its work, not after."""
    path = Path(target).expanduser()
    if path.is_symlink():
        path = path.resolve()
    if path.exists():
        _check_replaceable(path)
    check_file_path(path / "x")  # a file in the way: name it, not the mkdir that trips on it
    return path


def _check_replaceable(target: Path) -> None:
    """A folder may be replaced only when it is empty or a bars-zoo model folder: its
    ``config.json`` is bars-zoo's, and nothing else is in it but the other files bars-zoo writes,
    a generated card and the Hub client's download metadata (``.cache/huggingface``)."""
    if not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder", hint="choose another path")
    names = sorted(p.name for p in target.iterdir())
    foreign = [n for n in names if n not in (*FOLDER_FILES, ".cache")]
    cache = target / ".cache"
    if cache.exists() and (
        not cache.is_dir() or any(p.name != "huggingface" for p in cache.iterdir())
    ):
        foreign.append(".cache")
    if hand_written_card(target):
        foreign.insert(0, f"a hand-written {CARD_FILE}")
    ours = [n for n in FOLDER_FILES if n in names and n != CARD_FILE]
    if ours and not _written_by_bars_zoo(target / CONFIG_FILE):
        foreign.insert(0, f"{', '.join(ours)} of another model or library")
    if foreign:
        raise ConfigError(
            f"refusing to replace {target}: it holds files bars-zoo did not write "
            f"({', '.join(foreign[:5])})",
            hint="save into a new or empty folder",
        )


def _written_by_bars_zoo(config: Path) -> bool:
    try:
        data = json.loads(read_regular_text(config))
    except (OSError, ValueError, ConfigError):  # ConfigError: not a regular file
        return False
    return isinstance(data, dict) and data.get("library_name") == "bars-zoo"


def local_folder(
    path_text: str, *, hint: str = "local-dir: takes a folder written by save_pretrained"
) -> Path:
    if not path_text.strip():  # Path("") would be the current folder
        raise UnknownModelError("local-dir: needs a path", hint="write local-dir:PATH/TO/FOLDER")
    path = Path(path_text).expanduser()
    if path.is_file():
        refuse_pickle(path)
        if path.suffix == ".safetensors":
            return path.parent
    if not path.is_dir():
        raise UnknownModelError(f"no model folder at {path}", hint=hint)
    return path


def load_folder(
    folder: Path,
    *,
    expected_sha256: str | None = None,
    cfg: PretrainedCfg | None = None,
    device: torch.device | str | None = None,
) -> BarsNet:
    """Verify and load a model folder (see the module docstring for the checks)."""
    weights = folder / WEIGHTS_FILE
    check_regular(weights)  # a FIFO: refused as such, not "has no model.safetensors"
    if not weights.is_file():
        if (folder / CHECKPOINT).is_file():  # the --out folder of `bars-zoo train`
            model_dir = folder / MODEL_DIR
            raise UnknownModelError(
                f"{folder} is a `bars-zoo train` training output folder, not a model folder",
                hint=f"give its model folder, {model_dir}"
                if (model_dir / WEIGHTS_FILE).is_file()
                else "the run has not finished: resume it (the same training settings with "
                f"{option('resume', True)}); it writes the model folder {model_dir} at the end "
                "(its best weights "
                f"so far: bars_zoo.training.model_from_checkpoint({str(folder)!r}), or "
                f"`bars-zoo eval {folder}`)",
            )
        pickles = sorted(p.name for p in folder.glob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            refuse_pickle(folder / pickles[0])
        if not any(
            (folder / f).is_file() for f in FOLDER_FILES
        ):  # a wrong path, not a broken model
            raise UnknownModelError(
                f"{folder} is not a model folder (it has none of {', '.join(FOLDER_FILES[:3])})",
                hint="give a folder written by save_pretrained, `bars-zoo train` (its model/) "
                "or `bars-zoo pull`",
            )
        raise IntegrityError(f"{folder} has no {WEIGHTS_FILE}", hint="is this a model folder?")
    config, spec = check_folder_files(folder)  # what `bars-zoo list` checks too
    warn_stale_meta(spec, str(folder / GENOTYPE_FILE))
    g = config.genotype_sha256
    if expected_sha256 is not None and expected_sha256 != config.weights_sha256:
        cached = cached_repo(weights)
        if folder.parent == registry.resource_dir("pretrained"):
            hint = "the bundled files were changed: reinstall bars-zoo"
        elif cached is not None:
            hint = (
                f"the cached snapshot holds other weights: delete {cached} and run `bars-zoo pull`"
            )
        else:
            hint = "the folder holds other weights than the registry names: replace it with them"
        raise IntegrityError(
            f"sha256 mismatch for {weights}: the registry pins {expected_sha256}, the folder "
            f"records {config.weights_sha256}",
            hint=hint,
        )
    tensors, meta = read_weights(weights, sha256=config.weights_sha256, size=config.weights_size)
    if meta.get("genotype_sha256") != g:
        raise IntegrityError(
            f"{weights} was saved for another genotype (sha256 {meta.get('genotype_sha256')}) "
            f"than {folder / GENOTYPE_FILE} ({g})",
            hint="keep the genotype.geno that was saved with the weights",
        )
    packed = metadata_flag(meta, weights)
    if packed != config.packed:
        raise IntegrityError(f"{weights} packed={packed} but {CONFIG_FILE} says {config.packed}")
    model = build(spec)
    load_tensors(model, tensors, packed=packed)
    model.pretrained_cfg = cfg or config.pretrained_cfg  # type: ignore[assignment]
    model.eval()
    # what the folder records (bars_zoo.trainedness): saving these weights again keeps it
    set_trained(model, folder_trained(config))
    return model.to(device) if device is not None else model


# folder_card, write_card (and hand_written_card) live in bars_zoo.foldercard; re-exported here,
# where they were
__all__ = [
    "FOLDER_FILES",
    "check_target",
    "folder_card",
    "folder_files",
    "load_folder",
    "local_folder",
    "save_pretrained",
    "write_card",
    "write_folder",
]
