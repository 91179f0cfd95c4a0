"""Load time and file size of a model folder, packed (1-bit) vs unpacked (float32 latent weights).

    .venv/bin/python -m benchmarks.bench_load                 # bars-b, 5 repeats
    .venv/bin/python -m benchmarks.bench_load --model bars-a --repeats 3

The model (untrained weights are enough for size and time; a missing genotype falls back to
``genotypes/example.geno`` and the result says so) is saved with :func:`bars_zoo.save_pretrained`
both ways into a temporary folder, which is also laid out as a Hugging Face cache snapshot.  Measured:

* sizes: ``model.safetensors`` bytes, the bytes of the binary weights alone (sign bits vs float32),
  and the complexity counter's packed-size estimate;
* ``save``: ``save_pretrained`` wall time (median);
* ``cold local``: ``load("local-dir:...")`` in a fresh Python process (imports done and timed apart,
  then the first load is timed; the OS page cache is warm, nothing else is);
* ``warm cache``: ``load("hf-hub:bench/model")`` from the pre-filled cache with ``HF_HUB_OFFLINE=1``,
  repeated in one process (median of ``--repeats`` after one untimed load);
* ``build only``: ``bars_zoo.build(spec)`` (the floor: what a load costs without reading weights).

Results go to ``benchmarks/results/load.json`` and ``load.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import bars_zoo
from bars_zoo._io import atomic_write_text
from bars_zoo._resources import resource_dir
from bars_zoo.complexity import complexity
from bars_zoo.folder import save_pretrained
from bars_zoo.hub import load
from bars_zoo.packing import binary_convs

RESULTS = Path(__file__).resolve().parent / "results"
COMMIT = "0" * 40

_COLD = """
import sys, time
t0 = time.perf_counter()
import torch, bars_zoo
from bars_zoo.hub import load
t1 = time.perf_counter()
model = load("local-dir:" + sys.argv[1])
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def resolve(name: str) -> tuple[Path, str | None]:
    folder = resource_dir("genotypes")
    path = folder / f"{name}.geno"
    if path.is_file():
        return path, None
    return folder / "example.geno", f"genotypes/{name}.geno not found: measured example.geno"


