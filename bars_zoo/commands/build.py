"""``bars-zoo build NAME|FILE [-o DIR]``: build a genotype's untrained model and check it.

The command is :func:`bars_zoo.build` plus one forward pass: it builds the architecture on the CPU
(initial weights seeded by ``--seed``), runs a batch of one zero image of the input shape through
it in eval mode, and prints what was built: the parameters by precision (the numbers of
:func:`bars_zoo.complexity`, which the module's own parameters must equal), the sizes and the
output shape.  With ``-o DIR`` it writes the model as an untrained model folder with latent float
weights (the files of :func:`bars_zoo.folder.save_pretrained` with ``packed=False``, serialised
once; its ``pretrained_cfg`` claims no accuracy), which ``bars_zoo.load("local-dir:DIR")`` loads (docs/hub.md).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bars_zoo.complexity import Complexity
    from bars_zoo.registry import PretrainedCfg
    from bars_zoo.spec import NetworkSpec

from bars_zoo.commands.options import add_output, add_seed

HELP = "build a genotype's untrained model, run a zero batch through it, and save it (-o DIR)"

_MAX_SEED = 2**64 - 1  # torch.manual_seed takes 64-bit seeds


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= _MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 2**64 - 1")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        metavar="NAME|FILE|-",
        help="a zoo name (bars-b; any name `bars-zoo list` lists), a .geno file, or - for standard input",
    )
    add_output(
        p,
        dest="output",
        metavar="DIR",
        help="write an untrained model folder (latent float weights) that "
        "bars_zoo.load('local-dir:DIR') loads",
    )
    add_seed(
        p,
        "the random initial weights (the ones -o writes)",
        "%(default)s",
        type=_seed,
        default=0,
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _check_output(out: Path, spec: NetworkSpec) -> str | None:
    """``-o`` may replace an untrained build of this same architecture (and, checked once the model
    is built, only the very weights this build writes: :func:`_check_same_build`), nothing else: a
    trained model (packed weights, a measured top-1, a training command or a Hub repo) or a folder
    of another architecture would be lost.  Folders that are not bars-zoo model folders are
    refused by :func:`bars_zoo.folder.check_target`."""
    from bars_zoo.errors import BarsError, ConfigError
    from bars_zoo.folder import check_target
    from bars_zoo.registry import CONFIG_FILE, genotype_sha256, read_config
    from bars_zoo.trainedness import folder_trained

    folder = check_target(out)
    if not (folder / CONFIG_FILE).is_file():
        return None
    try:
        theirs = read_config(folder)
    except BarsError:  # not bars-zoo's config.json: check_target has refused it already
        return None
    trained = folder_trained(theirs)
    if theirs.genotype_sha256 != genotype_sha256(spec) or trained:
        what = (
            "trained weights"
            if trained
            else f"another architecture than {spec.name}"
            if theirs.architecture != spec.name
            else f"another genotype under the name {spec.name}"
        )
        raise ConfigError(
            f"-o {out} holds the model folder of {theirs.architecture} ({what}); build would "
            "replace it",
            hint="choose a new folder for the untrained model",
        )
    return theirs.weights_sha256


def _check_same_build(out: Path, theirs: str, ours: bytes, spec: NetworkSpec) -> None:
    """An untrained folder of this architecture is replaced only when it holds exactly the weights
    this build writes, ``ours`` (the same command run again): latent weights saved by a training
    loop of the user's own look the same in ``config.json``, and would be lost."""
    import hashlib

    from bars_zoo.errors import ConfigError
    from bars_zoo.registry import WEIGHTS_FILE

    try:
        on_disk = hashlib.sha256((out / WEIGHTS_FILE).read_bytes()).hexdigest()
    except OSError:
        on_disk = None
    if theirs != hashlib.sha256(ours).hexdigest() or on_disk != theirs:
        raise ConfigError(
            f"-o {out} holds latent weights of {spec.name} that this build did not write "
            "(another --seed, weights trained or edited since, or saved by your own code); build "
            "would replace them",
            hint="choose a new folder for the untrained model, or delete this one first",
        )


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or ``None``."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def needed_memory(spec: NetworkSpec, cx: Complexity) -> int:
    """A generous estimate of the bytes that building ``spec`` and one forward pass of one image
    take: the float32 parameters and batch-norm statistics, plus the feature maps alive at once
    inside the largest cell (its input, ``in``, every node, the output and a temporary)."""
    largest = max(r.out_shape[0] * r.out_shape[1] * r.out_shape[2] for r in cx.layers)
    largest = max(largest, *(r.in_shape[0] * r.in_shape[1] * r.in_shape[2] for r in cx.layers))
    alive = max(len(c.nodes) for c in spec.cells) + 4
    return 4 * (cx.params + cx.bn_params) + 4 * largest * alive


