"""Where a name's genotype and weights are on this machine, without the network or torch.

``load`` and ``bars-zoo list`` decide with the same functions, so that what is listed loads:
:func:`check_weights_folder` (may a ``$BARS_ZOO_WEIGHTS_DIR/<name>/`` folder stand in for
``name``), :func:`zoo_genotype` (the package's genotype of a name), :func:`local_genotype` (also a
weights folder's, or a pulled Hub repo's in the Hugging Face cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bars_zoo.errors import BarsError, IntegrityError
from bars_zoo.registry import (
    GENOTYPE_FILE,
    WEIGHTS_DIR_ENV,
    ModelConfig,
    PretrainedCfg,
    bundled_dir,
    genotype_sha256,
    get,
    read_config,
    weights_dir,
    weights_source,
)


def check_weights_folder(folder: Path, name: str) -> ModelConfig:
    """The config of ``$BARS_ZOO_WEIGHTS_DIR/<name>/``, after the checks that let it stand in for
    ``name``: its ``config.json`` parses, and when ``name`` is a zoo or registry name it holds
    that architecture (by name, and by the genotype sha256 of the zoo's genotype where there is
    one here); any other name may hold any architecture.  Raises :class:`IntegrityError`.
    ``load`` verifies the files themselves (sha256, tensors) when it reads them."""
    config = read_config(folder)
    entry = get(name)
    arch = entry.architecture if entry is not None else name
    zoo = zoo_genotype(name, entry)
    if zoo is None and entry is None:
        return config  # not a zoo name: a folder of any architecture
    hint = (
        f"put the {name} model folder there (or load this one by its own name or as "
        f"local-dir:{folder})"
    )
    if config.architecture != arch:
        raise IntegrityError(f"{folder} holds {config.architecture!r}, not {arch!r}", hint=hint)
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
    from bars_zoo.zoo import genotype_dir, load_genotype

    bundled = bundled_dir(name) / GENOTYPE_FILE
    if entry is not None and bundled.is_file():
        return read(bundled)
    arch = entry.architecture if entry else name
    return load_genotype(arch) if (genotype_dir() / f"{arch}.geno").is_file() else None


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


__all__ = ["cached_genotype", "check_weights_folder", "local_genotype", "zoo_genotype"]
