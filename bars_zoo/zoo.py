"""The bundled zoo of architectures: ``genotypes/<name>.geno``, one file per network.

``list_models`` lists names with shell-style wildcards (like timm's ``list_models``);
``load_genotype`` turns a name, or a path to a ``.geno`` file, into a
:class:`~bars_zoo.spec.NetworkSpec`.  The zoo holds the BARS paper's networks (``bars-a`` .. ``bars-f``,
reconstructions fitted to Table 2 of Zhao et al. 2021) and the baselines the complexity counter is
calibrated on (XNOR-Net and Bi-Real ResNet-18).  This module is torch-free.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
from pathlib import Path

from bars_zoo._args import check_flag, check_pattern
from bars_zoo._read import check_regular
from bars_zoo._resources import resource_dir
from bars_zoo.dsl import parse, read_source
from bars_zoo.errors import ArgumentTypeError, OfflineError, UnknownModelError
from bars_zoo.spec import NetworkSpec

GENOTYPE_SUFFIX = ".geno"


def genotype_dir() -> Path:
    """Where the bundled ``.geno`` files live."""
    return resource_dir("genotypes")


def bundled_genotypes() -> dict[str, Path]:
    """The zoo's genotypes: name -> ``genotypes/<name>.geno``."""
    return {p.stem: p for p in sorted(genotype_dir().glob(f"*{GENOTYPE_SUFFIX}"))}


def list_models(
    pattern: str = "*", pretrained: bool = False, *, untrained: bool = True, warn: bool = True
) -> list[str]:
    """Sorted names ``bars_zoo.load`` accepts, matching ``pattern`` (``fnmatch`` wildcards,
    case-sensitive): the zoo's genotypes, the pretrained registry's entries (also those whose
    genotype is only in their Hub repo) and the model folders of ``$BARS_ZOO_WEIGHTS_DIR`` that
    ``load`` accepts under their name.

    ``pretrained=True`` keeps the names ``load(name)`` finds weights for, the way it looks for
    them (:func:`bars_zoo.registry.pretrained_names`): bundled, ``$BARS_ZOO_WEIGHTS_DIR``, or
    pinned on the Hub.  A ``$BARS_ZOO_WEIGHTS_DIR`` folder whose ``config.json`` records no
    training (``bars-zoo build NAME -o DIR`` writes one: initial weights) counts, since ``load``
    loads it; ``untrained=False`` leaves such folders out
    (:func:`bars_zoo.lookup.untrained_weights`; a zoo or registry name stays when
    ``pretrained=False``), so that ``list_models(pretrained=True, untrained=False)`` is the names
    with trained weights.

    A ``$BARS_ZOO_WEIGHTS_DIR`` folder matching ``pattern`` that ``load`` would refuse is left
    out, with a logged warning saying why (``warn=False``: quietly); so is a
    ``$BARS_ZOO_WEIGHTS_DIR`` that names no folder.

    ``pattern`` must be a string and the flags ``bool`` (``pretrained="no"`` would be true):
    anything else is a :class:`~bars_zoo.errors.ConfigError`, checked in signature order.

    >>> list_models("bars-*")  # doctest: +SKIP
    ['bars-a', 'bars-b', 'bars-c', 'bars-d', 'bars-e', 'bars-f']
    """
    check_pattern(pattern)
    check_flag(pretrained, "pretrained")
    check_flag(untrained, "untrained")
    check_flag(warn, "warn")
    from bars_zoo import registry  # owned by the hub side

    names = set(registry.pretrained_names(pattern, warn=warn))
    if not untrained:
        from bars_zoo.lookup import untrained_weights

        names = {n for n in names if untrained_weights(n) is not True}
    if not pretrained:
        names |= set(bundled_genotypes()) | set(registry.entries())
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def close_names(name: str, known: list[str]) -> list[str]:
    """Up to three names of ``known`` close to ``name``, case ignored (``bars-fmnist-M`` ->
    ``bars-fmnist-m`` first)."""
    lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)
    return [lower[c] for c in close]


def unknown_model_hint(name: str, known: list[str], also: str = "") -> str:
    """The hint of every "unknown model" error (``show``, ``eval``, ``load`` ...): up to three
    close names, else every known name and (``also``) what else the caller accepts."""
    close = close_names(name, known)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}?"
    return f"known models: {', '.join(known) or 'none'} (`bars-zoo list` describes them){also}"


