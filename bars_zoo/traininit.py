"""Where a training run's weights start: random (the default), or pretrained weights to fine-tune
(``bars-zoo train GENOTYPE --init pretrained|NAME|local-dir:DIR|hf-hub:ORG/REPO``,
``bars_zoo.train(..., init=...)``).

The weights come through :func:`bars_zoo.hub.load`, so a name resolves as it does for ``load``.
They must be of the genotype's architecture, except the classifier: the input shape, stem, cells,
layout and head have to be equal (the first line of the canonical genotype text that differs is
named otherwise).  When the data set has another class count than the weights' classifier, the
classifier is replaced by :meth:`~bars_zoo.builder.BarsNet.reset_classifier`, as
``load(name, num_classes=N)`` does.  Everything is checked before the run folder is touched; a
resumed run continues from its checkpoint and never reads the weights again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from bars_zoo.builder import BarsNet
from bars_zoo.complexity import format_shape
from bars_zoo.data import dataset_info
from bars_zoo.dsl import format as format_spec
from bars_zoo.errors import ArgumentTypeError, ConfigError, WeightsNotPublishedError, option
from bars_zoo.spec import NetworkSpec, with_new_classifier
from bars_zoo.trainedness import weights_trained

#: ``--init pretrained``: the published weights of the zoo name given as GENOTYPE
PRETRAINED = "pretrained"
_SOURCES = f"{option('init', PRETRAINED)} (the zoo name's own weights), NAME, local-dir:DIR or hf-hub:ORG/REPO"
_NAMED = f"{option('init', 'NAME')}, {option('init', 'local-dir:DIR')} or {option('init', 'hf-hub:ORG/REPO')}"


def check_genotype(genotype: object) -> None:
    """:class:`~bars_zoo.errors.ArgumentTypeError` (a ``ConfigError``) unless ``genotype`` is a
    spec, a name or a path: a model is the usual slip (``init=`` gives a run its weights)."""
    if isinstance(genotype, NetworkSpec | str | os.PathLike):
        return
    what = type(genotype).__name__
    if isinstance(getattr(genotype, "spec", None), NetworkSpec):
        cfg = getattr(genotype, "pretrained_cfg", None)
        name = getattr(cfg, "architecture", None) or "NAME"
        raise ArgumentTypeError(
            f"train takes a genotype (a spec, a zoo name or a .geno file), got a model ({what})",
            hint=f"pass model.spec to train the architecture from random weights; to start from the "
            f"model's weights pass {option('init', 'pretrained')} with its zoo name "
            f"(train({name!r}, ..., init='pretrained')), or save it with "
            f"bars_zoo.save_pretrained(model, DIR) and pass {option('init', 'local-dir:DIR')}",
        )
    raise ArgumentTypeError(
        f"train takes a genotype (a spec, a zoo name or a .geno file), got {what}",
        hint="e.g. bars_zoo.train('bars-fmnist-s', ...) or bars_zoo.train(bars_zoo.load_genotype(name), ...)",
    )


def resolve_init(init: str | None, genotype: object) -> str | None:
    """The weights ``init`` names (``None``: random initialisation).  ``"pretrained"`` is the
    genotype's own zoo name, so a spec or a ``.geno`` file given as the genotype has none."""
    if init is None:
        return None
    if not isinstance(init, str) or not init.strip():
        raise ConfigError(f"{option('init', repr(init))} names no weights", hint=f"give {_SOURCES}")
    if init != PRETRAINED:
        return init
    if isinstance(genotype, str) and not Path(genotype).expanduser().is_file():
        return genotype
    what = (
        "a spec" if isinstance(genotype, NetworkSpec) else f"the file {os.fspath(genotype)!r}"  # type: ignore[call-overload]
    )
    raise ConfigError(
        f"{option('init', PRETRAINED)} takes the published weights of a zoo name, but the genotype "
        f"is {what}",
        hint=f"name the weights: {_NAMED}",
    )


def run_spec(
    spec: NetworkSpec, dataset: str, init: str | None, classes: tuple[str, ...] = ()
) -> NetworkSpec:
    """The spec a run trains.  From random weights: the genotype.  From ``init`` on a real data
    set: the genotype with the data set's class count (the classifier is the one part the weights
    need not share).  ``classes``: an image folder's class names (its class count); from random
    weights the genotype must have as many."""
    if dataset == "imagefolder" and init is None and len(classes) != spec.num_classes:
        raise ConfigError(
            f"{spec.name} has {spec.num_classes} classes, but the image folder has "
            f"{len(classes)} class folders ({', '.join(classes)})",
            hint=f"write `classes={len(classes)}` on the genotype's `input` line, or fine-tune "
            f"weights of the architecture with {option('init')} (their classifier is replaced)",
        )
    if init is None or dataset == "synthetic":  # synthetic data has the genotype's classes
        return spec
    n = len(classes) if dataset == "imagefolder" else dataset_info(dataset).num_classes
    return spec if n == spec.num_classes else with_new_classifier(spec, n)


