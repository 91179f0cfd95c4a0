"""Options that several commands share, spelled and checked the same way everywhere.

``train``, ``search`` and ``eval`` take ``--amp [MODE]``, ``--threads N`` and (train, search)
``-o/--out``, ``--progress/--no-progress``, ``--quiet`` and ``--json``; a value the library
refuses is reported under the command-line flag that set it (``--batch-size``), not under the
keyword (``batch_size``) that the Python API names.  Imported when the parser is built: no torch,
no pydantic at import time.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from bars_zoo.errors import ConfigError, SettingError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    Model = TypeVar("Model", bound=BaseModel)

#: every mode ``--amp`` takes somewhere (``auto`` only in search: training fingerprints on/off)
AMP_MODES = ("auto", "bf16", "off")


def add_amp(p: argparse.ArgumentParser, modes: Sequence[str], help: str) -> None:
    """``--amp MODE``; ``--amp`` alone is ``--amp bf16`` (the older flag spelling)."""
    p.add_argument(
        "--amp", nargs="?", const="bf16", choices=tuple(modes), metavar="MODE", help=help
    )


#: commands with a positional argument that a bare ``--amp`` may come before
_POSITIONAL_AFTER_AMP = ("train", "eval")


def bare_amp(argv: Sequence[str]) -> list[str]:
    """``argv`` with a bare ``--amp`` written ``--amp=bf16`` where the next word is no mode.

    ``--amp`` takes an optional value, and argparse would take the word after a bare ``--amp``
    for it: ``bars-zoo train --amp bars-b ...`` (the older flag before the positional) would
    fail.  Only for commands with a positional; elsewhere a wrong mode is argparse's error."""
    words = list(argv)
    command = next((w for w in words if not w.startswith("-")), None)
    if command not in _POSITIONAL_AFTER_AMP:
        return words
    for i, word in enumerate(words):
        if word == "--":
            break
        follows = words[i + 1] if i + 1 < len(words) else "-"
        if word == "--amp" and not follows.startswith("-") and follows not in AMP_MODES:
            words[i] = "--amp=bf16"
    return words


#: options whose value is a duration (``--time-limit 30m``); see :func:`signed_durations`
DURATION_OPTIONS = ("--time-limit", "--search-time")

#: a word that can only be a signed duration: ``-5m``, ``-0.5h``, ``-90`` (never an option name)
_SIGNED_DURATION = re.compile(r"-\.?[0-9][\w.]*")


def signed_durations(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--time-limit -5m`` written ``--time-limit=-5m``.

    argparse takes a word like ``-5m`` for an option and would say only "expected one argument";
    joined to its flag, the value reaches :func:`bars_zoo.commands.train.parse_duration`, which
    refuses it as not positive and says what to write."""
    words: list[str] = []
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--":
            words.extend(argv[i:])
            break
        follows = argv[i + 1] if i + 1 < len(argv) else ""
        if word in DURATION_OPTIONS and _SIGNED_DURATION.fullmatch(follows):
            words.append(f"{word}={follows}")
            skip = True
        else:
            words.append(word)
    return words


def misread_amp(words: Sequence[str], fixed: Sequence[str], extra: Sequence[str]) -> str | None:
    """The word after a bare ``--amp`` that :func:`bare_amp` left for the positional but the parser
    could not place (``train g.geno --amp banana``): a wrong mode, not a stray argument."""
    for i, (was, now) in enumerate(zip(words, fixed, strict=True)):
        if was == "--amp" and now != was and i + 1 < len(words) and words[i + 1] in extra:
            return words[i + 1]
    return None


def default_note(help: str, default: str) -> str:
    """``help (default: default)``: how every shared option states its default, so that a test can
    compare the rest of the help across commands (:data:`SHARED_OPTIONS`)."""
    return f"{help} (default: {default})"


def add_output(
    p: argparse.ArgumentParser, *, dest: str, metavar: str, help: str, **kwargs: Any
) -> None:
    """``-o/--out/--output``, the same three spellings in the same order everywhere."""
    p.add_argument("-o", "--out", "--output", dest=dest, metavar=metavar, help=help, **kwargs)


def add_batch_size(p: argparse.ArgumentParser, default_text: str, **kwargs: Any) -> None:
    """``--batch-size B``; ``default_text`` is how the help states the default."""
    p.add_argument(
        "--batch-size",
        type=kwargs.pop("type", int),
        metavar="B",
        help=default_note("images per step", default_text),
        **kwargs,
    )


def add_seed(p: argparse.ArgumentParser, seeds: str, default_text: str, **kwargs: Any) -> None:
    """``--seed SEED``; its help reads ``seed of <seeds>``: what it seeds in this command (build:
    the random initial weights that -o writes; train: those and the batches)."""
    p.add_argument(
        "--seed",
        type=kwargs.pop("type", int),
        metavar="SEED",
        help=default_note(f"seed of {seeds}", default_text),
        **kwargs,
    )


def add_device(
    p: argparse.ArgumentParser,
    default: str | None = None,
    default_text: str = "cuda when available, else cpu",
) -> None:
    p.add_argument(
        "--device",
        default=default,
        metavar="DEVICE",
        help=default_note("cpu, cuda, cuda:1 ...", default_text),
    )


def add_stop_after(p: argparse.ArgumentParser) -> None:
    """``--stop-after N``: N more epochs in this call (train and search count them alike)."""
    p.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="stop this call after N more epochs; the same command plus --resume goes on",
    )


def add_time_limit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--time-limit",
        metavar="T",
        help="stop this call after the epoch that passes T (200s, 90m, 2h); the same command "
        "plus --resume goes on",
    )


def add_progress(p: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress`` (bars; default: when stderr is a terminal) and ``--quiet``."""
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="progress bars (default: when stderr is a terminal); the epoch lines stay",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars and no epoch lines")


def progress_of(args: argparse.Namespace) -> bool | None:
    """The ``progress`` keyword of ``--progress/--no-progress/--quiet`` (``None``: on a terminal)."""
    if args.quiet and args.progress:
        raise ConfigError("--quiet and --progress contradict", hint="give one of them")
    return False if args.quiet else args.progress


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (default: torch's; 1 is often fastest on a busy machine)",
    )


def set_threads(threads: int | None) -> None:
    """``--threads N``: torch's CPU threads (``None``: torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def check_workers(workers: int) -> None:
    if workers < 0:
        raise ConfigError(
            f"--workers must be at least 0, got {workers}",
            hint="0 loads in the main process; the workers only serve ImageNet",
        )


#: data sets that have no default location: without ``--data-dir`` nothing can be read
_NO_DEFAULT_DIR = {
    "cifar10": (
        "CIFAR-10",
        "DIR holding cifar-10-batches-py/ (get it with torchvision.datasets.CIFAR10(DIR, "
        "download=True) on a machine with internet) or cifar-10-batches-bin/",
    ),
    "imagenet": ("ImageNet", "DIR with DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG"),
    "imagefolder": (
        "--dataset imagefolder",
        "DIR with DIR/train/<class>/*.png|*.jpg ... and DIR/val/<class>/ (or DIR/test/<class>/)",
    ),
}


def require_data_dir(dataset: str, data_dir: str | None) -> None:
    """A data set without a default location needs ``--data-dir``: a usage error (exit status 2)
    when it is left out.  (Fashion-MNIST is looked for in its Debian package's folder.)"""
    if data_dir is None and dataset in _NO_DEFAULT_DIR:
        name, layout = _NO_DEFAULT_DIR[dataset]
        raise ConfigError(
            f"{name} needs --data-dir: it has no default location",
            hint=f"pass --data-dir {layout}",
        )


def flag(field: str, flags: Mapping[str, str]) -> str:
    """The command-line flag of a keyword: ``flags[field]``, else ``--field-with-dashes``."""
    return flags.get(field, "--" + field.replace("_", "-"))


_LIMITS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "above"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "below"),
}