def genotype_path(name: str) -> Path:
    """The ``.geno`` file of a zoo name, or ``name`` itself when it is a path to a file.

    Raises :class:`UnknownModelError` (with a did-you-mean hint) for anything else.
    """
    bundled = bundled_genotypes()
    if name in bundled:
        return bundled[name]
    if not name.strip():
        raise UnknownModelError(
            "no genotype named: the name is empty",
            hint="give a .geno file or a zoo name (see `bars-zoo list`)",
        )
    for prefix in ("local-dir:", "hf-hub:"):
        if name.startswith(prefix):
            where = name[len(prefix) :] if prefix == "local-dir:" else "FOLDER"
            hint = f"give the genotype file of the model folder, {where}/genotype.geno"
            if prefix == "hf-hub:":
                hint = f"`bars-zoo pull {name}` prints the FOLDER it is cached in; {hint}"
            raise UnknownModelError(
                f"{name!r} is a model, and a genotype (a zoo name or a .geno file) is needed here",
                hint=hint,
            )
    path = Path(name)
    if path.is_file():  # any existing file, whatever its suffix
        return path
    check_regular(path)  # a FIFO, a device, a pipe (<(...)): not "no genotype file"
    if path.is_dir():
        inside = path / "genotype.geno"
        raise UnknownModelError(
            f"{name!r} is a folder, not a genotype file",
            hint=f"give its genotype file, {inside}"
            if inside.is_file()
            else "give a .geno file or a zoo name (see `bars-zoo list`)",
        )
    if name.endswith(GENOTYPE_SUFFIX) or os.sep in name or "/" in name:
        raise UnknownModelError(
            f"no genotype file {name!r}",
            hint="check the path, or give a zoo name (see `bars-zoo list`)",
        )
    hint = unknown_model_hint(name, list(bundled), "; or give a .geno file")
    raise UnknownModelError(f"unknown model {name!r}", hint=hint)


def load_genotype(name: str | os.PathLike[str]) -> NetworkSpec:
    """The spec of a name that :func:`list_models` lists (``"bars-b"``) or of a ``.geno`` file
    path.  A name without a ``genotypes/<name>.geno`` is looked up where ``load`` finds it, on
    this machine only (:func:`bars_zoo.lookup.local_genotype`): a registry entry's genotype, a
    ``$BARS_ZOO_WEIGHTS_DIR`` folder's, a pulled Hub repo's.

    Parsed specs are cached (they are frozen, so sharing them is safe).  A file that does not parse
    raises :class:`~bars_zoo.errors.GenotypeError` with located diagnostics.
    """
    if not isinstance(name, str | os.PathLike):
        raise ArgumentTypeError(
            f"load_genotype takes a zoo name or a .geno path, got {type(name).__name__}",
            hint="this is a spec already"
            if isinstance(name, NetworkSpec)
            else "a model's genotype is model.spec"
            if isinstance(getattr(name, "spec", None), NetworkSpec)
            else "a name such as 'bars-b' (bars_zoo.list_models() lists them) or a path",
        )
    text = os.fspath(name)
    try:
        path = genotype_path(text)
    except UnknownModelError:
        from bars_zoo import registry  # owned by the hub side
        from bars_zoo.lookup import local_genotype

        spec = local_genotype(text)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
        entry = registry.get(text)
        if entry is None or entry.hub_repo is None:
            raise
        raise OfflineError(
            f"the genotype of {text!r} is in its Hub repo {entry.hub_repo}, which is not in the "
            "Hugging Face cache",
            hint=f"run `bars-zoo pull {text}` (it downloads and verifies the model), then again",
        ) from None
    st = path.stat()
    return _read_cached(str(path.resolve()), st.st_mtime_ns, st.st_size, str(path))


@functools.lru_cache(maxsize=128)
def _read_cached(path: str, mtime_ns: int, size: int, shown_as: str) -> NetworkSpec:
    """``path`` parsed; diagnostics name the file as the user wrote it (``shown_as``)."""
    del mtime_ns, size  # cache keys: an edited file is read again
    return parse(read_source(path), filename=shown_as)


__all__ = ["genotype_dir", "genotype_path", "list_models", "load_genotype"]
