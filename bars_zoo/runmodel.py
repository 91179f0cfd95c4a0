"""A training run read back from its folder: the model of its checkpoint (finished or not), the
``pretrained_cfg`` every model a run yields shares (:func:`run_cfg`), and how it split its data.
:mod:`bars_zoo.training` re-exports these names (``bars_zoo.training.model_from_checkpoint``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from bars_zoo import checkpoint as ckpt
from bars_zoo.backbone import Backbone
from bars_zoo.builder import BarsNet, build
from bars_zoo.checkpoint import BEST, CHECKPOINT
from bars_zoo.data import DatasetInfo, dataset_info
from bars_zoo.dsl import parse
from bars_zoo.errors import CheckpointError
from bars_zoo.registry import PretrainedCfg
from bars_zoo.spec import NetworkSpec
from bars_zoo.trainedness import set_trained

#: the ``format`` of a training checkpoint (``checkpoint.pt``, ``best.pt``)
CHECKPOINT_FORMAT = "bars-zoo-train/1"

#: the attribute :func:`model_from_checkpoint` sets on its model: ``weights_epoch`` (the epoch
#: whose weights it holds), ``epochs_done`` and ``epochs`` (of the unfinished run)
RUN_PROGRESS = "run_progress"


def model_from_checkpoint(
    out_dir: str | os.PathLike[str], device: torch.device | None = None
) -> BarsNet:
    """The model of a (possibly unfinished) training folder, in eval mode: the weights of the best
    validation epoch so far (``best.pt``), else those of the last checkpoint.  ``pretrained_cfg``
    is :func:`run_cfg`'s: how the run feeds its data set."""
    folder = Path(out_dir).expanduser()
    state = ckpt.load(folder / CHECKPOINT)
    if state.get("format") != CHECKPOINT_FORMAT or "model" not in state:
        raise CheckpointError(
            f"{folder / CHECKPOINT} is not a {CHECKPOINT_FORMAT} checkpoint",
            hint="it was written by another tool or version",
        )
    weights, weights_epoch = state["model"], int(state.get("epoch", 0))
    if (folder / BEST).is_file():
        best = ckpt.load(folder / BEST)
        if best.get("fingerprint") == state.get("fingerprint"):
            weights, weights_epoch = best["model"], int(best.get("epoch", weights_epoch))
    spec = parse(state["genotype"])
    model = build(spec)
    model.load_state_dict(weights)
    fields = json.loads(state["fields"])
    info = folder_record(spec, fields.get("folder"))
    backbone = init_backbone(state.get("init"))
    model.pretrained_cfg = run_cfg(spec, fields["dataset"], info, backbone)  # type: ignore[assignment]
    # which epoch's weights these are, of how far the run got (`bars-zoo eval` says so)
    progress = {
        "weights_epoch": weights_epoch,
        "epochs_done": int(state.get("epoch", 0)),
        "epochs": fields.get("epochs"),
    }
    setattr(model, RUN_PROGRESS, progress)
    set_trained(model, True)  # a training run's weights (bars_zoo.trainedness)
    model.eval()
    return model.to(device) if device is not None else model


def folder_record(spec: NetworkSpec, record: dict[str, Any] | None) -> DatasetInfo | None:
    """The :class:`DatasetInfo` of an image folder from a run's record of it (:func:`trajectory`'s
    ``folder``: name, classes, mean, std); ``None`` for a run on another data set."""
    if not record:
        return None
    classes = tuple(record["classes"])
    mean, std = tuple(record["mean"]), tuple(record["std"])
    return DatasetInfo(record["name"], spec.input_shape, len(classes), mean, std, classes)


def init_backbone(record: dict[str, Any] | None) -> Backbone | None:
    """The :class:`Backbone` a run's ``init`` record (:func:`bars_zoo.traininit.init_weights`)
    names: where its weights started; ``None`` for a run from random weights (or one recorded
    before backbones were)."""
    data = (record or {}).get("backbone")
    return Backbone.model_validate(data) if data else None


def run_cfg(
    spec: NetworkSpec,
    dataset: str,
    info: DatasetInfo | None = None,
    backbone: Backbone | None = None,
) -> PretrainedCfg:
    """How a training run of ``spec`` on ``dataset`` feeds its model: input size, classes, the data
    set's mean/std as the run normalises it (:func:`bars_zoo.data.dataset_info`; synthetic data
    of any shape included) and its class names.  The one source of the ``pretrained_cfg`` of every
    model a run yields: :func:`train`'s (unfinished), :func:`model_from_checkpoint`'s and, with
    the test top-1, command and hardware added, the model folder's (:func:`publish`).  ``info``:
    an image folder's (:func:`bars_zoo.imagefolder.folder_info`), recorded under its own name.
    ``backbone``: the pretrained weights an ``--init`` run started from (:func:`init_backbone`)."""
    info = info or dataset_info(dataset, spec.input_shape)
    c, h, w = spec.input_shape
    return PretrainedCfg(
        architecture=spec.name,
        dataset=info.name if dataset == "imagefolder" else dataset,
        input_size=(c, h, w),
        mean=info.mean,
        std=info.std,
        num_classes=spec.num_classes,
        labels=info.classes if len(info.classes) == spec.num_classes else (),
        backbone=backbone,
    )


def run_split(out_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """How a training folder split its data: ``dataset``, ``val_fraction``, ``split_seed`` and
    ``subset`` from its checkpoint (``None`` for a folder that is not a training run)."""
    path = Path(out_dir).expanduser() / CHECKPOINT
    if not path.is_file():
        return None
    fields = json.loads(ckpt.load(path, mmap=True)["fields"])  # the weights stay on disk
    return {k: fields.get(k) for k in ("dataset", "val_fraction", "split_seed", "subset")}


__all__ = [
    "CHECKPOINT_FORMAT",
    "RUN_PROGRESS",
    "folder_record",
    "init_backbone",
    "model_from_checkpoint",
    "run_cfg",
    "run_split",
]
