"""A pretrained configuration: how a set of weights was made and how to feed the model.

:class:`PretrainedCfg` is ``model.pretrained_cfg``, each registry entry
(:mod:`bars_zoo.registry`) and the ``pretrained_cfg`` of a model folder's ``config.json``: the
input size and per-channel mean/std a preprocessing pipeline needs, and the weights' provenance
(data set, labels, top-1, training command, hardware, Hub pin, the backbone they come from).
:func:`default_cfg` gives an architecture without weights its config.  Mirrors timm's
``pretrained_cfg``: a config kept apart from the architecture.  Torch-free.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bars_zoo.backbone import Backbone
from bars_zoo.classnames import DATASET_CLASSES
from bars_zoo.errors import ConfigError
from bars_zoo.knowndata import DATASET_NORMALIZATION, dataset_for

BARS_PAPER = "https://arxiv.org/abs/2011.10804"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class PretrainedCfg(BaseModel):
    """How a set of weights was made and how to feed the model (``model.pretrained_cfg``).

    ``mean``/``std`` (one value per input channel) and ``input_size`` ``(C, H, W)`` are what a
    preprocessing pipeline needs; the rest is provenance.  ``hub_repo``/``revision``/``sha256``
    pin the published file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    architecture: Annotated[str, Field(min_length=1, max_length=64)]
    dataset: str | None = None
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: Annotated[int, Field(ge=1)]
    labels: tuple[str, ...] = ()
    top1: Annotated[float, Field(ge=0, le=100)] | None = None
    # the test images top1 was measured on, when fewer than the whole test split (a --subset
    # run); None: the whole split
    top1_images: Annotated[int, Field(ge=1)] | None = None
    # a model trained on an image folder: the folder split top1 was measured on ("sketches/val":
    # DIR/val/ when DIR has no test/) and how many images it has; None: the data set's test split
    test_split: str | None = None
    test_split_images: Annotated[int, Field(ge=1)] | None = None
    license: str = "apache-2.0"
    paper: str = BARS_PAPER
    train_command: str | None = None
    hardware: str | None = None
    hub_repo: str | None = None
    revision: str | None = None
    sha256: str | None = None
    # the pretrained model the backbone comes from, after a new classifier (for_new_classifier)
    backbone: Backbone | None = None

    def untrained(self) -> PretrainedCfg:
        """This configuration for the architecture alone (``load(..., pretrained=False)``): how
        to feed the model stays, what described the published weights (accuracy, training
        command, hardware, Hub pin) goes, so that saving the model claims none of it."""
        drop = (
            "top1",
            "top1_images",
            "test_split",
            "test_split_images",
            "train_command",
            "hardware",
            "hub_repo",
            "revision",
            "sha256",
            "backbone",
        )
        return self.model_copy(update=dict.fromkeys(drop))

    def records_weights(self, *, backbone: bool = True) -> bool:
        """Whether this configuration records weights of its own: a top-1, training command or
        Hub repo, or (``backbone``) a pretrained :attr:`backbone`.  Provenance only: whether
        weights are trained is :mod:`bars_zoo.trainedness`'s to say (this is its rule for a
        folder without a ``trained`` record)."""
        own = (self.top1, self.train_command, self.hub_repo, self.backbone if backbone else None)
        return any(v is not None for v in own)

    def for_new_classifier(self, num_classes: int, *, trained: bool | None = None) -> PretrainedCfg:
        """This configuration once the classifier is replaced by a fresh one for ``num_classes``
        classes (``load(name, num_classes=N)``, ``model.reset_classifier(N)``): how to feed the
        backbone (input size, mean/std) stays; the data set and labels (the new classifier's are
        unknown until the user gives them) and whatever described the published weights
        (:meth:`untrained`: top-1, command, Hub pin) go, and :attr:`backbone` records the
        pretrained model the backbone comes from (this one when it describes trained weights of
        its own, else the backbone it already names; none for untrained weights).  ``trained``:
        the model's state (:mod:`bars_zoo.trainedness`): ``True``, the weights are trained
        although this may record no top-1, command or Hub repo (a packed folder of your own): the
        backbone is this model, its top-1 absent; ``False``, untrained: no backbone, whatever
        this records (an untrained model pushed with ``--allow-untrained`` names a Hub repo)."""
        backbone = self.as_backbone(trained=trained)
        update = {"num_classes": num_classes, "labels": (), "dataset": None, "backbone": backbone}
        return self.untrained().model_copy(update=update)

    def as_backbone(
        self, classifier: Literal["new", "kept"] = "new", *, trained: bool | None = None
    ) -> Backbone | None:
        """Where a model that starts from these weights has its backbone from (a new classifier,
        a fine-tuning run): this model when it describes trained weights of its own (or
        ``trained`` says they are, with no backbone named), else the backbone it already names
        (with ``classifier`` set); ``None`` for untrained weights (``trained=False``, the model's
        state, :mod:`bars_zoo.trainedness`, or nothing recorded)."""
        if trained is False:
            return None
        if self.records_weights(backbone=False) or (trained and self.backbone is None):
            return Backbone.of(self, classifier)
        if self.backbone is None:
            return None
        return self.backbone.model_copy(update={"classifier": classifier})

    def top1_split(self) -> str:
        """What ``top1`` was measured on, in words: ``"the full fashion-mnist test split"`` or
        ``"2,000 images of the fashion-mnist test split"`` (a ``--subset`` run); for an image
        folder the split folder itself: ``"the 40 images of sketches/val"``, ``"20 of the 40
        images of sketches/val"``."""
        if self.test_split is not None:
            if self.test_split_images is None:
                part = f"{self.top1_images:,} images of " if self.top1_images is not None else ""
                return part + self.test_split
            part = f"{self.top1_images:,} of " if self.top1_images is not None else ""
            return f"{part}the {self.test_split_images:,} images of {self.test_split}"
        split = f"{self.dataset or 'unknown'} test split"
        if self.top1_images is None:
            return f"the full {split}"
        return f"{self.top1_images:,} images of the {split}"

    @model_validator(mode="after")
    def _consistent(self) -> PretrainedCfg:
        c = self.input_size[0]
        if len(self.mean) != c or len(self.std) != c:
            raise ValueError(f"mean and std need one value per input channel ({c})")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        if self.labels and len(self.labels) != self.num_classes:
            raise ValueError(f"labels has {len(self.labels)} names for {self.num_classes} classes")
        if self.sha256 is not None and not SHA256_RE.match(self.sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        if self.hub_repo is not None and self.hub_repo.count("/") != 1:
            raise ValueError("hub_repo must look like 'org/name'")
        return self

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists), as stored in ``config.json`` and the registry."""
        return json.loads(self.model_dump_json())


def default_cfg(spec: Any, dataset: str | None = None) -> PretrainedCfg:
    """A config for an architecture without weights: shapes from ``spec``; the data set
    ``dataset``, else :func:`bars_zoo.knowndata.dataset_for`'s (the genotype's ``meta dataset=``
    unless it contradicts the input, else a known data set of the same input and classes); its
    normalisation (else mean 0 / std 1) and its class names
    (:data:`bars_zoo.classnames.DATASET_CLASSES`) as ``labels`` when they are as many as the
    genotype's classes."""
    shape = tuple(spec.input_shape)
    if dataset is None:
        dataset = dataset_for(spec)
    mean, std = DATASET_NORMALIZATION.get(dataset or "", ((0.0,) * shape[0], (1.0,) * shape[0]))
    if len(mean) != shape[0]:
        mean, std = (0.0,) * shape[0], (1.0,) * shape[0]
    return PretrainedCfg(
        architecture=spec.name,
        dataset=dataset,
        input_size=(shape[0], shape[1], shape[2]),
        mean=mean,
        std=std,
        num_classes=spec.num_classes,
        labels=labels
        if len(labels := DATASET_CLASSES.get(dataset or "", ())) == spec.num_classes
        else (),
    )


def validated_cfg(data: dict[str, Any], what: str = "pretrained_cfg") -> PretrainedCfg:
    """``PretrainedCfg.model_validate(data)``, or a :class:`~bars_zoo.errors.ConfigError` that
    names each key at fault (an unknown key with the nearest valid one) and lists the valid keys,
    instead of pydantic's multi-line dump."""
    try:
        return PretrainedCfg.model_validate(data)
    except ValidationError as exc:
        keys = list(PretrainedCfg.model_fields)
        lines, unknown = [], []
        for e in exc.errors()[:10]:
            where = ".".join(str(p) for p in e["loc"]) or "(the whole config)"
            if e["type"] == "extra_forbidden":
                unknown.append(where)
                near = difflib.get_close_matches(where, keys, n=1)
                lines.append(
                    f"unknown key {where!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                )
            else:
                lines.append(f"{where}: {str(e['msg']).removeprefix('Value error, ')}")
        hint = (
            f"the keys a {what} takes: {', '.join(keys)}"
            if unknown
            else "fix the values named above"
        )
        raise ConfigError(f"invalid {what}: " + "; ".join(lines), hint=hint) from None


__all__ = ["BARS_PAPER", "SHA256_RE", "PretrainedCfg", "default_cfg", "validated_cfg"]
