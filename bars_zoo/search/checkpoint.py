"""Search checkpoints: everything a resumed run needs to continue bit for bit, written atomically.

One file, ``<run dir>/checkpoint.pt``, rewritten after every epoch (temporary file + rename, so a crash
leaves the previous epoch's checkpoint intact).  It holds tensors, state dicts, numbers and strings
only and is read with ``torch.load(weights_only=True)``: nothing is unpickled.  Contents: the config
fingerprint and JSON, the precision the run uses (``amp``: ``bf16`` or ``off``), the number of finished epochs, supernet and alpha state dicts, both optimiser
states, the Gumbel generator's state, torch's global CPU (and CUDA) RNG states, and the per-epoch
history as JSON.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import torch

from bars_zoo._io import atomic_write_bytes
from bars_zoo.errors import CheckpointError, CheckpointMismatchError, ConfigError, option
from bars_zoo.search.config import SearchConfig
from bars_zoo.search.strategy import entropy_weight, temperature, weight_lr
from bars_zoo.training import CHECKPOINT_FORMAT

FORMAT = 1
FILENAME = "checkpoint.pt"
_TRAIN_FORMAT = CHECKPOINT_FORMAT.split("/")[0] + "/"  # "bars-zoo-train/", any version


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, state dicts, plain values) atomically to ``path``."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, config: SearchConfig, *, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint and check that it belongs to a run with exactly ``config``.

    ``mmap``: map the tensors instead of reading them (to look at the epoch and history only)."""
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise CheckpointError(
            f"no checkpoint at {path}", hint=f"start the search without {option('resume', True)}"
        ) from None
    except Exception as err:  # truncated file, foreign format, pickled objects
        raise CheckpointError(
            f"cannot read the checkpoint {path}: {type(err).__name__}: {err}".splitlines()[0],
            hint="the file is corrupt or not a bars-zoo search checkpoint; delete the run "
            "directory to start over",
        ) from None
    _refuse_training_run(state, path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a bars-zoo search checkpoint (format {FORMAT})",
            hint="delete the run directory to start over",
        )
    if state.get("fingerprint") != config.fingerprint():
        theirs = json.loads(state.get("config", "{}"))
        ours = config.model_dump(mode="json")
        keys = (ours.keys() | theirs.keys()) - {"search_time_s"}  # not in the fingerprint
        diff = sorted(k for k in keys if ours.get(k) != theirs.get(k))
        raise CheckpointMismatchError(
            f"the checkpoint in {path.parent} belongs to a search with different settings "
            f"({', '.join(diff) or 'unknown'})",
            hint=f"resume with the same preset and options, or use another {option('run_dir')} / {option('out')}",
        )
    _check_schedules(state, config, path)
    return state


#: the per-epoch values of the schedules (:mod:`bars_zoo.search.strategy`), as the history logs them
_SCHEDULES = (("temperature", temperature), ("entropy_weight", entropy_weight), ("lr", weight_lr))


def _check_schedules(state: dict[str, Any], config: SearchConfig, path: Path) -> None:
    """Refuse a checkpoint whose epochs ran other schedule values than ``config`` gives them.

    The fingerprint covers the schedule *settings*, not the rule that maps them to an epoch's
    values: a run begun before the temperature and entropy schedules counted architecture epochs
    (warm-up epochs then advanced them) has the same fingerprint, and resuming it would mix two
    schedules.  The values each finished epoch logged are compared with this version's, so a
    checkpoint whose schedules agree (no warm-up and no ``anneal_over``, or only epoch 1 run) still
    resumes."""
    try:
        history = json.loads(state.get("history", "[]"))
    except ValueError:
        return  # not this check's business: the runner reads the history too
    for record in history if isinstance(history, list) else ():
        epoch = record.get("epoch") if isinstance(record, dict) else None
        if not isinstance(epoch, int):
            continue
        for key, schedule in _SCHEDULES:
            ran, ours = record.get(key), schedule(config, epoch)
            if isinstance(ran, int | float) and not math.isclose(ran, ours, rel_tol=1e-9):
                raise CheckpointMismatchError(
                    f"the checkpoint in {path.parent} ran another schedule than these settings "
                    f"give (epoch {epoch + 1} ran at {key} {ran:.6g}, they give {ours:.6g}): its "
                    "run began under an earlier schedule rule, and resuming it would mix two "
                    "schedules",
                    hint="finish it with the bars-zoo version that began it, or start over "
                    f"with another {option('run_dir')} / {option('out')}",
                )


def refuse_training_run(path: Path) -> None:
    """Refuse the checkpoint ``path`` when ``bars-zoo train`` wrote it: its folder is a training
    run's, which a search must not write in nor advise to delete.  A file it cannot read passes
    (:func:`load_checkpoint` says what is wrong with it)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not readable: not known to be a training run's either
        return
    _refuse_training_run(state, path)


def _refuse_training_run(state: object, path: Path) -> None:
    if isinstance(state, dict) and str(state.get("format", "")).startswith(_TRAIN_FORMAT):
        raise ConfigError(  # a training run must not be "started over" by deleting it
            f"{path.parent} is the run directory of a `bars-zoo train`, not of a search",
            hint=f"give the search its own {option('run_dir')} / {option('out')} (a training run goes on with "
            "`bars-zoo train ... --resume`)",
        )


def search_seconds(history: list[dict[str, Any]]) -> float:
    """The seconds a run has searched so far: its epochs' ``seconds``, over all calls."""
    return float(sum(r.get("seconds", 0.0) for r in history))


def rng_state(device: torch.device) -> dict[str, Any]:
    """Torch's global RNG states (CPU, and CUDA on a CUDA device)."""
    out: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


__all__ = [
    "FILENAME",
    "load_checkpoint",
    "refuse_training_run",
    "rng_state",
    "save_checkpoint",
    "search_seconds",
    "set_rng_state",
]
