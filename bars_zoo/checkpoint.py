"""Checkpoints of long jobs: atomic writes, pickle-free reads, RNG capture, run fingerprints.

A checkpoint is a ``torch.save`` file written through :func:`bars_zoo._io.atomic_write_with` (a
crash leaves the previous checkpoint intact) and read with ``torch.load(weights_only=True)``: only
tensors, numbers, strings, lists, tuples and dicts come back, nothing executable.  Everything stored
must therefore be plain data (configs go in as JSON strings).

:func:`fingerprint` hashes what defines a run's trajectory, so that resuming with different settings
is refused instead of silently producing a model that no single run would have produced.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from bars_zoo._io import atomic_write_with
from bars_zoo.errors import CheckpointError, option

# the files of a `bars-zoo train` run folder (--out): named here, below both the trainer and the
# model-folder loader that recognises such a folder
CHECKPOINT, BEST, LOG, RESULTS, MODEL_DIR = (
    "checkpoint.pt",
    "best.pt",
    "log.jsonl",
    "results.json",
    "model",
)


def save(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``obj`` (plain data and tensors) to ``path`` atomically."""
    atomic_write_with(path, lambda f: torch.save(obj, f))


def load(
    path: str | os.PathLike[str], map_location: torch.device | str = "cpu", *, mmap: bool = False
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save` without unpickling arbitrary objects.

    ``mmap``: map the tensors' storage instead of reading it (for a caller that only wants the
    plain-data fields of a large checkpoint)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(
            f"no checkpoint at {p}",
            hint=f"under torchrun on several machines, {option('out_dir')} must be on a file system they "
            "share",
        )
    try:
        obj = torch.load(p, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # corrupt file or a pickle that is not plain data
        # (torch's own text for a refused pickle advises weights_only=False: not advice to pass on)
        # (an empty file raises EOFError with no message at all)
        first = next(iter(str(exc).splitlines()), "")[:200]
        why = "" if isinstance(exc, pickle.UnpicklingError) or not first else f": {first}"
        raise CheckpointError(
            f"cannot read checkpoint {p} ({type(exc).__name__}{why})",
            hint="the file is corrupt or was not written by bars-zoo: to start over, give a new "
            "output folder (or delete this run's folder)",
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p} is not a bars-zoo checkpoint")
    return obj


def fingerprint(fields: dict[str, Any]) -> str:
    """A short sha256 of ``fields`` (JSON, sorted keys): equal fingerprints mean the same run."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe_mismatch(stored: dict[str, Any], current: dict[str, Any]) -> str:
    """``key: stored -> current`` for every field that differs (for resume errors)."""
    keys = sorted(set(stored) | set(current))
    diffs = [
        f"{k}: {stored.get(k)!r} -> {current.get(k)!r}"
        for k in keys
        if stored.get(k) != current.get(k)
    ]
    return "; ".join(diffs) if diffs else "(no field differs; the checkpoint format changed)"


def rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU and every CUDA device)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only when the device count matches)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


__all__ = [
    "BEST",
    "CHECKPOINT",
    "LOG",
    "MODEL_DIR",
    "RESULTS",
    "describe_mismatch",
    "fingerprint",
    "load",
    "rng_state",
    "save",
    "set_rng_state",
]
