"""Which data set an architecture without a config is for, without torch.

A model folder's ``pretrained_cfg`` names the data set of the model, its normalisation and class
names; for an architecture alone (``bars-zoo build FILE -o DIR``, ``load(name,
pretrained=False)``) :func:`bars_zoo.pretrainedcfg.default_cfg` fills them in from
:func:`dataset_for`, which claims only what the genotype supports:

- the data set its ``meta dataset=`` line names (spelt as ``--dataset`` spells it: ``CIFAR-10`` is
  ``cifar10``), when bars-zoo knows that data set and its images
  and classes are the genotype's ``input`` (a known data set that contradicts them is not
  trusted: a warning names the contradiction and no data set is recorded);
- a data set bars-zoo does not know (``meta dataset="svhn"``), recorded as named: bars-zoo has
  no normalisation, class names or Hub id for it;
- without a ``meta dataset=`` line, the known data set whose image shape *and* class count are
  the genotype's (1x28x28 / 10 Fashion-MNIST, 3x32x32 / 10 CIFAR-10, 3x224x224 / 1000 ImageNet);
  none otherwise.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from bars_zoo.complexity import format_shape

log = logging.getLogger(__name__)


class KnownData(NamedTuple):
    """What bars-zoo's loaders give for a data set (``bars_zoo.data.DATASETS`` is built from it)."""

    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


#: data set name (as ``--dataset`` spells it) -> its images, classes and normalisation
KNOWN_DATA: dict[str, KnownData] = {
    "fashion-mnist": KnownData((1, 28, 28), 10, (0.2860,), (0.3530,)),
    "cifar10": KnownData((3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": KnownData((3, 224, 224), 1000, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

#: Normalisation of the data sets bars-zoo trains on (as in ``bars_zoo.data``), used for the
#: ``pretrained_cfg`` of architecture-only models; a real entry records its own mean/std.
DATASET_NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    name: (d.mean, d.std) for name, d in KNOWN_DATA.items()
}


def known_name(name: str) -> str | None:
    """The known data set ``name`` spells, ignoring case, ``-``, ``_`` and spaces (``CIFAR-10``,
    ``FashionMNIST``, ``fashion_mnist``), else ``None``."""
    key = "".join(c for c in name.lower() if c not in "-_ ")
    return next((k for k in KNOWN_DATA if k.replace("-", "") == key), None)


def contradiction(dataset: str, shape: tuple[int, int, int], num_classes: int) -> str | None:
    """How known data set ``dataset`` contradicts an input of ``shape`` with ``num_classes``
    classes, in words (``None``: it does not, or bars-zoo does not know the data set)."""
    known = KNOWN_DATA.get(dataset)
    if known is None or (known.input_shape, known.num_classes) == (shape, num_classes):
        return None
    return (
        f"{dataset} has {format_shape(known.input_shape)} images and {known.num_classes} classes, "
        f"the genotype's input is {format_shape(shape)} with {num_classes} classes"
    )


def dataset_for(spec: Any) -> str | None:
    """The data set an architecture-only config of ``spec`` records (module docstring); logs a
    warning when the genotype's ``meta dataset=`` contradicts its ``input`` line."""
    shape = tuple(spec.input_shape)
    named = (getattr(spec, "meta", None) or {}).get("dataset")
    if named is not None:
        named = known_name(str(named)) or str(named)
        why = contradiction(named, shape, spec.num_classes)
        if why is None:
            return named
        log.warning(
            "%s: its meta dataset=%r is not trusted (%s): the config records no data set, "
            "normalisation or class names; give the data set with save_pretrained(..., "
            "pretrained_cfg={'dataset': ...}) or fix the genotype",
            spec.name,
            named,
            why,
        )
        return None
    return next(
        (
            name
            for name, d in KNOWN_DATA.items()
            if (d.input_shape, d.num_classes) == (shape, spec.num_classes)
        ),
        None,
    )


__all__ = [
    "DATASET_NORMALIZATION",
    "KNOWN_DATA",
    "KnownData",
    "contradiction",
    "dataset_for",
    "known_name",
]
