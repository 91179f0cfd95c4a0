"""Everything a search checks before its first epoch, shared by the search and ``--dry-run``.

A search should not fail after hours for a reason it could have seen at its start, and a dry run
that passes should mean that the search starts.  Both therefore call :func:`preflight` (settings,
the data set's shape and classes, device, budgets, ``--out``, the run directory, its lock and the
checkpoint a resume continues, with an image folder's files) and :func:`search_halves` (the
training images, cut into the two halves, each at least one batch).  The dry run
leaves nothing behind: folders it makes to probe them are removed again and the lock is only tried.

``--out`` rules: an existing file is replaced only when the run directory's ``written.json`` holds
its sha256 (this run wrote it, and it was not changed since).  A run directory from before
``written.json`` was kept has a checkpoint but no record; its ``--out`` (same settings, read from
``meta config``) is accepted by a resume that derives without training further, and kept as it is
when it holds the network the resume derives (:attr:`Plan.keep_out`, checked by the runner).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from bars_zoo._io import LOCK, check_file_path, folder_lock, unwritable
from bars_zoo.data import ImageSet, split_indices
from bars_zoo.devices import resolve_device
from bars_zoo.errors import ConfigError, option
from bars_zoo.search import checkpoint as ckpt
from bars_zoo.search.config import SearchConfig, format_size
from bars_zoo.search.precision import run_precision
from bars_zoo.search.searchdata import (
    SearchData,
    check_files,
    search_data,
    too_few_hint,
    train_images,
)
from bars_zoo.search.space import SearchSpace

log = logging.getLogger("bars_zoo.search")

WRITTEN = "written.json"  # the sha256 of the genotype a run last wrote to --out
_MAX_GENO_BYTES = 1 << 20  # an --out larger than this is no genotype a search wrote


@dataclass(frozen=True)
class Plan:
    """A search that passed every check before its first epoch: what, where, from which epoch."""

    config: SearchConfig  # with the run's recorded search_time_s when the call gives none
    device: torch.device
    out: Path | None
    run_dir: Path | None
    space: SearchSpace
    data: SearchData  # the data set's shape, classes and name (an image folder's files)
    resume_epoch: int = 0  # finished epochs of the checkpoint it continues (0: a new search)
    searched_s: float = 0.0  # seconds those epochs searched (what search_time_s counts)
    keep_out: bool = False  # --out of an old run directory: kept if it holds the derived network
    bf16: bool = False  # the run's precision (a resume keeps the one it began with)


@dataclass(frozen=True)
class _Recorded:
    """What the checkpoint a resume continues says about the run (all unset for a new run)."""

    epoch: int = 0
    searched_s: float = 0.0
    search_time_s: float | None = None
    bf16: bool | None = None  # None: not recorded (a checkpoint from before it was)


def search_run_dir(
    out: str | os.PathLike[str] | None, run_dir: str | os.PathLike[str] | None
) -> Path | None:
    """The run directory of a search: ``run_dir``, else ``out`` with ``.run`` for its suffix
    (``found.geno`` -> ``found.run``); ``None`` with neither."""
    if run_dir is not None:
        return Path(run_dir).expanduser()
    return Path(out).expanduser().with_suffix(".run") if out is not None else None


def preflight(
    cfg: SearchConfig,
    *,
    device: torch.device | str | None = None,
    out: str | Path | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    time_limit_s: float | None = None,
    cuda_graph: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    hold: contextlib.ExitStack | None = None,
) -> Plan:
    """Check a search request; raise the :class:`ConfigError` (or ``CheckpointError``) the search
    would raise before its first epoch.  ``hold``: take the run directory's lock into this stack
    (the search); without it (the dry run) the lock is only tried and nothing is left behind."""
    out_path = Path(out).expanduser() if out is not None else None
    if out_path is not None and out_path.name in ("", ".", ".."):
        raise ConfigError(
            f"{option('out', repr(str(out)))} is a folder, not a file",
            hint="give a file name, e.g. found.geno",
        )
    rdir = search_run_dir(out_path, run_dir)
    dev = resolve_device(device)
    if cuda_graph and dev.type != "cuda":
        raise ConfigError(
            f"{option('cuda_graph')} needs a CUDA device, but this search runs on {dev}",
            hint=f"drop {option('cuda_graph')}, or search with {option('device', 'cuda')}",
        )
    if cfg.theta_under != 0 and cfg.budget_ops is None and cfg.budget_params is None:
        log.warning(
            "theta_under=%g has no effect without a budget (--budget-ops / --budget-params)",
            cfg.theta_under,
        )
    if stop_after is not None and stop_after < 1:
        raise ConfigError(f"{option('stop_after')} must be at least 1, got {stop_after}")
    if time_limit_s is not None and not time_limit_s > 0:
        raise ConfigError(f"{option('time_limit_s')} must be positive, got {time_limit_s} s")
    data = search_data(cfg, data_dir)
    space = SearchSpace(cfg, data.input_shape, data.num_classes)
    _check_budgets(space)
    if out_path is not None:
        _check_out_path(out_path, rdir)
    rec = _checkpoint_state(cfg, rdir, resume, data)
    epoch, searched = rec.epoch, rec.searched_s
    if cfg.search_time_s is None and rec.search_time_s is not None:  # a resume keeps it
        cfg = cfg.model_copy(update={"search_time_s": rec.search_time_s})
        space = SearchSpace(cfg, data.input_shape, data.num_classes)  # its config: the run's
    bf16 = run_precision(cfg.amp, dev, rec.bf16)
    keep_out = False
    if out_path is not None and out_path.exists():
        more = epoch < cfg.epochs and not time_is_up(searched, epoch, cfg.search_time_s)
        keep_out = _check_existing_out(out_path, rdir, cfg, epoch, trains_on=more)
    if out_path is not None:
        _check_writable(out_path.parent, keep=hold is not None, what=option("out", out_path))
    if rdir is not None:
        _check_writable(rdir, keep=hold is not None, what=f"run directory {rdir}")
        _lock(rdir, hold)
    return Plan(cfg, dev, out_path, rdir, space, data, epoch, searched, keep_out, bf16)


def time_is_up(searched_s: float, epochs_done: int, search_time_s: float | None) -> bool:
    """Whether a search that has searched ``searched_s`` seconds over ``epochs_done`` epochs has
    spent its search time (the first epoch always runs)."""
    return search_time_s is not None and epochs_done > 0 and searched_s >= search_time_s


def search_halves(cfg: SearchConfig, source: SearchData) -> tuple[ImageSet, ImageSet]:
    """The training images (only those: an image folder's ``train/``) cut into the two seeded
    halves (A: weights, B: architecture); each must hold at least one batch."""
    data = train_images(cfg, source)
    half_a, half_b = split_indices(len(data), (0.5, 0.5), seed=cfg.seed)
    if min(len(half_a), len(half_b)) < cfg.batch_size:
        raise ConfigError(
            f"each half of the {len(data)} training images is smaller than one batch "
            f"({cfg.batch_size}): the search trains the weights on one half and the "
            "architecture on the other",
            hint=too_few_hint(cfg, source, len(data)),
        )
    return data.subset(half_a), data.subset(half_b)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the checks


def _check_budgets(space: SearchSpace) -> None:
    """A budget no network of the space meets is known before the search, not after it."""
    cfg = space.config
    lo_ops, _ = space.ops_range()
    lo_params, _ = space.params_range()
    if cfg.budget_ops is not None and cfg.budget_ops < lo_ops:
        raise ConfigError(
            f"the OPs budget {format_size(cfg.budget_ops, exact=True)} is below the cheapest "
            f"network of this search space ({format_size(lo_ops, exact=True)} OPs)",
            hint=f"raise {option('budget_ops')}, or narrow the space ({option('base_channels')}); --dry-run shows "
            "the range",
        )
    if cfg.budget_params is not None and cfg.budget_params < lo_params:
        raise ConfigError(
            f"the parameter budget {format_size(cfg.budget_params, exact=True)} is below the "
            f"smallest network of this search space ({format_size(lo_params, exact=True)} params)",
            hint=f"raise {option('budget_params')}, or narrow the space ({option('base_channels')})",
        )


def _check_out_path(out: Path, run_dir: Path | None) -> None:
    try:
        check_file_path(out)
    except OSError as err:
        raise ConfigError(
            f"{option('out', out)}: {err.filename} {err.strerror}",
            hint="give a file name, e.g. found.geno",
        ) from None
    if run_dir is not None and out.resolve() == run_dir.resolve():
        raise ConfigError(
            f"{option('out', out)} is also the run directory",
            hint=f"give the genotype a .geno name, or pass another {option('run_dir')}",
        )


def _lock(rdir: Path, hold: contextlib.ExitStack | None) -> None:
    """Take the run directory's lock into ``hold``, or (``None``) only see that it is free."""
    if hold is not None:
        free = hold.enter_context(folder_lock(rdir))
    elif (rdir / LOCK).is_file():  # no lock file: nobody holds it (the dry run makes none)
        with folder_lock(rdir) as free:
            pass
    else:
        free = True
    if not free:
        raise ConfigError(
            f"another search is running in {rdir} right now",
            hint=f"wait for it to end (then {option('resume', True)}), or choose another {option('run_dir')} / {option('out')}",
        )


def _checkpoint_state(
    cfg: SearchConfig, rdir: Path | None, resume: bool, data: SearchData
) -> _Recorded:
    """The finished epochs, seconds searched, search time and precision of the checkpoint a
    resume continues; a checkpoint without ``resume``, one of other settings, or one of an image
    folder whose files changed since, is refused.

    A checkpoint from before ``search_time_s`` was a setting, of a run that derived before its
    last epoch (``written.json``), was ended by the whole-run ``--time-limit`` of that version:
    its search time counts as spent, so that it derives again rather than train on."""
    path = rdir / ckpt.FILENAME if rdir is not None else None
    if path is not None and path.exists() and not resume:
        ckpt.refuse_training_run(path)
        raise ConfigError(
            f"{rdir} already holds a search checkpoint",
            hint=f"pass {option('resume', True)} to continue that run, or delete the directory / "
            f"choose another {option('run_dir')} or {option('out')}",
        )
    if resume and path is None:
        raise ConfigError("resume needs a run directory", hint="pass run_dir or out")
    if not resume or rdir is None or path is None or not path.exists():
        return _Recorded()
    state = ckpt.load_checkpoint(path, cfg, mmap=True)  # the tensors are not read
    check_files(data, json.loads(state.get("data_files", "null")), rdir)
    epoch, searched = int(state["epoch"]), ckpt.search_seconds(json.loads(state["history"]))
    settings = json.loads(state.get("config", "{}"))
    if "search_time_s" in settings:
        limit = settings["search_time_s"]
    elif epoch < cfg.epochs and (rdir / WRITTEN).is_file():
        limit = searched  # see above: that run's time was spent
    else:
        limit = None
    bf16 = {"bf16": True, "off": False}.get(state.get("amp", ""))
    return _Recorded(epoch, searched, limit, bf16)


def _check_existing_out(
    out: Path, rdir: Path | None, cfg: SearchConfig, epoch: int, *, trains_on: bool
) -> bool:
    """May the search replace the existing ``out``?  Returns whether it is an old run's file to
    keep when it holds the network derived (see the module docstring); raises if not allowed."""
    has_ckpt = rdir is not None and (rdir / ckpt.FILENAME).is_file()
    record = _written_record(rdir) if has_ckpt and rdir is not None else None
    if record is not None and record.get("sha256") == sha256(out.read_bytes()):
        return False  # this run wrote it, and it is unchanged
    if has_ckpt and epoch > 0 and record is None and _same_settings(out, cfg):
        if trains_on:
            raise ConfigError(
                f"{out} exists, and {rdir} keeps no record of writing it (its run began before "
                f"{WRITTEN} was kept); the search goes on after epoch {epoch} of {cfg.epochs} and "
                "would replace it when it ends",
                hint=f"move it away (e.g. to {out.name}.bak) and run the same command again, or "
                f"choose another {option('out')}",
            )
        return True
    raise ConfigError(
        f"{out} exists, and the search would replace it (this run did not write it, or it "
        "was changed since)",
        hint=f"choose another {option('out')}, or delete the file first",
    )


def _written_record(rdir: Path) -> dict[str, object] | None:
    """``written.json`` of a run directory; ``None`` when there is none (an unreadable one is
    an empty record: it matches no file)."""
    path = rdir / WRITTEN
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _same_settings(out: Path, cfg: SearchConfig) -> bool:
    """Whether ``out`` is a genotype searched with exactly these settings (``meta config``)."""
    from bars_zoo.dsl import check

    try:
        if out.stat().st_size > _MAX_GENO_BYTES:
            return False
        doc = check(out.read_text(encoding="utf-8"), str(out))
    except (OSError, ValueError):
        return False
    return doc.spec is not None and doc.spec.meta.get("config") == cfg.fingerprint()


def _check_writable(folder: Path, *, keep: bool, what: str) -> None:
    """Probe ``folder`` as the search will write in it; ``keep=False`` removes the folders the
    probe made (a dry run changes nothing)."""
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    problem = unwritable(folder)
    if not keep:
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir()
    if problem:
        raise ConfigError(
            f"{what}: cannot write in {problem}", hint="choose a folder you can write to"
        )


__all__ = [
    "WRITTEN",
    "Plan",
    "preflight",
    "search_halves",
    "search_run_dir",
    "sha256",
    "time_is_up",
]
