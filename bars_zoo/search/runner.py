"""``search()``: run a BARS search end to end - data, supernet, alternating updates, checkpoints, logs,
plots, derive - and write the found architecture as a ``.geno`` file.

The loop (Zhao et al., "BARS", 2021, appendix A; first-order DARTS, Liu et al. 2019): the training
split is cut into two seeded halves, A for the supernet weights and B for the architecture.  Each
epoch sets the temperature, entropy weight and cosine learning rate; each step takes one batch of A
(a weights step on a Gumbel sample drawn from detached alphas) and, after the warm-up, one batch of B
(an alpha step on ``CE * (OPs/F)^theta + lambda * H`` with the supernet weights frozen).

A run directory holds ``checkpoint.pt`` (every epoch, atomic), ``config.json``, ``log.jsonl`` (one record
per epoch), ``derive.json`` and the PNG plots.  Batches, augmentation and Gumbel noise depend only on
the seed and the epoch, so ``resume=True`` after a crash reaches the same result as an uninterrupted
run: bit for bit on the CPU with the same number of threads; on CUDA, cuDNN's convolution backward
is not bitwise deterministic, so there even two uninterrupted runs differ in the last bits (and,
through the binary weights' signs, a little more).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bars_zoo._io import atomic_write_text, remove_leftovers
from bars_zoo.batches import Augment, BatchLoader
from bars_zoo.devices import resolve_device
from bars_zoo.errors import ConfigError, option
from bars_zoo.graphstep import make_eager
from bars_zoo.search import checkpoint as ckpt
from bars_zoo.search.config import SearchConfig, format_size
from bars_zoo.search.derive import Derived, derive
from bars_zoo.search.epoch import run_epoch
from bars_zoo.search.plots import PLOT_FILES, write_plots
from bars_zoo.search.precision import autocast_for, mode_name
from bars_zoo.search.preflight import WRITTEN, Plan, preflight, search_halves, sha256, time_is_up
from bars_zoo.search.presets import config_for, with_overrides
from bars_zoo.search.provenance import genotype
from bars_zoo.search.records import epoch_summary
from bars_zoo.search.result import SearchResult
from bars_zoo.search.steps import SearchSteps
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet
from bars_zoo.spec import NetworkSpec

log = logging.getLogger("bars_zoo.search")

# what a search writes into its run directory besides the checkpoint
RUN_FILES = ("config.json", "log.jsonl", "derive.json", WRITTEN, *PLOT_FILES)


def search(
    config: SearchConfig | None = None,
    /,
    *,
    preset: str | None = None,
    device: torch.device | str | None = None,
    out: str | Path | None = None,
    run_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    plots: bool = True,
    stop_after: int | None = None,
    time_limit_s: float | None = None,
    cuda_graph: bool = False,
    **overrides: Any,
) -> SearchResult:
    """Run a BARS search and write the derived genotype to ``out``.

    ``config`` or ``preset`` (``"paper"``, ``"fmnist"``, ``"tiny"``) plus keyword ``overrides`` of any
    :class:`SearchConfig` field (``epochs=3``, ``budget_ops=20e6`` ...).  ``run_dir`` (default
    ``<out>.run`` next to ``out``; none when both are ``None``) receives checkpoints, logs and plots;
    ``resume`` continues the run found there.  ``stop_after`` ends this call after that many epochs,
    and ``time_limit_s`` after the epoch that passes that many seconds of this call (as
    ``bars_zoo.train``'s), each leaving a resumable checkpoint and deriving nothing.  The setting
    ``search_time_s`` (an override like any other) instead ends the *search* after the epoch that
    passes that many seconds of search - counted over all calls of the run, and kept by a resume
    that gives none - and derives from the distributions reached so far (the genotype's ``meta
    epochs`` then reads ``"K of N (time limit)"``); it also applies when that epoch is the last
    one ``stop_after`` or ``time_limit_s`` allows.  Everything that can be checked before the first epoch is
    (:func:`~bars_zoo.search.preflight.preflight`, which ``--dry-run`` runs too).  ``progress``: tqdm bars (default: when stderr
    is a terminal).  ``cuda_graph`` replays each weights / alpha step as one CUDA graph (CUDA
    devices only; the same trajectory, many times faster for launch-bound supernets).
    """
    if config is not None and not isinstance(config, SearchConfig):
        raise TypeError(
            f"search's first argument is a SearchConfig, got {type(config).__name__}; for a "
            "preset write search(preset='tiny', ...)"
        )
    if config is None:
        cfg = config_for(preset or "paper", **overrides)
    elif preset is not None:
        raise ConfigError("pass either a SearchConfig or a preset name, not both")
    else:
        cfg = with_overrides(config, **overrides)
    with contextlib.ExitStack() as held:  # the run directory's lock, held to the end
        plan = preflight(
            cfg,
            device=device,
            out=out,
            run_dir=run_dir,
            resume=resume,
            stop_after=stop_after,
            time_limit_s=time_limit_s,
            cuda_graph=cuda_graph,
            data_dir=data_dir,
            hold=held,
        )
        run = _Run(plan, progress, cuda_graph=cuda_graph)
        return _run_search(run, resume, stop_after, time_limit_s, plots)


def _run_search(
    run: _Run,
    resume: bool,
    stop_after: int | None,
    time_limit_s: float | None,
    plots: bool,
) -> SearchResult:
    cfg, rdir, out_path = run.cfg, run.run_dir, run.plan.out
    run.start(resume)
    stopped_by = run.train(stop_after, time_limit_s)
    timed_out = stopped_by == "search-time"
    if timed_out and run.epoch <= cfg.warmup_epochs:
        log.warning(
            "its search time ended the search in its warm-up (epoch %d of %d warm-up epochs): the "
            "architecture was never updated, so the derived network is a draw from the initial "
            "(uniform) distributions",
            run.epoch,
            cfg.warmup_epochs,
        )
    if run.epoch < cfg.epochs and not timed_out:
        run.finish_plots(plots)
        return run.result(None, None, None, stopped_by=stopped_by)
    derived = derive(run.net, run.arch, run.val_loader, run.derive_generator(), run.autocast)
    spec, text = run.make_spec(derived, epochs_run=run.epoch if timed_out else None)
    if out_path is not None:
        if run.plan.keep_out:
            text = _kept(out_path, spec, rdir)
        else:
            atomic_write_text(out_path, text)
            log.debug("wrote %s (%s OPs)", out_path, format_size(derived.best.ops))
        if rdir is not None:  # so that a later --resume may replace this file, and only this one
            record = {"out": str(out_path), "sha256": sha256(text.encode("utf-8"))}
            atomic_write_text(rdir / WRITTEN, json.dumps(record) + "\n")
    run.finish_plots(plots)
    return run.result(spec, out_path, derived)


def _kept(out: Path, spec: NetworkSpec, rdir: Path | None) -> str:
    """The text of an old run directory's ``--out`` that holds the network just derived (it is
    kept as it is); a different network is refused, and nothing is written."""
    from bars_zoo.dsl import check

    text = out.read_text(encoding="utf-8")
    doc = check(text, str(out))
    if doc.spec is None or doc.spec.model_copy(update={"meta": {}}) != spec.model_copy(
        update={"meta": {}}
    ):
        raise ConfigError(
            f"{out} exists and holds another network than the one this run derives, and {rdir} "
            "keeps no record of writing it (its run began before written.json was kept)",
            hint=f"move it away (e.g. to {out.name}.bak) and run the same command again (the run "
            f"is over: it only derives again), or choose another {option('out')}",
        )
    log.info("kept %s: it holds the network this run derives (recorded in %s)", out, WRITTEN)
    return text


class _Run:
    """The state of one search run (model, optimisers, RNG, history) and its epoch loop."""

    def __init__(
        self,
        plan: Plan,
        progress: bool | None,
        *,
        cuda_graph: bool = False,
    ) -> None:
        cfg, device = plan.config, plan.device
        self.plan, self.cfg, self.device, self.run_dir = plan, cfg, device, plan.run_dir
        self.progress = sys.stderr.isatty() if progress is None else progress
        set_a, set_b = search_halves(cfg, plan.data)
        shape = plan.data.input_shape  # an image folder's augmentation is scaled to it
        aug = Augment.for_dataset(cfg.dataset, input_shape=shape) if cfg.augment else None
        self.loader_a = BatchLoader(
            set_a, cfg.batch_size, augment=aug, drop_last=True, device=device, seed=cfg.seed
        )
        self.loader_b = BatchLoader(
            set_b, cfg.batch_size, drop_last=True, device=device, seed=cfg.seed + 1
        )
        self.val_loader = BatchLoader(set_b, cfg.batch_size, shuffle=False, device=device)
        self.steps = min(len(self.loader_a), len(self.loader_b))
        self.space = plan.space
        torch.manual_seed(cfg.seed)
        self.net = Supernet(self.space).to(device)
        self.arch = ArchParams(self.space).to(device)
        self.gumbel = torch.Generator().manual_seed(cfg.seed)
        self.autocast = autocast_for(cfg, device, cache=not cuda_graph, bf16=plan.bf16)
        self.stepper = SearchSteps(
            cfg, self.net, self.arch, self.gumbel, self.autocast, cuda_graph=cuda_graph
        )
        self.history: list[dict[str, Any]] = []
        self.epoch = 0

    # ------------------------------------------------------------------ checkpoints

    def start(self, resume: bool) -> None:
        """Load the checkpoint :func:`preflight` found (it refused a checkpoint without
        ``resume``, and one of other settings), or start afresh; write ``config.json``."""
        if self.run_dir is None:
            return
        path = self.run_dir / ckpt.FILENAME
        if self.run_dir.is_dir():
            for left in remove_leftovers(self.run_dir, (ckpt.FILENAME, *RUN_FILES)):
                log.info("removed %s, left by an interrupted write", left.name)
        if resume and path.exists():
            state = ckpt.load_checkpoint(path, self.cfg)
            self.net.load_state_dict(state["supernet"])
            self.arch.load_state_dict(state["arch"])
            self.stepper.w_opt.load_state_dict(state["w_opt"])
            self.stepper.a_opt.load_state_dict(state["a_opt"])
            if not self.stepper.cuda_graph:  # a checkpoint of a graphed run, resumed eagerly
                make_eager(self.stepper.w_opt)
                make_eager(self.stepper.a_opt)
            self.gumbel.set_state(state["gumbel_rng"])
            ckpt.set_rng_state(state["rng"], self.device)
            self.history = json.loads(state["history"])
            self.epoch = int(state["epoch"])
            log.info("resuming %s after epoch %d/%d", self.run_dir, self.epoch, self.cfg.epochs)
        elif resume:
            log.info("no checkpoint in %s: starting a new search", self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg_json = json.dumps(self.cfg.model_dump(mode="json"), indent=2) + "\n"
        atomic_write_text(self.run_dir / "config.json", cfg_json)
        if self.history:
            self.write_log()

    def save(self) -> None:
        if self.run_dir is None:
            return
        state = {
            "fingerprint": self.cfg.fingerprint(),
            "config": json.dumps(self.cfg.model_dump(mode="json")),
            "amp": mode_name(self.plan.bf16),  # what a resume with --amp auto keeps
            "epoch": self.epoch,
            "supernet": self.net.state_dict(),
            "arch": self.arch.state_dict(),
            "w_opt": self.stepper.w_opt.state_dict(),
            "a_opt": self.stepper.a_opt.state_dict(),
            "gumbel_rng": self.gumbel.get_state(),
            "rng": ckpt.rng_state(self.device),
            "history": json.dumps(self.history),
        }
        if self.plan.data.files is not None:  # an image folder's: a resume checks them
            state["data_files"] = json.dumps(self.plan.data.files)
        ckpt.save_checkpoint(self.run_dir / ckpt.FILENAME, state)
        self.write_log()

    def write_log(self) -> None:
        """``log.jsonl`` from the history (the checkpoint's, after a resume: a crash between the
        checkpoint and the log would otherwise lose the last epoch's line for good)."""
        if self.run_dir is None:
            return
        lines = "".join(json.dumps(r) + "\n" for r in self.history)
        atomic_write_text(self.run_dir / "log.jsonl", lines)

    # ------------------------------------------------------------------ training

    def train(self, stop_after: int | None, time_limit_s: float | None = None) -> str | None:
        """Run epochs; return what ended them before the last epoch: ``"search-time"`` (the
        search is over: derive), ``"time-limit"`` or ``"stop-after"`` (this call is over), or
        ``None`` (all epochs done).

        ``search_time_s`` counts the seconds of all the run's epochs, over every call (a resumed
        or time-sliced run included), and is checked after each epoch - also the last one a
        ``stop_after`` or ``time_limit_s`` allows, so that a run whose time is up derives instead
        of stopping.  ``time_limit_s`` counts this call's seconds, as in training."""
        cfg = self.cfg
        end = cfg.epochs if stop_after is None else min(cfg.epochs, self.epoch + stop_after)
        started, ran = time.perf_counter(), 0  # this call's first epoch always runs
        while True:
            searched = ckpt.search_seconds(self.history)
            if self.epoch < cfg.epochs and time_is_up(searched, self.epoch, cfg.search_time_s):
                log.warning(
                    "search time spent after epoch %d of %d (%.0f s searched): deriving from "
                    "the distributions so far",
                    self.epoch,
                    cfg.epochs,
                    searched,
                )
                return "search-time"
            if self.epoch >= end:
                return None if self.epoch >= cfg.epochs else "stop-after"
            if (
                time_limit_s is not None
                and ran > 0
                and time.perf_counter() - started >= time_limit_s
            ):
                log.info("--time-limit passed after epoch %d of %d", self.epoch, cfg.epochs)
                return "time-limit"
            record = self._epoch(self.epoch)
            self.history.append(record)
            self.epoch += 1
            ran += 1
            self.save()
            log.info(epoch_summary(record, cfg))

    def _epoch(self, epoch: int) -> dict[str, Any]:
        return run_epoch(
            self.stepper,
            self.space,
            self.loader_a,
            self.loader_b,
            self.steps,
            epoch,
            self.device,
            progress=self.progress,
        )

    # ------------------------------------------------------------------ outputs

    def derive_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.cfg.seed * 7919 + 17)

    def make_spec(self, derived: Derived, epochs_run: int | None = None) -> tuple[NetworkSpec, str]:
        """The derived spec with provenance in ``meta`` and its canonical text; ``derive.json``."""
        spec, text = genotype(
            self.space,
            derived,
            self.expected_ops(),
            epochs_run=epochs_run,
            dataset=self.plan.data.name,
        )
        if self.run_dir is not None:
            info = {
                "draws": derived.draws,
                "rejected_over_budget": derived.rejected,
                "budget_met": derived.budget_met,
                "derived": derived.derived,
                "best": derived.best.to_dict(),
                "candidates": [c.to_dict() for c in derived.candidates],
            }
            atomic_write_text(self.run_dir / "derive.json", json.dumps(info, indent=2) + "\n")
        return spec, text

    def expected_ops(self) -> float:
        with torch.no_grad():
            return float(self.arch.expected_complexity()["ops"])

    def finish_plots(self, plots: bool) -> None:
        if self.run_dir is None or not self.history:
            return
        if plots:
            write_plots(self.history, self.run_dir)
            return
        for name in PLOT_FILES:  # drawn by an earlier call: they would not show this history
            (self.run_dir / name).unlink(missing_ok=True)

    def result(
        self,
        spec: NetworkSpec | None,
        path: Path | None,
        derived: Derived | None,
        stopped_by: str | None = None,
    ) -> SearchResult:
        return SearchResult(
            config=self.cfg,
            spec=spec,
            path=path,
            run_dir=self.run_dir,
            finished=derived is not None,
            epochs_run=self.epoch,
            history=tuple(self.history),
            candidates=tuple(c.to_dict() for c in derived.candidates) if derived else (),
            budget_met=derived.budget_met if derived else None,
            derived=derived.derived if derived else None,
            note=derived.fallback_note() if derived else None,
            expected_ops=self.expected_ops(),
            ops=derived.best.ops if derived else None,
            alphas={k: v.detach().cpu().clone() for k, v in self.arch.state_dict().items()},
            stopped_by=stopped_by,
        )


__all__ = ["resolve_device", "search"]
