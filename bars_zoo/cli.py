"""The ``bars-zoo`` command: a table of subcommands, each a thin call into the library.

Each subcommand lives in ``bars_zoo/commands/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``.  Command modules import torch lazily, inside
``run``, so ``bars-zoo check`` and ``bars-zoo --help`` stay instant.

Exit status, the same for every subcommand (README, "Exit status"): 0 success; 1 the input was
read and is wrong (a genotype with errors, a model folder that fails its checks, ``fmt --check``
found changes) or the work failed (Hub unreachable, data set missing, disk full); 2 the command
line cannot be acted on (argparse's usage errors, a bad option value, a file, folder or name that
does not exist or cannot be read); 130 interrupted (Ctrl-C), 143 terminated (SIGTERM: SLURM,
Kubernetes, ``timeout``, which itself reports 124 unless ``--preserve-status``), both reported in the same one line (:mod:`bars_zoo.interrupts`); 141
standard output closed.  A :class:`~bars_zoo.errors.BarsError` is printed as its message, never
as a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bars_zoo.errors import BarsError, ConfigError, GenotypeError
from bars_zoo.interrupts import Guard, exit_status, handled_signals

#: subcommand -> module under bars_zoo.commands
COMMANDS: dict[str, str] = {
    "check": "check",
    "fmt": "fmt",
    "schema": "schema",
    "demo": "demo",
    "draw": "draw",
    "show": "show",
    "build": "build",
    "list": "list",
    "pull": "pull",
    "push": "push",
    "card": "card",
    "search": "search",
    "train": "train",
    "eval": "eval",
    "deploy": "deploy",
}


EXIT_STATUS = """\
exit status (every command):
  0    success
  1    the input was read and is wrong (a genotype with errors, a broken model folder,
       fmt --check found changes), or the work failed (Hub unreachable, no data set)
  2    the command line cannot be acted on: a usage error, a bad option value, a file,
       folder or name that does not exist or cannot be read
  130  interrupted (Ctrl-C); 143: terminated (SIGTERM); 141: standard output closed
