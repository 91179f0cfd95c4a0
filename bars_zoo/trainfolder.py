"""A training run's folder (``--out``): the checks before a run, and the claim on it before the
first epoch.

Before the model and data are set up, :func:`check_run_folder` refuses a folder that is a search's
run directory, a model folder (``save_pretrained``'s), a file, a run that ``--resume`` would
continue, or another run's files without a checkpoint.  Once the settings and data are checked,
:func:`claim_run_folder` makes and write-probes the folder, takes its lock (one run per folder)
and removes what an interrupted write left.  Under torchrun rank 0 decides each check and every rank raises the same error.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from bars_zoo import distributed as ddp
from bars_zoo._io import folder_lock, remove_leftovers, unwritable
from bars_zoo.checkpoint import BEST, CHECKPOINT, LOG, MODEL_DIR, RESULTS
from bars_zoo.errors import ConfigError, option
from bars_zoo.modelref import finished_run_model, is_search_run, unfinished_run
from bars_zoo.registry import CONFIG_FILE

log = logging.getLogger("bars_zoo.trainer")

# what a run writes in its --out folder besides CHECKPOINT
OUTPUTS = (BEST, LOG, RESULTS, MODEL_DIR)


def check_run_folder(out: Path, resume: bool, env: ddp.DistEnv) -> bool:
    """Refuse ``out`` when a run may not start (or, ``resume``, go on) in it; return whether it
    holds a checkpoint to resume."""
    if ddp.broadcast_object(is_search_run(out), env):
        raise ConfigError(
            f"{out} is the run directory of a `bars-zoo search`, not of a training run",
            hint=f"give the training its own {option('out_dir')} (train the .geno the search wrote)",
        )
    if ddp.broadcast_object((out / CONFIG_FILE).exists(), env):  # a search run's: refused above
        raise ConfigError(
            f"{out} is a model folder (its {CONFIG_FILE}), not a training run's folder: the run "
            "would write its checkpoints and its own model/ beside that model",
            hint=f"give the training its own {option('out_dir')}; to start from this model's "
            f"weights pass {option('init', f'local-dir:{out}')}",
        )
    if ddp.broadcast_object(out.exists() and not out.is_dir(), env):
        raise ConfigError(
            f"{option('out_dir', out)} is a file, not a folder",
            hint=f"give {option('out_dir')} a folder for the run's checkpoints, log and model",
        )
    # rank 0 decides; every rank then reads the checkpoint (a shared file system is needed)
    exists = bool(ddp.broadcast_object((out / CHECKPOINT).is_file(), env))
    if exists and not resume:
        finished = ddp.broadcast_object((out / RESULTS).is_file(), env)
        raise ConfigError(
            f"{out} already holds a {'finished ' if finished else ''}training run "
            f"({RESULTS if finished else CHECKPOINT})",
            hint=(
                f"pass {option('resume', True)} to get its recorded result (nothing is trained again)"
                if finished
                else f"pass {option('resume', True)} to continue it"
            )
            + f", or choose another {option('out_dir')}",
        )
    if not exists:
        theirs = ddp.broadcast_object(_run_files(out), env)
        if theirs:
            raise ConfigError(
                f"{out} holds the files of another training run or of yours ({theirs}) but no "
                f"{CHECKPOINT} to resume",
                hint=f"choose another {option('out_dir')} (nothing was written)",
            )
    if resume and not exists:
        log.warning("no checkpoint in %s: starting from scratch", out)
    return exists


def claim_run_folder(
    out: Path, env: ddp.DistEnv, held: contextlib.ExitStack, *, exists: bool
) -> None:
    """Make and write-probe ``out``, take its lock into ``held`` and remove the leftovers of an
    interrupted write; ``exists``: what :func:`check_run_folder` found."""
    # the run folder is made and write-probed once the run's settings and data are checked,
    # before the first epoch (a usage error before leaves nothing behind)
    problem = ddp.broadcast_object(unwritable(out) if env.is_main else None, env)
    if problem:
        raise ConfigError(
            f"{option('out_dir', out)}: cannot write in {problem}",
            hint="choose a folder you can write to",
        )
    # one run per folder: a second one would clean up, and then overwrite, the first's files
    taken = held.enter_context(folder_lock(out)) if env.is_main else True
    if ddp.broadcast_object(not taken if env.is_main else None, env):
        raise ConfigError(
            f"another training run is writing in {out} right now",
            hint=f"wait for it to end (then {option('resume', True)}), or choose another {option('out_dir')}",
        )
    if not exists and ddp.broadcast_object((out / CHECKPOINT).is_file(), env):
        raise ConfigError(
            f"{out} already holds a training run ({CHECKPOINT}), started while this one loaded",
            hint=f"pass {option('resume', True)} to continue it, or choose another {option('out_dir')}",
        )
    if env.is_main:
        for path in remove_leftovers(out, (CHECKPOINT, *OUTPUTS)):
            log.info("removed %s, left by an interrupted write", path.name)


def finished_model_folder(ref: str | os.PathLike[str]) -> Path:
    """The model folder that ``bars-zoo card DIR`` and ``push DIR`` work on: a finished training
    run's ``--out`` folder is its ``model/`` folder, by the rule ``eval`` and ``deploy`` read it
    with (:func:`bars_zoo.modelref.finished_run_model`); any other path is itself.  A run that has
    not written its ``model/`` folder yet (:func:`bars_zoo.modelref.unfinished_run`) is refused: it
    has no model to describe or publish until training finishes."""
    path = Path(os.fspath(ref)).expanduser()
    if unfinished_run(path):
        raise ConfigError(
            f"{path} is a `bars-zoo train` run that has not finished: it has no {MODEL_DIR}/ "
            "folder to describe or publish yet",
            hint="finish the training first: resume it (the same training settings with "
            f"{option('resume', True)}); it writes {path / MODEL_DIR} at the end",
        )
    return finished_run_model(path) or path


def _run_files(out: Path) -> str:
    """The training-run files other than the checkpoint already in ``out`` (comma-separated;
    empty when none)."""
    return ", ".join(n for n in OUTPUTS if (out / n).exists())


__all__ = ["OUTPUTS", "check_run_folder", "claim_run_folder", "finished_model_folder"]
