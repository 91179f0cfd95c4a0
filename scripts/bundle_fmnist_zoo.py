"""Bundle the models produced by ``scripts/fmnist_zoo.py`` into the package.

    python scripts/bundle_fmnist_zoo.py ZOO_DIR [--only NAME ...]   # ZOO_DIR = the unpacked zoo.tar.gz
    python scripts/bundle_fmnist_zoo.py --cards                      # only re-render the bundled cards

For every trained run: the searched genotype goes to ``genotypes/<name>.geno`` (the search's own
text plus a header line with the training result), the model folder is registered with
:func:`bars_zoo.publish.register_bundled` (weights copied byte for byte, sha256 into the registry), and
the accuracy on a fixed slice of the test split is recorded in ``tests/data/bundled_slices.json``
so that the test suite can check that every bundled model reproduces it.  ``--only`` bundles some
of the runs and leaves the other bundled models as they are (choose between runs by their
*validation* accuracy, never the test accuracy).

The model cards are written by :func:`bars_zoo.foldercard.write_card` (through ``register_bundled``),
loading the zoo name.  After a change of the card code, ``--cards`` rewrites the card of every
bundled model the same way and touches nothing else (``tests/test_bundled_models.py`` checks that
each bundled card is what the card code renders).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bars_zoo import registry
from bars_zoo._io import atomic_write_text
from bars_zoo.checkpoint import LOG
from bars_zoo.foldercard import write_card
from bars_zoo.publish import register_bundled

REPO = Path(__file__).resolve().parent.parent
SLICE = 1000  # the first SLICE images of the Fashion-MNIST test split


def slice_correct(name: str) -> int:
    import torch

    import bars_zoo
    from bars_zoo.data import load_images, normalize

    model = bars_zoo.load(name, local_files_only=True)
    data = load_images("fashion-mnist", "test")
    x = normalize(data.images[:SLICE], data.info)
    with torch.inference_mode():
        pred = torch.cat([model(x[i : i + 250]).argmax(1) for i in range(0, SLICE, 250)])
    return int((pred == data.labels[:SLICE]).sum())


def on_machines(run: Path, hardware: str) -> str:
    """``"one X"`` for a run trained on one machine; a run resumed on others keeps its hardware
    line as the trainer wrote it, machines with their epochs (``"A (epochs 1-88), B (epoch 89)"``)."""
    log = run / LOG
    lines = log.read_text().splitlines() if log.is_file() else []
    seen = {json.loads(line).get("hardware") for line in lines if line.strip()} - {None}
    return hardware if len(seen) > 1 else f"one {hardware}"


def write_bundled_cards() -> None:
    """Re-render the card of every bundled model (the weights and configs stay as they are)."""
    for name in registry.pretrained_names():
        folder = registry.bundled_dir(name)
        if folder.is_dir():
            print(write_card(folder, load_name=name))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("zoo", type=Path, nargs="?")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="bundle only these runs")
    ap.add_argument("--cards", action="store_true", help="only re-render the bundled cards")
    args = ap.parse_args()
    if args.cards:
        write_bundled_cards()
        return 0
    if args.zoo is None:
        ap.error("give ZOO_DIR (or --cards)")
    out = REPO / "tests" / "data" / "bundled_slices.json"
    slices: dict[str, dict[str, int]] = json.loads(out.read_text()) if out.is_file() else {}
    for run in sorted((args.zoo / "runs").iterdir()):
        name = run.name
        if args.only and name not in args.only:
            continue
        results = json.loads((run / "results.json").read_text())
        metrics, epochs = results["metrics"], results["epochs"]
        top1 = round(100 * metrics["test_top1"], 2)
        minutes = results["wall_time_s"] / 60
        geno = args.zoo / "geno" / f"{name}.geno"
        if geno.is_file():
            text = geno.read_text()
            note = (
                f"# Trained with `bars-zoo train {name} --dataset fashion-mnist --epochs {epochs}` on "
                f"{on_machines(run, results['hardware'])} "
                f"({minutes:.1f} min): test top-1 {top1:.2f} %.\n"
            )
            atomic_write_text(REPO / "genotypes" / f"{name}.geno", note + text)
        graph = " --cuda-graph" if results["config"].get("cuda_graph") else ""
        command = (
            f"bars-zoo train {name} --dataset fashion-mnist --epochs {epochs} --out runs/{name}"
            + graph
        )
        register_bundled(
            run / "model",
            name,
            top1=top1,
            train_command=command,
            hardware=f"{results['hardware']}; trained in {minutes:.1f} min",
        )
        slices[name] = {"n": SLICE, "correct": slice_correct(name)}
        print(
            f"{name}: test top-1 {top1:.2f} %, first {SLICE} test images {slices[name]['correct']}"
        )
    out.parent.mkdir(exist_ok=True)
    atomic_write_text(out, json.dumps(slices, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