def flag_error(exc: ValidationError, flags: Mapping[str, str], command: str) -> ConfigError:
    """The first error of a settings model's validation, told in ``command``'s flags."""
    first = exc.errors()[0]
    msg = str(first["msg"]).removeprefix("Value error, ")
    hint = f"see `bars-zoo {command} --help`"
    loc = first["loc"]
    if not loc:  # a rule across settings: name them by their flags too
        for field in sorted(flags, key=len, reverse=True):
            msg = re.sub(rf"(?<![\w-]){field}(?![\w-])", flag(field, flags), msg)
        return ConfigError(msg, hint=hint)
    name, value = flag(str(loc[0]), flags), _shown(first.get("input"))
    kind = _LIMITS.get(first["type"])
    if kind is not None and kind[0] in first.get("ctx", {}):
        return ConfigError(f"{name} must be {kind[1]} {first['ctx'][kind[0]]}, got {value}")
    return ConfigError(f"{name} {value}: {msg[:1].lower()}{msg[1:]}", hint=hint)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def validated(
    model: type[Model], values: Mapping[str, Any], flags: Mapping[str, str], command: str
) -> Model:
    """``model(**values)``, its first error told in ``command``'s flags (:func:`flag_error`)."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        raise flag_error(exc, flags, command) from None
    except SettingError as exc:  # a model that turns pydantic's error into its own (SearchConfig)
        if not isinstance(exc.validation, ValidationError):
            raise
        raise flag_error(exc.validation, flags, command) from None


#: the options several commands share, each added by one function of this module (a test
#: checks that their spellings, metavars and help agree in every command that has them)
SHARED_OPTIONS = (
    "--amp",
    "--batch-size",
    "--device",
    "--out",
    "--progress",
    "--quiet",
    "--seed",
    "--stop-after",
    "--threads",
    "--time-limit",
)

__all__ = [
    "AMP_MODES",
    "DURATION_OPTIONS",
    "SHARED_OPTIONS",
    "add_amp",
    "add_batch_size",
    "add_device",
    "add_output",
    "add_progress",
    "add_seed",
    "add_stop_after",
    "add_threads",
    "add_time_limit",
    "bare_amp",
    "check_workers",
    "default_note",
    "flag",
    "flag_error",
    "progress_of",
    "require_data_dir",
    "set_threads",
    "signed_durations",
    "validated",
]


def genotype_argument(model: str) -> Any:
    """The ``NetworkSpec`` a ``NAME|FILE|-`` argument names: ``-`` reads a genotype from standard
    input (checked like ``bars-zoo check -``, with the same size limit), anything else is a zoo name
    or a ``.geno`` file (:func:`bars_zoo.zoo.load_genotype`)."""
    if model != "-":
        from bars_zoo.zoo import load_genotype

        return load_genotype(model)
    from bars_zoo._read import read_stdin
    from bars_zoo.dsl import parse
    from bars_zoo.spec import Limits

    return parse(read_stdin(Limits.MAX_FILE_BYTES + 1), "<stdin>")
