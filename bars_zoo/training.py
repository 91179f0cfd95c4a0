"""Train a genotype: ``bars_zoo.train("bars-b", dataset="cifar10", epochs=200, out_dir="runs/b")``.

The BARS recipe (Zhao et al. 2021, appendix A; presets in :mod:`bars_zoo.recipes`): Adam, weight
decay 0, learning rate decayed to 0 along a cosine (Loshchilov & Hutter 2017, stepped every
iteration), batch 256; on CIFAR-10 cutout and an auxiliary tower weighted 0.4.  The auxiliary tower
(Szegedy et al. 2015; the DARTS head, Liu et al. 2019) is a small full-precision classifier on the
output of the cell at two thirds of the depth; it only shapes training and is never saved with the
model.

Every epoch: train, evaluate the held-out validation split, write ``checkpoint.pt`` atomically
(model, auxiliary tower, optimiser, scheduler, RNG states, history, a fingerprint of the settings),
keep the best-validation weights in ``best.pt`` and rewrite ``log.jsonl``.  A resumed run reaches
exactly the weights of an uninterrupted one: batches depend only on ``(seed, epoch)``
(:class:`bars_zoo.batches.BatchLoader`).  At the end the selected weights (best validation epoch, or
the last one) are evaluated once on the test split and written as a model folder
(``out_dir/model``, :func:`bars_zoo.folder.save_pretrained`) plus ``results.json``.

Data parallel: launched under ``torchrun`` this same function runs one process per device with
DistributedDataParallel (:mod:`bars_zoo.distributed`); rank 0 writes every file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bars_zoo.builder import BarsNet
from bars_zoo.data import DatasetInfo
from bars_zoo.distributed import env_from_environ
from bars_zoo.dsl import format as format_spec
from bars_zoo.errors import ConfigError, option
from bars_zoo.evaluation import evaluate
from bars_zoo.folder import save_pretrained
from bars_zoo.recipes import recipe
from bars_zoo.runmodel import (
    CHECKPOINT_FORMAT,
    RUN_PROGRESS,
    folder_record,
    init_backbone,
    model_from_checkpoint,
    run_cfg,
    run_split,
)
from bars_zoo.spec import NetworkSpec

log = logging.getLogger(__name__)

Dataset = Literal["fashion-mnist", "cifar10", "imagenet", "imagefolder", "synthetic"]


class TrainConfig(BaseModel):
    """Everything that defines a training run.  ``None`` means "the data set's recipe value".

    Fields in :data:`TRAJECTORY_FIELDS` (plus the genotype, and ``init`` when set) are
    fingerprinted: resuming with any of them changed is refused.  ``init``: the weights the run
    starts from (:mod:`bars_zoo.traininit`; ``None``: random).  The others (device, speed
    switches, stopping points) may change.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Dataset
    epochs: int = Field(ge=1, le=100_000)
    out_dir: str
    data_dir: str | None = None
    batch_size: int = Field(256, ge=1)
    lr: float | None = Field(None, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    aux_weight: float | None = Field(None, ge=0)
    cutout: bool | None = None
    val_fraction: float | None = Field(None, ge=0, lt=1)
    split_seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    subset: int | None = Field(None, ge=1)
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    select: Literal["best", "last"] = "best"
    sync_bn: bool = True
    device: str | None = None
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    cuda_graph: bool = False
    workers: int = Field(8, ge=0)
    eval_batch_size: int = Field(500, ge=1)
    resume: bool = False
    init: str | None = None
    stop_after: int | None = Field(None, ge=1)
    time_limit_s: float | None = Field(None, gt=0)
    progress: bool | None = None
    command: str | None = None

    @field_validator("amp", mode="before")
    @classmethod
    def _amp_mode(cls, value: Any) -> Any:
        """``amp`` is a switch; ``"bf16"`` and ``"off"`` (the search's spellings) name it too.
        The search's ``"auto"`` is not offered: ``amp`` is part of the run's fingerprint, and a
        run that resumes on another device must not change it."""
        if value == "auto":
            raise ValueError("'auto' is the search's mode; training takes 'bf16' or 'off'")
        return {"bf16": True, "off": False}.get(value, value) if isinstance(value, str) else value

    def resolved(self) -> TrainConfig:
        """The config with every recipe default filled in."""
        r = recipe(self.dataset)
        return self.model_copy(
            update={
                "lr": r.lr if self.lr is None else self.lr,
                "aux_weight": r.aux_weight if self.aux_weight is None else self.aux_weight,
                "cutout": r.cutout if self.cutout is None else self.cutout,
                "val_fraction": r.val_fraction if self.val_fraction is None else self.val_fraction,
            }
        )


TRAJECTORY_FIELDS = (
    "dataset",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "label_smoothing",
    "aux_weight",
    "cutout",
    "val_fraction",
    "split_seed",
    "subset",
    "seed",
    "amp",
)


# --------------------------------------------------------------------------- entry points


def resolve_spec(genotype: NetworkSpec | str | os.PathLike[str]) -> NetworkSpec:
    """A spec from a spec, a zoo name or a ``.geno`` path."""
    if isinstance(genotype, NetworkSpec):
        return genotype
    from bars_zoo.metacheck import warn_stale_meta
    from bars_zoo.zoo import load_genotype

    spec = load_genotype(genotype)
    warn_stale_meta(spec, str(genotype))
    return spec


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model and its numbers.  The model, finished or
    not, is in eval mode with plain ``BatchNorm2d`` and contiguous memory (the selected weights
    once finished, the last epoch's before)."""

    model: BarsNet
    out_dir: Path
    finished: bool
    epochs_done: int
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    model_dir: Path | None = None
    stopped_by: str | None = None  # an unfinished call: "time-limit" or "stop-after"


def train(
    genotype: NetworkSpec | str | os.PathLike[str],
    *,
    dataset: str,
    epochs: int,
    out_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    lr: float | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    subset: int | None = None,
    resume: bool = False,
    **options: Any,
) -> TrainResult:
    """Train ``genotype`` (a spec, zoo name or ``.geno`` path) on ``dataset``; see :class:`TrainConfig`
    for ``options`` (``aux_weight``, ``cutout``, ``val_fraction``, ``amp``, ``label_smoothing``...).
    ``init="pretrained"`` (the zoo name's published weights), ``init=NAME``, ``"local-dir:DIR"`` or
    ``"hf-hub:ORG/REPO"`` fine-tunes those weights (:mod:`bars_zoo.traininit`) instead of starting
    from random ones."""
    from bars_zoo.traininit import check_genotype

    check_genotype(genotype)
    if not os.fspath(out_dir).strip():  # an unset $OUT in a script: not the current folder
        raise ConfigError(
            f"{option('out_dir')} is empty",
            hint=f"give the run a folder, e.g. {option('out_dir', 'runs/my-net')}",
        )
    try:
        config = TrainConfig(
            dataset=dataset,  # type: ignore[arg-type]
            epochs=epochs,
            out_dir=os.fspath(out_dir),
            data_dir=os.fspath(data_dir) if data_dir is not None else None,
            batch_size=batch_size,
            lr=lr,
            device=str(device) if device is not None else None,
            seed=seed,
            subset=subset,
            resume=resume,
            **options,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid training option {where}: {msg}") from None
    from bars_zoo.trainer import Trainer
    from bars_zoo.traininit import resolve_init, run_spec

    init = resolve_init(config.init, genotype)  # "pretrained": the genotype's zoo name
    config = config.model_copy(update={"init": init})
    classes: tuple[str, ...] = ()
    folder = None
    if config.dataset == "imagefolder":  # checked before anything is written; the run's one walk
        from bars_zoo.imagefolder import scan

        folder = scan(config.data_dir)
        classes = folder.classes
    spec = run_spec(resolve_spec(genotype), config.dataset, init, classes)
    return Trainer(spec, config.resolved(), env_from_environ(), folder).run()


def hardware(device: torch.device, world_size: int) -> str:
    """One line naming the hardware (recorded in results and model cards)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{world_size} x {name}" if world_size > 1 else name
    cpu = "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        import platform

        cpu = platform.processor() or cpu
    n = torch.get_num_threads()
    where = f"{cpu} CPU ({n} thread{'s' if n != 1 else ''})"
    return f"{world_size} x {where}" if world_size > 1 else where


def trajectory(
    spec: NetworkSpec,
    config: TrainConfig,
    info: DatasetInfo | None = None,
    folder: os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The recorded fields of a run: its trajectory-defining settings and its genotype; for an
    image folder also its name, class names, mean/std (``folder``: the run's model is fed as it
    was trained) and the record of its files (``folder.files``,
    :func:`bars_zoo.imagefiles.file_record`: resuming on a folder with other classes or images
    is refused) - of the walk the run read (``folder``, a
    :class:`~bars_zoo.imagefolder.FolderLayout`), else of ``config.data_dir`` walked now.
    :func:`fingerprinted` says which of them the fingerprint hashes."""
    fields: dict[str, Any] = {k: getattr(config, k) for k in TRAJECTORY_FIELDS}
    fields["genotype"] = format_spec(spec)
    if config.dataset == "imagefolder" and info is not None:
        from bars_zoo.imagefiles import file_record

        fields["folder"] = {
            "name": info.name,
            "classes": list(info.classes),
            "mean": list(info.mean),
            "std": list(info.std),
            "files": file_record(folder if folder is not None else config.data_dir),
        }
    if config.init is not None:  # absent when unset: runs from before --init keep their fingerprint
        fields["init"] = config.init
    return fields


def fingerprinted(fields: dict[str, Any]) -> dict[str, Any]:
    """The part of :func:`trajectory`'s fields a run's fingerprint hashes: all of them but an
    image folder's name (a copy of the folder elsewhere resumes) and mean/std (measured on its
    files, which ``folder.files`` records)."""
    folder = fields.get("folder")
    if not folder:
        return fields
    kept = {k: v for k, v in folder.items() if k not in ("name", "mean", "std")}
    return {**fields, "folder": kept}


def publish(
    model: BarsNet, folder: Path, results: dict[str, Any], info: DatasetInfo | None = None
) -> Path:
    """Write ``model`` as a packed hub-format folder (:func:`bars_zoo.folder.save_pretrained`) whose
    ``pretrained_cfg`` records the test top-1 (percent; ``top1_images`` when a ``--subset`` run
    measured it on part of the test split), training command and hardware."""
    measured_on = results["metrics"].get("test_n")
    partial = measured_on is not None and measured_on < results.get("test_split_images", 0)
    provenance = {
        "top1": round(100.0 * results["metrics"]["test_top1"], 2),
        # a --subset run measured its top-1 on part of the test split: the record says so
        "top1_images": measured_on if partial else None,
        # an image folder's evaluation split is a folder of its own (DIR/val/ without DIR/test/)
        "test_split": results.get("test_split"),
        "test_split_images": results.get("test_split_images") if "test_split" in results else None,
        "train_command": results["command"],
        # PretrainedCfg has no wall-time field: the card states it beside the hardware
        "hardware": f"{results['hardware']}; trained in {format_duration(results['wall_time_s'])}",
    }
    backbone = init_backbone(results.get("init"))
    cfg = run_cfg(model.spec, results["dataset"], info, backbone).model_copy(update=provenance)
    return save_pretrained(model, folder, packed=True, pretrained_cfg=cfg)


def python_command(spec: NetworkSpec, cfg: TrainConfig) -> str:
    """``bars_zoo.train(...)`` with the options that differ from the recipe (for the record)."""
    base = TrainConfig(dataset=cfg.dataset, epochs=cfg.epochs, out_dir=cfg.out_dir).resolved()
    skip = {"command", "resume", "progress", "stop_after", "time_limit_s"}
    args = [f"dataset={cfg.dataset!r}", f"epochs={cfg.epochs}", f"out_dir={cfg.out_dir!r}"]
    args += [
        f"{k}={v!r}" for k, v in cfg.model_dump().items() if k not in skip and v != getattr(base, k)
    ]
    return f"bars_zoo.train({spec.name!r}, {', '.join(args)})"


def format_duration(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``3.20 h``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


__all__ = [
    "CHECKPOINT_FORMAT",
    "RUN_PROGRESS",
    "TRAJECTORY_FIELDS",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "fingerprinted",
    "folder_record",
    "format_duration",
    "hardware",
    "init_backbone",
    "model_from_checkpoint",
    "publish",
    "python_command",
    "resolve_spec",
    "run_cfg",
    "run_split",
    "train",
    "trajectory",
]