def _check_memory(spec: NetworkSpec, cx: Complexity, given: str) -> None:
    """Refuse (before allocating anything) a network this machine has no memory for: a legal
    genotype at the language's hard bounds can need terabytes."""
    from bars_zoo.complexity import format_bytes
    from bars_zoo.errors import BarsError

    need, have = needed_memory(spec, cx), _available_memory()
    if have is not None and need > have:
        raise BarsError(
            f"{spec.name} needs about {format_bytes(need)} of memory to build and run once on "
            f"the CPU; {format_bytes(have)} is available",
            hint=f"`bars-zoo show {given}` gives its costs without building it; a smaller "
            "input, fewer channels or fewer cells make it fit",
        )


def _untrained_cfg(name: str, spec: NetworkSpec) -> PretrainedCfg:
    """How to feed the model (the registry's entry of ``name`` when it is this architecture, else
    guessed from the input shape), without anything that describes trained weights."""
    from bars_zoo import registry

    entry = registry.get(name)
    if entry is None or entry.architecture != spec.name:
        entry = registry.default_cfg(spec)
    return entry.untrained()


def run(args: argparse.Namespace) -> int:
    from bars_zoo.commands.options import genotype_argument
    from bars_zoo.complexity import complexity

    spec = genotype_argument(args.model)  # `-`: a genotype on standard input
    cx = complexity(spec)
    out = Path(args.output).expanduser() if args.output is not None else None
    theirs = _check_output(out, spec) if out is not None else None
    _check_memory(spec, cx, args.model)

    import torch

    from bars_zoo.builder import build
    from bars_zoo.errors import BarsError
    from bars_zoo.folder import folder_files, write_folder
    from bars_zoo.packing import binary_convs
    from bars_zoo.registry import WEIGHTS_FILE

    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(args.seed)
        model = build(spec).eval()
    x = torch.zeros(1, *spec.input_shape)  # (1, C, H, W)
    with torch.no_grad():
        y = model(x)  # (1, classes)
    binary = sum(c.weight.numel() for c in binary_convs(model).values())
    total = sum(p.numel() for p in model.parameters())
    problems = []
    if tuple(y.shape) != (1, spec.num_classes):
        problems.append(f"output shape {tuple(y.shape)}, expected (1, {spec.num_classes})")
    if not bool(torch.isfinite(y).all()):
        problems.append("a non-finite output")
    if (binary, total - binary) != (cx.binary_params, cx.fp_params):
        problems.append(
            f"{binary} binary / {total - binary} full-precision parameters, the counter says "
            f"{cx.binary_params} / {cx.fp_params}"
        )
    if problems:
        raise BarsError(
            f"the model built for {spec.name} fails its check: {'; '.join(problems)}",
            hint="this is a bug in bars-zoo: please report it with the genotype",
        )
    summary: dict[str, Any] = {
        "model": spec.name,
        "seed": args.seed,
        "input_shape": list(spec.input_shape),
        "output_shape": list(y.shape),
        "params": cx.params,
        "binary_params": cx.binary_params,
        "fp_params": cx.fp_params,
        "bn_params": cx.bn_params,
        "float32_bytes": 4 * cx.params,
        "packed_bytes": cx.packed_bytes,
        "bops": cx.bops,
        "flops": cx.flops,
        "ops": cx.ops,
        "folder": None,
    }
    if out is not None:
        cfg = _untrained_cfg(args.model, spec)
        files = folder_files(model, packed=False, pretrained_cfg=cfg)  # weights serialised once
        if theirs is not None:
            _check_same_build(out, theirs, files[WEIGHTS_FILE], spec)
        summary["folder"] = os.fspath(write_folder(out, files))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_text(summary, cx))
    return 0


def _text(s: dict[str, Any], cx: Complexity) -> str:
    from bars_zoo.complexity import format_bytes, format_count

    c, h, w = s["input_shape"]
    lines = [
        f"built {s['model']} (seed {s['seed']}): a zero batch of {c}x{h}x{w} runs on the CPU, "
        f"output {tuple(s['output_shape'])}",
        f"  params {format_count(cx.params)}: binary {format_count(cx.binary_params)} "
        f"(1 bit each once packed), full precision {format_count(cx.fp_params)} "
        f"(batch norm {format_count(cx.bn_params)})",
        f"  size   {format_bytes(s['float32_bytes'])} as float32, "
        f"{format_bytes(cx.packed_bytes)} packed",
        f"  cost   BOPs {format_count(cx.bops)}  FLOPs {format_count(cx.flops)}  "
        f"OPs {format_count(cx.ops)}  (per image; `bars-zoo show` gives every layer)",
    ]
    if s["folder"] is not None:
        lines.append(
            f"wrote {s['folder']} (untrained, latent float weights): "
            f"bars_zoo.load({'local-dir:' + s['folder']!r})"
        )
    return "\n".join(lines)