"""


def build_parser() -> argparse.ArgumentParser:
    from bars_zoo import __version__

    parser = argparse.ArgumentParser(
        prog="bars-zoo",
        description="Binary neural networks found by BARS architecture search.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bars-zoo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"bars_zoo.commands.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        # also after the command (`bars-zoo show x -v`); unset here, the top-level value stands
        p.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="log more detail",
        )
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from bars_zoo.commands.options import bare_amp, misread_amp, signed_durations

    parser = build_parser()
    words = signed_durations(sys.argv[1:] if argv is None else argv)
    fixed = bare_amp(words)
    _refuse_unknown_command(parser, fixed)
    args, extra = parser.parse_known_args(fixed)
    if extra:  # the subcommand's usage, not the top-level one, says what it takes
        sub = getattr(args, "_parser", parser)
        wrong = misread_amp(words, fixed, extra)
        if wrong is not None:
            modes = next(a.choices for a in sub._actions if "--amp" in a.option_strings) or ()
            choose = ", ".join(str(m) for m in modes)
            sub.error(f"argument --amp: invalid choice: {wrong!r} (choose from {choose})")
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # -v is about bars-zoo's own steps: torch's loggers (FakeTensor cache stats at exit ...) and
    # other libraries' stay at WARNING
    ours = logging.getLogger("bars_zoo")
    level = ours.level
    if getattr(args, "verbose", False):
        ours.setLevel(logging.INFO)
    # huggingface_hub prints its own messages (retries ...) with its own handler: not twice
    logging.getLogger("huggingface_hub").propagate = False
    # under torchrun rank 0 speaks for the job: the other ranks would repeat its every line
    rank = os.environ.get("RANK", "").strip()
    quiet = rank not in ("", "0") and not getattr(args, "verbose", False)
    for handler in logging.getLogger().handlers:
        if _RANK_FILTER not in handler.filters:
            handler.addFilter(_RANK_FILTER)
    _RANK_FILTER.quiet = quiet
    stdout = sys.stdout
    if stdout is None or stdout.closed:  # `bars-zoo list >&-`: its first write ends it, 141
        sys.stdout = _ClosedStdout()
    else:  # `bars-zoo show x > /dev/full`: "No space left on device: standard output"
        sys.stdout = _NamedStdout(stdout)
    try:
        # SIGTERM ends the command as Ctrl-C does; the program (argv from sys.argv) keeps both
        # ignored once interrupted, until it has exited
        with handled_signals(ending=argv is None) as guard:
            return _run(args, parser, rank, quiet, guard)
    finally:
        sys.stdout = stdout
        _RANK_FILTER.quiet = False
        ours.setLevel(level)


class _NamedStdout:
    """Standard output during a command: an :class:`OSError` of writing it that names no file (a
    full disk, ``> /dev/full``) is raised naming ``standard output``, so that the one-line error
    says what is full.  Everything else is the stream's own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> Any:
        return _naming_stdout(self._stream.write, data)

    def writelines(self, lines: Any) -> Any:
        return _naming_stdout(self._stream.writelines, lines)

    def flush(self) -> Any:
        return _naming_stdout(self._stream.flush)

    @property
    def buffer(self) -> _NamedStdout:
        return _NamedStdout(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _naming_stdout(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except BrokenPipeError:  # the reader left: 141, as it is
        raise
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise type(err)(err.errno, err.strerror, "standard output") from err


class _ClosedStdout:
    """Standard output when the command was started with it closed (``>&-``; Python then sets
    ``sys.stdout`` to ``None``): a write raises :class:`BrokenPipeError`, as a pipe whose reader
    left does, so that the command ends with status 141 (not 0 having printed nothing, nor an
    ``AttributeError``).  Descriptor 1 is taken by ``/dev/null`` meanwhile, so that no file the
    command opens, nor a child process's output, lands on it."""

    closed = False

    def __init__(self) -> None:
        try:
            os.fstat(1)
        except OSError:
            fd = os.open(os.devnull, os.O_WRONLY)
            if fd != 1:
                os.dup2(fd, 1)
                os.close(fd)

    def write(self, data: object) -> int:
        raise BrokenPipeError(errno.EPIPE, "standard output is closed")

    def writelines(self, lines: object) -> None:
        raise BrokenPipeError(errno.EPIPE, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def buffer(self) -> _ClosedStdout:
        return self


def _refuse_unknown_command(parser: argparse.ArgumentParser, words: list[str]) -> None:
    """A mistyped command (``bars-zoo format``) gets argparse's usage error with a "did you
    mean" (this Python's argparse has no ``suggest_on_error``)."""
    command = next((w for w in words if not w.startswith("-")), None)
    if command is None or command in COMMANDS:
        return
    close = difflib.get_close_matches(command, list(COMMANDS), n=1, cutoff=0.6)
    if close:
        choose = ", ".join(map(repr, COMMANDS))
        parser.error(
            f"argument COMMAND: invalid choice: {command!r}, did you mean {close[0]!r}? "
            f"(choose from {choose})"
        )


#: OSErrors that say a path given on the command line cannot be used (exit status 2, a usage
#: error); any other (a full disk, an I/O error) is the work failing (exit status 1)
_PATH_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)

#: options naming a folder that must exist (the data sets are read, never downloaded)
_FOLDER_OPTIONS = {"data_dir": "--data-dir"}
#: options naming a path, where an empty value would mean the current folder to pathlib
_PATH_OPTIONS = {
    "output": "-o/--output",
    "out": "-o/--out",
    "run_dir": "--run-dir",
    "images": "--images",
    "cache_dir": "--cache-dir",
    **_FOLDER_OPTIONS,
}


def _check_paths(args: argparse.Namespace) -> None:
    """Refuse, before the command starts (a usage error), an empty path option and a folder
    option that names no folder."""
    from pathlib import Path

    parser = getattr(args, "_parser", None)
    required = {a.dest for a in getattr(parser, "_actions", ()) if a.required}
    for dest, flag in _PATH_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None and not str(value).strip():
            leave = "" if dest in required else ", or leave it out"
            raise ConfigError(f"{flag} is empty", hint=f"give {flag} a path{leave}")
    for dest, flag in _FOLDER_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None and not Path(value).expanduser().is_dir():
            what = "not a folder" if Path(value).expanduser().exists() else "no such folder"
            raise ConfigError(
                f"{flag} {value}: {what}",
                hint="give the folder that holds the data set's files (docs/training.md)",
            )


class _QuietRanks(logging.Filter):
    """Drops log records below ERROR while ``quiet`` (a torchrun rank other than 0)."""

    quiet = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.quiet or record.levelno >= logging.ERROR


_RANK_FILTER = _QuietRanks()


def _run(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    rank: str,
    quiet: bool,
    guard: Guard,
) -> int:
    def say(text: str, *, fatal: bool = False) -> None:
        # a rank's own fatal error is said on every rank: it may be the one that explains the job
        if fatal or not quiet:
            print(f"[rank {rank}] {text}" if rank not in ("", "0") else text, file=sys.stderr)

    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        _check_paths(args)
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # what is held back fails here, reported, not at the exit's flush
        return status
    except GenotypeError as err:  # rendered diagnostics carry their own "file:line:col: error"
        say(str(err), fatal=True)
        return err.exit_code
    except BarsError as err:
        say(f"error: {err.render(cli=True)}", fatal=True)
        return err.exit_code
    except BrokenPipeError:  # `bars-zoo show x | head`: the reader left; stop quietly
        if not isinstance(sys.stdout, _ClosedStdout):  # (closed from the start: nothing to do)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that the final flush at exit cannot fail
        return 141  # 128 + SIGPIPE, what the shell reports for tools killed by it
    except OSError as err:  # the file system said no (a folder in the way, disk full ...)
        logging.getLogger("bars_zoo").debug("", exc_info=True)
        where = f": {_shown_path(str(err.filename))}" if err.filename else ""
        say(f"error: {err.strerror or err}{where}", fatal=True)
        return 2 if err.errno in _PATH_ERRNOS else 1
    except RuntimeError as err:  # a collective failed: another rank of the job is gone
        if not _peer_failed(err):
            raise
        logging.getLogger("bars_zoo").debug("", exc_info=True)
        # that rank printed its own [rank N] error; rank 0 speaks for the others
        saved = _saved_epochs(args)
        then = (
            ""
            if saved is None
            else "; finished epochs are saved: run the same command with --resume to go on"
            if saved
            else "; no epoch was saved: run the same command to start again"
        )
        say(f"error: another process of this job failed (see its [rank N] line){then}")
        return 1
    except KeyboardInterrupt as err:  # Ctrl-C, SIGTERM (bars_zoo.interrupts)
        guard.ignore()  # a second one now would only cut the cleanup short, with a traceback
        say(f"interrupted{_what_is_saved(args)}")
        return exit_status(err)


def _shown_path(path: str, limit: int = 200) -> str:
    """``path``, its middle cut out when it is longer than ``limit`` characters (a 5000-character
    name's "File name too long" is one readable line)."""
    if len(path) <= limit:
        return path
    return f"{path[: limit // 2]}...{path[-limit // 4 :]} ({len(path)} characters)"


def _what_is_saved(args: argparse.Namespace) -> str:
    """What an interrupted ``train`` or ``search`` leaves to go on from: a checkpoint in its run
    folder (the same command plus --resume continues), or nothing (interrupted before its first
    epoch was saved: the same command starts again)."""
    saved = _saved_epochs(args)
    if saved is None:
        return ""
    if saved:
        return " (finished epochs are saved: run the same command with --resume to go on)"
    return " before any epoch was saved (run the same command to start again)"


def _saved_epochs(args: argparse.Namespace) -> bool | None:
    """Whether the run folder of a ``train`` or ``search`` holds a checkpoint (None: another
    command, which saves no epochs)."""
    from pathlib import Path

    command = getattr(args, "command", None)
    if command == "train":
        folder: Path | None = Path(args.out).expanduser()
    elif command == "search" and not args.dry_run:
        from bars_zoo.search.preflight import search_run_dir

        folder = search_run_dir(args.out, args.run_dir)
    else:
        return None
    return folder is not None and (folder / "checkpoint.pt").is_file()


#: what gloo and NCCL say when the rank at the other end of a collective has gone
_PEER_GONE = (
    "Connection closed by peer",
    "Connection reset by peer",
    "gloo/transport/",
    "NCCL communicator was aborted",
)


def _peer_failed(err: RuntimeError) -> bool:
    """Whether ``err`` is a collective failing because another process of a torchrun job is gone
    (only with ``WORLD_SIZE`` above 1: one process has no peers)."""
    try:
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return False
    except ValueError:
        return False
    dist = sys.modules.get("torch.distributed")
    backend_error = getattr(dist, "DistBackendError", None) if dist is not None else None
    if backend_error is not None and isinstance(err, backend_error):
        return True
    text = str(err)
    return any(words in text for words in _PEER_GONE)
