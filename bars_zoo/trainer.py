"""The training loop behind :func:`bars_zoo.training.train`: one :class:`Trainer` per run.

Steps, per epoch: train on the epoch's batches (:mod:`bars_zoo.trainepoch`), evaluate the
held-out validation split (tallies summed over ranks), checkpoint (:mod:`bars_zoo.traincheckpoint`),
log.  Around the epochs: the run folder's checks and lock before the first
(:mod:`bars_zoo.trainfolder`), and at the end the test evaluation, ``results.json`` and the
published model folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from bars_zoo import checkpoint as ckpt
from bars_zoo import distributed as ddp
from bars_zoo._io import atomic_write_text
from bars_zoo.builder import BarsNet, build
from bars_zoo.checkpoint import BEST, LOG, MODEL_DIR, RESULTS
from bars_zoo.data import DatasetInfo
from bars_zoo.errors import CheckpointError, ConfigError, option
from bars_zoo.evaluation import (
    accumulate,
    check_compatible,
    default_device,
    summarize,
)
from bars_zoo.graphstep import GraphedStep, make_capturable, make_eager
from bars_zoo.registry import (
    CONFIG_FILE,
    GENOTYPE_FILE,
    WEIGHTS_FILE,
    PretrainedCfg,
    read_config,
)
from bars_zoo.spec import NetworkSpec
from bars_zoo.traincheckpoint import RunCheckpoint
from bars_zoo.traindata import training_data
from bars_zoo.trainedness import set_trained
from bars_zoo.trainepoch import epoch_line, record, step_fn, train_epoch, wait_for
from bars_zoo.trainfolder import check_run_folder, claim_run_folder
from bars_zoo.training import (
    TrainConfig,
    TrainResult,
    fingerprinted,
    hardware,
    init_backbone,
    publish,
    python_command,
    run_cfg,
    trajectory,
)
from bars_zoo.traininit import init_weights
from bars_zoo.trainnet import TrainNet

if TYPE_CHECKING:
    from bars_zoo.imagefolder import FolderLayout

log = logging.getLogger(__name__)


def cosine_lambda(total_steps: int) -> Any:
    """Learning-rate multiplier at step ``t``: ``(1 + cos(pi t / T)) / 2``, reaching 0 at ``T``."""

    def f(step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))

    return f


class Trainer:
    """One training run of ``spec`` under ``config`` (already :meth:`TrainConfig.resolved`)."""

    def __init__(
        self,
        spec: NetworkSpec,
        config: TrainConfig,
        env: ddp.DistEnv,
        folder: FolderLayout | None = None,
    ) -> None:
        self.spec, self.cfg, self.env = spec, config, env
        self.folder = folder  # an image folder's walk (bars_zoo.imagefolder.scan): read once
        self.out = Path(config.out_dir).expanduser()
        self.test_batches: Iterable[tuple[Tensor, Tensor]] | None = None
        self.test_split_images = 0  # images in the whole test split (the batches: maybe a subset)
        self.info: DatasetInfo | None = None  # an image folder's classes and normalisation
        self.test_split: str | None = None  # an image folder's evaluation split ("NAME/val")
        self.init: dict[str, Any] | None = None  # the record of the weights the run started from

    # ------------------------------------------------------------------ setup

    def run(self) -> TrainResult:
        owns_group = self.env.distributed and not torch.distributed.is_initialized()
        device = ddp.init(self.env, default_device(self.cfg.device))
        try:
            with contextlib.ExitStack() as self._held:  # the run folder's lock, once taken
                return self._run(device)
        finally:
            if owns_group:
                ddp.shutdown()

    # ------------------------------------------------------------------ the run

    def _run(self, device: torch.device) -> TrainResult:
        cfg, env, out = self.cfg, self.env, self.out
        exists = check_run_folder(out, cfg.resume, env)
        self._check_speed_switches(device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(cfg.seed)
        model = build(self.spec)
        # pretrained weights to start from, checked now and loaded once every check has passed;
        # a resumed run's come from its checkpoint instead
        weights = (
            init_weights(self.spec, cfg.init, cfg.dataset) if cfg.init and not exists else None
        )
        check_compatible(model, cfg.dataset)
        net = TrainNet(model, float(cfg.aux_weight or 0.0)).to(device)
        if env.distributed and cfg.sync_bn:
            net = ddp.convert_sync_batchnorm(net, device)  # type: ignore[assignment]
        if cfg.channels_last:
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        model = net.model
        data = training_data(self.spec, cfg, env, device, self.folder)
        self.test_batches, self.test_split_images = data.test, data.test_split_images
        self.info, self.test_split = data.info, data.test_split
        check_compatible(model, cfg.dataset, data.info)
        steps = len(data.train)
        claim_run_folder(out, env, self._held, exists=exists)
        # the run starts: only now is the init applied and announced (a refused command line
        # must not read as a run that began)
        start_from = weights.apply(model) if weights is not None else None
        if start_from is not None and env.is_main:  # shown by the train CLI, as the epochs are
            log.info("initialised from %s (classifier %s)", cfg.init, start_from["classifier"])
        opt = torch.optim.Adam(
            net.parameters(), lr=float(cfg.lr or 0), weight_decay=cfg.weight_decay
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(cfg.epochs * steps))
        fields = trajectory(self.spec, cfg, self.info, data.folder)
        fp = ckpt.fingerprint(fingerprinted(fields))
        _same_data_on_every_rank((fp, steps, data.test_split_images), env, device)
        saver = RunCheckpoint(out, fields, fp)
        state: dict[str, Any] = {"epoch": 0, "best": {"epoch": 0, "val_top1": -1.0}, "history": []}
        state["elapsed_s"] = 0.0
        state["init"] = start_from
        if exists and cfg.resume:
            state = saver.restore(net, opt, sched, env, cfg.select, cfg.data_dir)
            log.info("resumed %s at epoch %d", out, state["epoch"])
            if env.is_main:  # the checkpoint's history: a crash may have come before the log
                self._write_log(state["history"])
        self.init = state.get("init")
        stepper: nn.Module = net
        if env.distributed:
            ids = [device.index] if device.type == "cuda" else None
            stepper = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        if cfg.compile:
            stepper = torch.compile(stepper)  # type: ignore[assignment]
        step = step_fn(cfg, stepper, opt, env.world_size / data.global_batch)
        graphed: GraphedStep | None = None
        if cfg.cuda_graph:
            make_capturable(opt, device)
            graphed = GraphedStep(step, opt, name="training step", device=device)
        else:
            make_eager(opt)  # a checkpoint of a graphed run may be resumed here
        machine = hardware(device, env.world_size)  # recorded per epoch: a run may change machines
        started = time.perf_counter()
        stopped_by = "stop-after"  # unless the time limit stops it first
        # --stop-after E: E more epochs in this call (as in `bars-zoo search`), so that the same
        # command plus --resume goes on slice by slice
        start = int(state["epoch"])
        end = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start + cfg.stop_after)
        for epoch in range(start, end):
            t0 = time.perf_counter()
            train_tally = train_epoch(cfg, env, step, graphed, net, opt, sched, data, epoch)
            wait_for(device)  # train_s and images_per_s: the work done, not the work queued
            train_s = time.perf_counter() - t0
            val = self._tally(model, data.val, device) if data.val is not None else None
            dt = time.perf_counter() - t0
            state["elapsed_s"] += dt
            lr = float(sched.get_last_lr()[0])
            rec = {**record(epoch, train_tally, val, lr, dt, train_s), "hardware": machine}
            if graphed is not None:
                rec["cuda_graph"] = graphed.status
            state["history"].append(rec)
            state["epoch"] = epoch + 1
            improved = val is not None and val["top1"] >= state["best"]["val_top1"]
            if val is not None and improved:
                state["best"] = {
                    "epoch": epoch + 1,
                    "val_top1": val["top1"],
                    "val_loss": val["loss"],
                }
            if env.is_main:
                # the checkpoint first: killed before best.pt, the checkpoint holds this epoch's
                # weights and says it was the best, so resuming writes best.pt from it (_restore);
                # killed before the checkpoint, best.pt still matches the checkpoint's best epoch
                saver.save(state, net, opt, sched)
                if improved:
                    saver.save_best(epoch + 1, model.state_dict())
                self._write_log(state["history"])
            ddp.barrier(env)
            if env.is_main:
                log.info("epoch %d/%d: %s", epoch + 1, cfg.epochs, epoch_line(rec))
            if epoch + 1 < end and self._out_of_time(time.perf_counter() - started):
                stopped_by = "time-limit"
                break
        model = _for_the_caller(model)  # finished or not (stop_after, a time limit)
        set_trained(model, True)  # trained weights (bars_zoo.trainedness), however many epochs
        if state["epoch"] < cfg.epochs:  # the caller says so (the CLI: with the command to go on)
            model.pretrained_cfg = self._cfg(None)  # type: ignore[assignment]
            return TrainResult(
                model, out, False, state["epoch"], {}, state["history"], stopped_by=stopped_by
            )
        return self._finish(model, state, fp, device, finished_before=start >= cfg.epochs)

    def _write_log(self, history: list[dict[str, Any]]) -> None:
        atomic_write_text(self.out / LOG, "".join(json.dumps(h) + "\n" for h in history))

    def _cfg(self, model_dir: Path | None) -> PretrainedCfg:
        """The returned model's ``pretrained_cfg``: the published folder's (test top-1, command,
        hardware), else :func:`run_cfg`'s (how the run feeds the data set), so that saving the
        model again records the right normalisation."""
        if model_dir is not None and (model_dir / CONFIG_FILE).is_file():
            return read_config(model_dir).pretrained_cfg
        return run_cfg(self.spec, self.cfg.dataset, self.info, init_backbone(self.init))

    def _recorded(self, cfg: TrainConfig) -> dict[str, Any] | None:
        """The ``results.json`` of this finished run, unless it was made with another ``--select``
        (then the end of the run is done again: test evaluation and the model folder)."""
        path = self.out / RESULTS
        model_dir = self.out / MODEL_DIR
        if not path.is_file() or not all(
            (model_dir / name).is_file() for name in (CONFIG_FILE, GENOTYPE_FILE, WEIGHTS_FILE)
        ):  # a model folder with a file lost is made again
            return None
        try:
            results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        same = results.get("epochs") == cfg.epochs and (
            results.get("config", {}).get("select") == cfg.select
        )
        return results if same and isinstance(results.get("metrics"), dict) else None

    def _out_of_time(self, seconds: float) -> bool:
        limit = self.cfg.time_limit_s
        if limit is None:
            return False
        # rank 0's clock decides for everyone, so all ranks stop after the same epoch
        return bool(ddp.broadcast_object(seconds >= limit, self.env))

    def _check_speed_switches(self, device: torch.device) -> None:
        cfg = self.cfg
        if not cfg.cuda_graph:
            return
        if device.type != "cuda":
            raise ConfigError(
                f"{option('cuda_graph')} needs a CUDA device, but this run uses {device}",
                hint=f"drop {option('cuda_graph')}, or train with {option('device', 'cuda')}",
            )
        if self.env.distributed:
            raise ConfigError(
                f"{option('cuda_graph')} is not supported under torchrun/DistributedDataParallel",
                hint=f"drop {option('cuda_graph')} for multi-process runs",
            )
        if cfg.compile:
            raise ConfigError(
                f"{option('cuda_graph')} and {option('compile')} are alternatives",
                hint="choose one of them",
            )

    def _tally(
        self, model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], device: torch.device
    ) -> dict[str, Any]:
        tally = accumulate(
            model, batches, device=device, amp=self.cfg.amp, channels_last=self.cfg.channels_last
        )
        return summarize(ddp.all_reduce_sum(tally, self.env), self.spec.num_classes)

    # ------------------------------------------------------------------ the end

    def _finish(
        self,
        model: BarsNet,
        state: dict[str, Any],
        fp: str,
        device: torch.device,
        *,
        finished_before: bool = False,
    ) -> TrainResult:
        cfg, env, out = self.cfg, self.env, self.out
        best = state["best"]
        selected = state["epoch"]
        if cfg.select == "best" and best["epoch"] > 0:
            saved = ckpt.load(out / BEST)
            if saved.get("fingerprint") != fp:
                raise CheckpointError(
                    f"{out / BEST} belongs to a different run",
                    hint=f"delete it and {option('resume', True)}",
                )
            model.load_state_dict(saved["model"])
            selected = best["epoch"]
        recorded = self._recorded(cfg) if finished_before else None
        if recorded is not None:  # --resume of a finished run: its result stands as recorded
            metrics_done = recorded["metrics"]
            model.pretrained_cfg = self._cfg(out / MODEL_DIR)  # type: ignore[assignment]
            return TrainResult(
                model, out, True, state["epoch"], metrics_done, state["history"], out / MODEL_DIR
            )
        assert self.test_batches is not None
        test = self._tally(model, self.test_batches, device)
        metrics: dict[str, Any] = {f"test_{k}": v for k, v in test.items()}
        sel: dict[str, Any] = next((h for h in state["history"] if h["epoch"] == selected), {})
        if "val_top1" in sel:
            metrics.update(val_top1=sel["val_top1"], val_loss=sel["val_loss"])
        metrics["selected_epoch"] = selected
        hw = machines(state["history"], hardware(device, env.world_size))
        results = {
            "architecture": self.spec.name,
            "dataset": cfg.dataset,
            "metrics": metrics,
            "test_split_images": self.test_split_images,
            **({"test_split": self.test_split} if self.test_split else {}),  # an image folder's
            "epochs": cfg.epochs,
            "wall_time_s": round(state["elapsed_s"], 1),
            "hardware": hw,
            "world_size": env.world_size,
            "command": cfg.command or python_command(self.spec, cfg),
            "config": cfg.model_dump(mode="json"),
            "init": state.get("init"),  # the weights it started from (None: random)
            "torch": torch.__version__,
        }
        model_dir = None
        if env.is_main:
            model_dir = publish(model, out / MODEL_DIR, results, self.info)
            atomic_write_text(out / RESULTS, json.dumps(results, indent=2) + "\n")
        ddp.barrier(env)
        model.pretrained_cfg = self._cfg(model_dir)  # type: ignore[assignment]
        log.debug(  # the caller reports the result (the CLI: one line, rank 0 only)
            "test top-1 %.4f (epoch %d selected); model in %s", test["top1"], selected, model_dir
        )
        return TrainResult(model, out, True, state["epoch"], metrics, state["history"], model_dir)


def _for_the_caller(model: BarsNet) -> BarsNet:
    """The model as a run returns it: plain ``BatchNorm2d`` (a ``SyncBatchNorm`` needs the process
    group, which ends with the run), contiguous memory format, eval mode."""
    model = ddp.revert_batchnorm(model)  # type: ignore[assignment]
    return model.to(memory_format=torch.contiguous_format).eval()  # type: ignore[call-overload]


def machines(history: list[dict[str, Any]], current: str) -> str:
    """The hardware line of a run from its per-epoch records: one machine as it is, several (a run
    resumed elsewhere) with their epochs, ``"A (epochs 1-55), B (epochs 56-100)"``.  A history
    from before the hardware was logged per epoch is ``current``'s; in a history that mixes both,
    the epochs without it are ``"unrecorded hardware"``."""
    fallback = "unrecorded hardware" if any(h.get("hardware") for h in history) else current
    spans: list[list[Any]] = []  # [hardware, first epoch, last epoch]
    for h in history:
        hw = h.get("hardware") or fallback
        if spans and spans[-1][0] == hw:
            spans[-1][2] = h["epoch"]
        else:
            spans.append([hw, h["epoch"], h["epoch"]])
    if len(spans) <= 1:
        return spans[0][0] if spans else current

    def epochs(a: int, b: int) -> str:
        return f"epoch {a}" if a == b else f"epochs {a}-{b}"

    return ", ".join(f"{hw} ({epochs(a, b)})" for hw, a, b in spans)


def _same_data_on_every_rank(
    record: tuple[object, ...], env: ddp.DistEnv, device: torch.device
) -> None:
    """Refuse, on every rank, a job whose processes read different data (the nodes of a
    multi-node job each read their own ``--data-dir``): with other step counts their collectives
    would wait on each other until the process group's timeout.  ``record``: the run's fingerprint
    (an image folder's file record in it), its steps per epoch and its test images."""
    if not env.distributed:
        return
    differs = torch.tensor([float(ddp.broadcast_object(record, env) != record)], device=device)
    if float(ddp.all_reduce_sum(differs, env).item()) > 0:
        raise ConfigError(
            "the processes of this job read different data (another number of images, or "
            "another image folder, than rank 0's)",
            hint=f"give every node the same {option('data_dir')} contents",
        )


__all__ = ["Trainer", "cosine_lambda", "machines"]
