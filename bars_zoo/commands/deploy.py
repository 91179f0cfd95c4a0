"""``bars-zoo deploy NAME|DIR -o DIR``: a pretrained model as a packed 1-bit inference folder.

The output folder is the packed model folder of ``bars_zoo.save_pretrained`` (``config.json``,
``genotype.geno``, ``model.safetensors`` with sign bits + one ``beta`` per binary conv, ``README.md``);
``bars_zoo.load_deployed(DIR)`` turns it into the XNOR-popcount module.  Before writing, the command
runs one random input through both the emulated and the deployed model and reports how they agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bars_zoo.spec import NetworkSpec

from bars_zoo.commands.options import add_output

HELP = "convert a pretrained model into a packed XNOR-popcount inference folder (docs/deploy.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        metavar="NAME|DIR",
        help="zoo name, model folder, finished `bars-zoo train` --out folder (its model/), "
        "local-dir: or hf-hub: (what eval takes, but a finished model: no checkpoint)",
    )
    add_output(p, dest="output", required=True, metavar="DIR", help="folder to write")
    p.add_argument(
        "--revision", metavar="REV", help="Hub branch, tag or commit (hf-hub: and registry names)"
    )
    p.add_argument("--no-check", action="store_true", help="skip the emulated-vs-deployed check")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _check_output(out: Path, spec: NetworkSpec, weights_sha256: str) -> None:
    """``-o`` may replace an earlier deployment of these very weights (the same command run
    again), never another model: a training run's packed ``model/``, a folder of other weights of
    this architecture, unpacked (trainable) weights or another architecture would be lost."""
    from bars_zoo.errors import BarsError, ConfigError
    from bars_zoo.registry import CONFIG_FILE, genotype_sha256, read_config

    if not (out / CONFIG_FILE).is_file():
        return  # new, empty, or not a model folder (save_pretrained refuses foreign files)
    try:
        theirs = read_config(out)
    except BarsError:  # unreadable: save_pretrained decides what it may replace
        return
    if theirs.genotype_sha256 != genotype_sha256(spec):
        what = f"another architecture than {spec.name}"
    elif not theirs.packed:
        what = "unpacked, trainable weights"
    elif theirs.weights_sha256 != weights_sha256:
        what = "other weights of this architecture"
    else:
        return
    raise ConfigError(
        f"-o {out} holds the model folder of {theirs.architecture} ({what}); deploy would "
        "replace it",
        hint="choose a new folder for the deployed model, or delete this one first",
    )


def run(args: argparse.Namespace) -> int:
    import hashlib
    import os

    import torch

    from bars_zoo.deploy import deploy
    from bars_zoo.folder import folder_files, write_folder
    from bars_zoo.hub import load
    from bars_zoo.modelref import model_source
    from bars_zoo.registry import WEIGHTS_FILE
    from bars_zoo.trainedness import weights_trained

    name = model_source(args.model)  # what eval accepts: a finished training folder too
    kwargs = {"revision": args.revision} if args.revision else {}
    model = load(name, **kwargs).cpu().eval()
    if weights_trained(model) is False:
        print(
            f"warning: {args.model} holds untrained weights (no training recorded); the deployed "
            "folder records them as untrained (`bars-zoo list --trained` leaves it out)",
            file=sys.stderr,
        )
    deployed = deploy(model)
    summary: dict[str, object] = {
        "model": deployed.spec.name,
        "backend": deployed.backend,
        **deployed.packed_bytes(),
    }
    if not args.no_check:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(2, *deployed.spec.input_shape, generator=gen)
        with torch.no_grad():
            want, got = model(x), deployed(x)
        summary["check_max_abs_diff"] = float((want - got).abs().max())
        summary["check_bit_exact"] = bool(torch.equal(want, got))
        summary["check_same_argmax"] = bool(torch.equal(want.argmax(1), got.argmax(1)))
    files = folder_files(model, packed=True)  # what deploy.save writes, serialised once
    out = Path(args.output).expanduser()
    _check_output(out, deployed.spec, hashlib.sha256(files[WEIGHTS_FILE]).hexdigest())
    folder = write_folder(out, files)
    summary["folder"] = os.fspath(folder)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    binary = int(summary["binary_packed"])  # type: ignore[call-overload]
    as_f32 = int(summary["binary_as_float32"])  # type: ignore[call-overload]
    print(f"wrote {folder}  ({summary['model']}, kernel: {summary['backend']})")
    print(
        f"binary weights: {binary / 1024:.1f} KiB packed vs {as_f32 / 1024:.1f} KiB float32 "
        f"({as_f32 / max(binary, 1):.1f}x smaller); full precision: "
        f"{int(summary['full_precision']) / 1024:.1f} KiB"  # type: ignore[call-overload]
    )
    if not args.no_check:
        exact = (
            "bit-exact"
            if summary["check_bit_exact"]
            else "NOT bit-exact (a bug: please report it with the model; docs/deploy.md)"
        )
        print(
            f"check against the emulated model on a random batch: {exact}; max |logit diff| "
            f"{summary['check_max_abs_diff']:.3g}, same argmax: {summary['check_same_argmax']}"
        )
    print(f"load it with: bars_zoo.load_deployed({os.fspath(folder)!r})")
    return 0
