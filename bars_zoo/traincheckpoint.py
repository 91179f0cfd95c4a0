"""A training run's checkpoints: ``checkpoint.pt`` written every epoch, ``best.pt`` beside it,
both restored on ``--resume``.

``checkpoint.pt`` holds everything the next epoch needs (weights, optimiser, scheduler, RNG,
history, best epoch) under the run's fingerprint (:func:`bars_zoo.checkpoint.fingerprint` of the
settings that define its trajectory), so that resuming with other settings is refused.  ``best.pt``
holds the weights of the best epoch on validation; it is written after the checkpoint, and a
restore that finds it behind (a crash between the two) writes it again from the checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bars_zoo import checkpoint as ckpt
from bars_zoo import distributed as ddp
from bars_zoo.checkpoint import BEST, CHECKPOINT
from bars_zoo.errors import CheckpointError, CheckpointMismatchError, option
from bars_zoo.training import CHECKPOINT_FORMAT, fingerprinted
from bars_zoo.trainnet import TrainNet


def epoch_of(best: Path) -> int:
    """The epoch ``best.pt`` holds the weights of (0 when it is missing or unreadable)."""
    try:
        return int(ckpt.load(best, mmap=True).get("epoch", 0))
    except CheckpointError:  # missing, empty, corrupt
        return 0


@dataclass(frozen=True)
class RunCheckpoint:
    """The checkpoints of the run in ``out`` whose trajectory ``fields`` hash to ``fp``."""

    out: Path
    fields: dict[str, Any]
    fp: str

    def save(self, state: dict[str, Any], net: TrainNet, opt: Any, sched: Any) -> None:
        """Write ``checkpoint.pt``: ``state`` (epoch, best, history, elapsed_s, init) and the weights,
        optimiser, scheduler and RNG states."""
        ckpt.save(
            {
                "format": CHECKPOINT_FORMAT,
                "fingerprint": self.fp,
                "fields": json.dumps(self.fields),
                "genotype": self.fields["genotype"],
                "epoch": state["epoch"],
                "best": state["best"],
                "history": state["history"],
                "elapsed_s": state["elapsed_s"],
                "init": state.get("init"),
                "model": net.model.state_dict(),
                "aux": net.aux.state_dict() if net.aux is not None else {},
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": ckpt.rng_state(),
            },
            self.out / CHECKPOINT,
        )

    def save_best(self, epoch: int, weights: dict[str, Any]) -> None:
        """Write ``best.pt``: the model ``weights`` of ``epoch``."""
        best = {"format": CHECKPOINT_FORMAT, "epoch": epoch, "fingerprint": self.fp}
        ckpt.save({**best, "model": weights}, self.out / BEST)

    def restore(
        self,
        net: TrainNet,
        opt: Any,
        sched: Any,
        env: ddp.DistEnv,
        select: str,
        data_dir: str | None = None,
    ) -> dict[str, Any]:
        """Load ``checkpoint.pt`` into ``net``, ``opt``, ``sched`` and the RNGs, bring ``best.pt``
        up to it, and return its state (epoch, best, history, elapsed_s, init).  Refuses a
        checkpoint of another run (``data_dir``: the image folder whose change it names), and
        (``select == "best"``) a lost ``best.pt`` that held the best epoch."""
        out, fp = self.out, self.fp
        saved = ckpt.load(out / CHECKPOINT)
        if saved.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{out / CHECKPOINT} is not a {CHECKPOINT_FORMAT} checkpoint",
                hint=f"it was written by another tool or version; train into a new {option('out_dir')}",
            )
        if saved["fingerprint"] != fp:
            raise self._mismatch(json.loads(saved["fields"]), data_dir)
        net.model.load_state_dict(saved["model"])
        if net.aux is not None:
            net.aux.load_state_dict(saved["aux"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        ckpt.set_rng_state(saved["rng"])
        best = saved["best"]
        held = epoch_of(out / BEST) if env.is_main else best["epoch"]
        if best["epoch"] == saved["epoch"] > held:
            # killed between checkpoint.pt and best.pt: that epoch's weights are in the checkpoint
            self.save_best(best["epoch"], saved["model"])
            held = best["epoch"]
        lost = best["epoch"] > 0 and held == 0
        if select == "best" and ddp.broadcast_object(lost, env):
            # a damaged best.pt would fail the run at its very end: say so now
            raise CheckpointError(
                f"{out / BEST} is missing or damaged, and only it held the weights of epoch "
                f"{best['epoch']}, the best on validation (the checkpoint is of epoch "
                f"{saved['epoch']})",
                hint=f"resume with {option('select', 'last')} to publish the last epoch instead, or "
                f"train into a new {option('out_dir')}",
            )
        keys = ("epoch", "best", "history", "elapsed_s")
        # init: the record of the weights the run started from (absent in older checkpoints)
        return {**{k: saved[k] for k in keys}, "init": saved.get("init")}

    def _mismatch(self, stored: dict[str, Any], data_dir: str | None) -> CheckpointMismatchError:
        """The error for a checkpoint whose fingerprint is not this run's: the image folder's
        change in words (:func:`bars_zoo.imagefiles.describe_change`), the settings that differ
        as ``key: stored -> current``."""
        stored, current = dict(fingerprinted(stored)), dict(fingerprinted(self.fields))
        was, now = stored.pop("folder", None), current.pop("folder", None)
        data = None
        if was and now:  # (a change of data set is the `dataset` field's)
            from bars_zoo.imagefiles import describe_change

            data = describe_change(was.get("files"), now["files"], data_dir)
        genotype_changed = stored.pop("genotype", None) != current.pop("genotype", None)
        parts = [ckpt.describe_mismatch(stored, current)] if stored != current else []
        parts += ["the genotype differs"] if genotype_changed else []
        if data and not parts:  # only the images changed: the settings were the same
            return CheckpointMismatchError(
                f"cannot resume the run in {self.out}: {data}",
                hint="restore the folder as the run started with it, or start a new run "
                "with another -o",
            )
        what = "; ".join([*parts, *([data] if data else [])])
        return CheckpointMismatchError(
            f"the checkpoint in {self.out} belongs to a different run: {what}",
            hint=f"resume with the settings it was started with, or train into a new {option('out_dir')}",
        )


__all__ = ["RunCheckpoint", "epoch_of"]
