"""Class names of the data sets bars-zoo knows, in label order, without torch.

``bars_zoo.data`` reads its data sets with these names; ``bars_zoo.pretrainedcfg.default_cfg`` gives
them as the ``labels`` of an architecture-only model whose data set it knows and whose classes are
as many (``bars-zoo build FILE -o DIR``; :func:`bars_zoo.knowndata.dataset_for` decides the data
set), so that they are the same wherever a model's configuration comes from.  ImageNet's
thousand names are not shipped: its models carry no labels unless their registry entry gives them.
"""

from __future__ import annotations

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: data set name (as ``bars_zoo.data.DATASETS`` and ``--dataset`` spell it) -> class names
DATASET_CLASSES: dict[str, tuple[str, ...]] = {
    "fashion-mnist": FASHION_CLASSES,
    "cifar10": CIFAR10_CLASSES,
}

__all__ = ["CIFAR10_CLASSES", "DATASET_CLASSES", "FASHION_CLASSES"]
