"""Where a name's genotype and weights are on this machine, without the network or torch.

``load`` and ``bars-zoo list`` decide with the same functions, so that what is listed loads:
:func:`check_folder_files` (the checks of a model folder short of reading its weights),
:func:`check_weights_folder` (may a ``$BARS_ZOO_WEIGHTS_DIR/<name>/`` folder stand in for
``name``), :func:`zoo_genotype` (the package's genotype of a name), :func:`local_genotype` (also a
weights folder's, or a pulled Hub repo's in the Hugging Face cache), :func:`untrained_weights`
(whether the weights folder ``load`` takes records no training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bars_zoo.errors import BarsError, ConfigError, IntegrityError
from bars_zoo.registry import (
    CONFIG_FILE,
    GENOTYPE_FILE,
    SOURCE_PREFIXES,
    WEIGHTS_FILE,
    ModelConfig,
    PretrainedCfg,
    bundled_dir,
    entries,
    genotype_sha256,
    get,
    read_config,
    weights_source,
)
from bars_zoo.trainedness import folder_trained
from bars_zoo.weightsdir import WEIGHTS_DIR_ENV, weights_dir


def check_folder_files(folder: Path) -> tuple[ModelConfig, Any]:
    """``folder``'s config and spec, after the checks ``load`` makes before it reads the weights
    (the same function, so that listing agrees): ``config.json`` parses, ``genotype.geno``
    parses, its canonical sha256 is ``config.json``'s ``genotype_sha256``, and the config's input
    size and classes are the genotype's.  Raises :class:`IntegrityError` or
    :class:`~bars_zoo.errors.GenotypeError`."""
    from bars_zoo.dsl import read

    config = read_config(folder)
    spec = read(folder / GENOTYPE_FILE)
    g = genotype_sha256(spec)
    if g != config.genotype_sha256:
        raise IntegrityError(
            f"{folder / GENOTYPE_FILE} does not match {CONFIG_FILE} (genotype sha256 {g[:12]}.., "
            f"recorded {config.genotype_sha256[:12]}..)",
            hint="the genotype was edited after saving: restore it, or re-save the model",
        )
    pc = config.pretrained_cfg
    if pc.input_size != spec.input_shape or pc.num_classes != spec.num_classes:
        raise IntegrityError(
            f"{folder / CONFIG_FILE} says input {'x'.join(map(str, pc.input_size))} / "
            f"{pc.num_classes} classes but {GENOTYPE_FILE} has "
            f"{'x'.join(map(str, spec.input_shape))} / {spec.num_classes}",
            hint="config.json was edited after saving: restore it, or re-save the model",
        )
    return config, spec


def check_weights_folder(folder: Path, name: str) -> ModelConfig:
    """The config of ``$BARS_ZOO_WEIGHTS_DIR/<name>/``, after the checks that let it stand in for
    ``name``: ``load`` reads ``name`` as a name (not ``local-dir:``/``hf-hub:``), the folder
    holds ``model.safetensors`` (else ``load``'s reason: a pickle, no model folder ...), passes
    :func:`check_folder_files`, and when ``name`` is a zoo or registry name it holds that
    architecture (by name, and by the genotype sha256 of the zoo's genotype where there is one
    here); any other name may hold any architecture.  Raises a
    :class:`~bars_zoo.errors.BarsError`.  ``load`` verifies the weights themselves (sha256,
    tensors) when it reads them."""
    for prefix in SOURCE_PREFIXES:
        if name.startswith(prefix):
            raise ConfigError(
                f"{folder} cannot be loaded by its name: load reads {name!r} as the "
                f"{'local path' if prefix == 'local-dir:' else 'Hub repo'} "
                f"{name[len(prefix) :]!r}",
                hint=f"rename the folder (a name not starting with {prefix}), or load it as "
                f"local-dir:{folder}",
            )
    if not (folder / WEIGHTS_FILE).is_file():
        from bars_zoo.folder import load_folder  # its reasons, torch and all: only for this

        load_folder(folder)  # raises: a pickle, a training output, not a model folder ...
        raise IntegrityError(f"{folder} has no {WEIGHTS_FILE}")  # (not reached)
    config, _ = check_folder_files(folder)
    entry = get(name)
    arch = entry.architecture if entry is not None else name
    zoo = zoo_genotype(name, entry)
    if zoo is None and entry is None:
        return config  # not a zoo name: a folder of any architecture
    held = config.architecture
    from bars_zoo.zoo import bundled_genotypes

    other = held if held not in (set(entries()) | set(bundled_genotypes())) else f"my-{held}"
    hint = (
        f"${WEIGHTS_DIR_ENV}/{name}/ is where load looks for the zoo's {arch}: rename the folder "
        f"to a name the zoo does not use (e.g. {other!r}), or load it as local-dir:{folder}"
    )
    if held != arch:
        raise IntegrityError(f"{folder} holds {held!r}, not {arch!r}", hint=hint)
    if zoo is not None and config.genotype_sha256 != (zoo_sha := genotype_sha256(zoo)):
        raise IntegrityError(
            f"{folder} holds an architecture named {arch!r} that is not the zoo's {arch} "
            f"(genotype sha256 {config.genotype_sha256[:12]}.., the zoo's {zoo_sha[:12]}..)",
            hint=hint,
        )
    return config


def zoo_genotype(name: str, entry: PretrainedCfg | None) -> Any:
    """The spec ``name`` stands for in the package: the bundled ``genotype.geno`` of a registry
    entry bundled with it, else ``genotypes/<architecture>.geno``; ``None`` when neither exists
    (an entry whose genotype is only in its Hub repo, or no zoo name)."""
    from bars_zoo.dsl import read
    from bars_zoo.zoo import bundled_genotypes, load_genotype

    bundled = bundled_dir(name) / GENOTYPE_FILE
    if entry is not None and bundled.is_file():
        return read(bundled)
    arch = entry.architecture if entry else name
    return load_genotype(arch) if arch in bundled_genotypes() else None


def local_genotype(name: str) -> Any:
    """The architecture of ``name`` from the files on this machine, never the network: the
    package's (:func:`zoo_genotype`), the ``$BARS_ZOO_WEIGHTS_DIR`` folder's that ``load`` uses,
    or the Hugging Face cache's copy of the pinned Hub repo (after ``bars-zoo pull``); ``None``
    when there is none here."""
    from bars_zoo.dsl import read

    entry = get(name)
    spec = zoo_genotype(name, entry)
    local = weights_dir(name)
    if spec is None and local is not None and weights_source(name, entry) == f"${WEIGHTS_DIR_ENV}":
        spec = read(local / GENOTYPE_FILE)
    if spec is None and entry is not None and entry.hub_repo is not None:
        spec = cached_genotype(entry.hub_repo, entry.revision)
    return spec


def untrained_weights(name: str) -> bool | None:
    """Whether the weights ``load(name)`` takes are a ``$BARS_ZOO_WEIGHTS_DIR`` folder whose
    ``config.json`` records no training (:func:`bars_zoo.trainedness.folder_trained`:
    the folder ``bars-zoo build NAME -o DIR`` writes, latent initial weights).  ``load(name)``
    loads it all the same; ``bars-zoo list`` marks it ``untrained``.  Bundled and Hub weights are
    a registry entry's, published with their accuracy: ``False``.  ``None`` when ``load(name)``
    finds no weights (a genotype-only name, an unknown one, a refused folder), as the ``untrained``
    field of ``bars-zoo list --json`` says: neither trained nor untrained."""
    source = weights_source(name, get(name))
    if source is None:
        return None
    local = weights_dir(name)
    if local is None or source != f"${WEIGHTS_DIR_ENV}":
        return False
    return not folder_trained(read_config(local))


def cached_genotype(repo: str, revision: str | None) -> Any:
    """The genotype of Hub repo ``repo`` at ``revision`` when the Hugging Face cache holds it,
    else ``None``; never asks the Hub."""
    from huggingface_hub import try_to_load_from_cache

    from bars_zoo.dsl import read

    path = try_to_load_from_cache(repo, GENOTYPE_FILE, revision=revision)
    if not isinstance(path, str):
        return None
    try:
        return read(path)
    except BarsError:  # a damaged cache: `load` and `bars-zoo pull` say so
        return None


__all__ = [
    "cached_genotype",
    "check_folder_files",
    "check_weights_folder",
    "local_genotype",
    "untrained_weights",
    "zoo_genotype",
]