@dataclass(frozen=True)
class InitWeights:
    """Checked weights a run starts from: ``state`` fits the run's model, ``record`` is what
    ``results.json`` keeps of them (``weights``, ``classes``, ``classifier``, ``backbone``)."""

    state: dict[str, Tensor]
    record: dict[str, Any]

    def apply(self, model: BarsNet) -> dict[str, Any]:
        """Load the weights into ``model``; return the record."""
        model.load_state_dict(self.state)
        return self.record


def first_difference(genotype: NetworkSpec, weights: NetworkSpec) -> str | None:
    """The first line of the canonical genotype text where two architectures differ (names,
    ``meta`` and class counts aside), as ``genotype `LINE`, weights `LINE```; ``None`` if equal."""

    def lines(spec: NetworkSpec) -> list[str]:
        same = {"name": "x", "meta": {}, "num_classes": weights.num_classes}
        return [ln for ln in format_spec(spec.model_copy(update=same)).splitlines() if ln.strip()]

    ours, theirs = lines(genotype), lines(weights)
    block = ""  # the cell a node line belongs to
    for i in range(max(len(ours), len(theirs))):
        a = ours[i] if i < len(ours) else "(nothing)"
        b = theirs[i] if i < len(theirs) else "(nothing)"
        if a != b:
            where = f"in `{block}`: " if a[:1].isspace() and b[:1].isspace() else ""
            return f"{where}genotype `{a.strip()}`, weights `{b.strip()}`"
        if not a[:1].isspace():
            block = a.rstrip(" {")
    return None


def init_weights(spec: NetworkSpec, init: str, dataset: str) -> InitWeights:
    """Read and check the weights ``init`` names for a run of ``spec`` (from :func:`run_spec`),
    their classifier replaced when its class count is not the spec's; return them with the run's
    record of them, to be loaded (:meth:`InitWeights.apply`) once every other check of the run
    has passed.  Raises :class:`ConfigError` (before anything is written) for weights of another
    input shape or architecture, or a name without published weights."""
    from bars_zoo.hub import load

    try:
        source = load(init)
    except WeightsNotPublishedError as exc:
        raise ConfigError(
            f"{option('init', init)}: {exc.raw_message}",
            hint=f"leave {option('init')} out to train from random weights, or name published "
            f"weights of the architecture: {_NAMED}",
        ) from None
    want = dataset_info(dataset, spec.input_shape).input_shape
    have = source.spec.input_shape
    if have != want:
        # an image folder is read at the genotype's shape: the genotype is what differs
        what = f"{spec.name} reads" if dataset == "imagefolder" else f"{dataset} has"
        raise ConfigError(
            f"{option('init', init)}: its weights take {format_shape(have)} images, but {what} "
            f"{format_shape(want)} images",
            hint="fine-tuning keeps the input shape: choose a data set of "
            f"{format_shape(have)} images, or leave {option('init')} out and train a genotype whose `input` line "
            f"is {format_shape(want)}",
        )
    diff = first_difference(spec, source.spec)
    if diff is not None:
        raise ConfigError(
            f"{option('init', init)}: the weights are of another architecture than {spec.name!r}; the "
            f"first difference: {diff}",
            hint="only the classifier may differ: train the genotype the weights were trained "
            f"with (bars-zoo show {init}), or leave {option('init')} out",
        )
    record: dict[str, Any] = {"weights": init, "classes": source.num_classes}
    replaced = source.num_classes != spec.num_classes
    # where the run's weights start (its model card's backbone row); the run's own data set and
    # top-1 are recorded beside it once it is trained
    cfg = getattr(source, "pretrained_cfg", None)
    trained = weights_trained(source)
    backbone = (
        cfg.as_backbone("new" if replaced else "kept", trained=trained) if cfg is not None else None
    )
    record["backbone"] = backbone.model_dump(mode="json") if backbone is not None else None
    if replaced:
        source.reset_classifier(spec.num_classes)
        record["classifier"] = f"replaced: {record['classes']} -> {spec.num_classes} classes"
    else:
        record["classifier"] = "kept"
    return InitWeights(source.state_dict(), record)


__all__ = [
    "PRETRAINED",
    "InitWeights",
    "first_difference",
    "init_weights",
    "resolve_init",
    "run_spec",
]