def fill_cache(cache: Path, repo: str, folder: Path) -> None:
    """``folder`` as a Hugging Face cache snapshot (refs/main -> snapshots/<commit> -> blobs)."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (root / "blobs").mkdir()
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    for f in folder.iterdir():
        data = f.read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snap / f.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)


def timed(fn: Any, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def cold_load(folder: Path, repeats: int) -> dict[str, float]:
    imports, loads = [], []
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _COLD, str(folder)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.split()
        imports.append(float(out[0]))
        loads.append(float(out[1]))
    return {
        "import_s": statistics.median(imports),
        "load_s": statistics.median(loads),
        "load_min_s": min(loads),
    }


def bench(name: str, repeats: int) -> dict[str, Any]:
    path, note = resolve(name)
    spec = bars_zoo.read(path)
    torch.manual_seed(0)
    model = bars_zoo.build(spec).eval()
    convs = binary_convs(model)
    n_binary = sum(c.weight.numel() for c in convs.values())
    cx = complexity(spec)
    result: dict[str, Any] = {
        "model": spec.name,
        "note": note,
        "params": cx.params,
        "binary_params": n_binary,
        "binary_layers": len(convs),
        "packed_estimate_bytes": cx.packed_bytes,
        "build_only_s": statistics.median(timed(lambda: bars_zoo.build(spec), repeats)),
        "load_average": os.getloadavg()[0],
    }
    x = torch.randn(2, *spec.input_shape)
    with torch.no_grad():
        expected = model(x)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for packed in (True, False):
            key = "packed" if packed else "unpacked"
            folder = Path(tmp) / key
            saves = timed(lambda f=folder, p=packed: save_pretrained(model, f, packed=p), repeats)
            size = (folder / "model.safetensors").stat().st_size
            cache = Path(tmp) / f"cache-{key}"
            fill_cache(cache, "bench/model", folder)
            os.environ["HF_HUB_OFFLINE"] = "1"
            loaded = load("hf-hub:bench/model", cache_dir=cache)  # untimed first load
            warm = timed(lambda c=cache: load("hf-hub:bench/model", cache_dir=c), repeats)
            with torch.no_grad():
                identical = torch.equal(loaded(x), expected)
            result[key] = {
                "file_bytes": size,
                "binary_weight_bytes": (
                    sum(-(-c.weight.numel() // 8) for c in convs.values())
                    if packed
                    else n_binary * 4
                ),
                "save_s": statistics.median(saves),
                "cold_local": cold_load(folder, repeats),
                "warm_cache_load_s": statistics.median(warm),
                "warm_cache_load_min_s": min(warm),
                "eval_outputs_identical": identical,
            }
    p, u = result["packed"], result["unpacked"]
    result["file_ratio"] = u["file_bytes"] / p["file_bytes"]
    result["binary_ratio"] = u["binary_weight_bytes"] / p["binary_weight_bytes"]
    return result


def markdown(data: dict[str, Any]) -> str:
    lines = [
        "# Load time and file size (bench_load)",
        "",
        f"Machine: {data['machine']}, torch {data['torch']}, {data['threads']} threads, "
        f"{data['repeats']} repeats (medians). Cold = first load in a fresh process (imports "
        "timed apart, OS page cache warm); warm = repeated load from a pre-filled Hugging Face "
        "cache with HF_HUB_OFFLINE=1.",
        "",
    ]
    for r in data["results"]:
        p, u = r["packed"], r["unpacked"]
        if r["note"]:
            lines += [f"Note: {r['note']}", ""]
        lines += [
            f"## {r['model']} ({r['params'] / 1e6:.2f}M params, {r['binary_params'] / 1e6:.2f}M "
            f"binary in {r['binary_layers']} layers)",
            "",
            "| | packed (1-bit) | unpacked (float32) |",
            "|---|---:|---:|",
            f"| model.safetensors | {p['file_bytes'] / 2**20:.3f} MiB | "
            f"{u['file_bytes'] / 2**20:.3f} MiB |",
            f"| binary weights alone | {p['binary_weight_bytes'] / 2**20:.3f} MiB | "
            f"{u['binary_weight_bytes'] / 2**20:.3f} MiB |",
            f"| save_pretrained | {p['save_s'] * 1e3:.0f} ms | {u['save_s'] * 1e3:.0f} ms |",
            f"| cold load, local folder (median / min) | {_ms(p['cold_local'], 'load_s')} | "
            f"{_ms(u['cold_local'], 'load_s')} |",
            f"| warm load, HF cache (median / min) | {_ms(p, 'warm_cache_load_s')} | "
            f"{_ms(u, 'warm_cache_load_s')} |",
            f"| eval outputs identical to the saved model | {p['eval_outputs_identical']} | "
            f"{u['eval_outputs_identical']} |",
            "",
            f"File ratio unpacked/packed: {r['file_ratio']:.1f}x; binary weights: "
            f"{r['binary_ratio']:.1f}x. Complexity counter's packed estimate: "
            f"{r['packed_estimate_bytes'] / 2**20:.3f} MiB. Build only (no weights): "
            f"{r['build_only_s'] * 1e3:.0f} ms; imports in a fresh process: "
            f"{p['cold_local']['import_s'] * 1e3:.0f} ms. Load average during the run: "
            f"{r['load_average']:.1f} (shared machine: compare the minima).",
            "",
        ]
    return "\n".join(lines)


def _ms(d: dict[str, Any], key: str) -> str:
    return f"{d[key] * 1e3:.0f} / {d[key.replace('_s', '_min_s')] * 1e3:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="zoo name (repeatable; default bars-b)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = {
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "torch": torch.__version__,
        "threads": args.threads,
        "repeats": args.repeats,
        "results": [bench(m, args.repeats) for m in args.model or ["bars-b"]],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "load.json", json.dumps(data, indent=2) + "\n")
    text = markdown(data)
    atomic_write_text(RESULTS / "load.md", text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
