"""Time and size of ``bars-zoo draw``: every zoo genotype, and legal files at the DSL's hard bounds.

    .venv/bin/python -m benchmarks.bench_draw                        # svg + png, every case
    .venv/bin/python -m benchmarks.bench_draw --formats svg --cases dense-1,dense-32
    .venv/bin/python -m benchmarks.bench_draw --profile dense-32     # cProfile of one drawing

Each (genotype, format) is drawn in a fresh Python process (imports done before the clock starts)
that does what ``bars-zoo draw FILE -o OUT`` does: ``load_genotype(FILE)`` then
``drawing_bytes(spec, FORMAT)``.  Measured: ``source`` (our code: spec -> DOT text,
``draw(spec).source``), ``total`` (read + source + Graphviz's ``dot`` + its output), the output's
bytes, and a PNG's pixel size.  ``total - source`` is the time spent in Graphviz.  A drawing that
runs past ``--timeout`` seconds is killed (with its ``dot``) and recorded as a time-out.  Zoo
genotypes: the median of ``--repeats`` runs; the generated files: one run each.

The generated files are legal (``check`` finds no error; see the hard bounds in
docs/genotype-language.md: 16 nodes a cell, 32 cells, 32 layout lines, 256 cell instances) and
dense: node ``nK`` takes an edge from ``in`` and from every earlier node (136 edges in a 16-node
cell).

* ``dense-1``: one dense 16-node cell, one stage;
* ``dense-4``: 3 dense normal cells and 1 dense reduction cell, 4 stages and 3 downsamples;
* ``sparse-32``: 32 small (4-node) cells, 32 layout lines, 252 cell instances;
* ``dense-32``: 32 dense 16-node cells (20 normal, 12 reduction), 20 stages and 12 downsamples,
  252 cell instances (every bound at once, 69 KiB);
* ``gate-32``: 32 dense 8-node cells (36 edges each, ``bars_zoo.draw.GRAPH_MAX_EDGES``): the
  largest cells still drawn as graphs, as many as there may be.

``--baseline OLD.json`` adds an earlier run's seconds to the table, in brackets (run the
benchmark against another checkout: ``PYTHONPATH=OTHER python benchmarks/bench_draw.py``).

Results: ``benchmarks/results/draw.json`` and ``draw.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bars_zoo
from bars_zoo._io import atomic_write_text
from bars_zoo._resources import resource_dir
from bars_zoo.dsl import check

RESULTS = Path(__file__).resolve().parent / "results"
OPS = ("bconv3x3", "shortcut", "bconv1x1")

_CHILD = """
import json, sys, time
from bars_zoo.draw import draw, drawing_bytes
from bars_zoo.zoo import load_genotype
path, fmt, out = sys.argv[1:4]
t0 = time.perf_counter()
spec = load_genotype(path)
source = draw(spec).source
t1 = time.perf_counter()
data = drawing_bytes(load_genotype(path), fmt)
t2 = time.perf_counter()
open(out, "wb").write(data)
print(json.dumps({"source_s": t1 - t0, "total_s": t2 - t1, "bytes": len(data)}))
"""


def dense_cell(name: str, stride: int, nodes: int) -> str:
    """A cell whose node ``nK`` has an edge from ``in`` and from each earlier node."""
    cell_op = "bfr" if stride == 2 else "bconv3x3"
    short = "bfr" if stride == 2 else "identity"
    lines = [
        f"cell {name} stride={stride} preprocess={cell_op} shortcut={short} op_shortcut=true {{"
    ]
    for k in range(1, nodes + 1):
        sources = ["in", *(f"n{j}" for j in range(1, k))]
        edges = ", ".join(f"{s}: {OPS[(k + i) % 3]}" for i, s in enumerate(sources))
        lines.append(f"  n{k} <- {edges}")
    return "\n".join([*lines, "}"])


def generated(normal: int, reduce: int, depth: int, nodes: int, name: str) -> str:
    """A legal genotype: ``normal`` stages of ``depth`` cells, ``reduce`` downsamples between them."""
    out = [
        "bars 1",
        f'name "{name}"',
        "input 3x4096x4096 classes=10",
        "stem conv3x3 channels=16 stride=1 pool=none",
        *(dense_cell(f"normal{i}", 1, nodes) for i in range(normal)),
        *(dense_cell(f"reduce{i}", 2, nodes) for i in range(reduce)),
    ]
    for s in range(normal):
        if 0 < s <= reduce:
            out.append(f"downsample cell=reduce{s - 1}")
        out.append(f"stage s{s}: channels=16 depth={depth} cell=normal{s}")
    return "\n".join([*out, "head avgpool linear"]) + "\n"


def cases() -> dict[str, str]:
    """Every case: zoo names map to their files' text, generated ones to theirs."""
    texts = {p.stem: p.read_text("utf-8") for p in sorted(resource_dir("genotypes").glob("*.geno"))}
    texts["dense-1"] = generated(1, 0, 1, 16, "dense-1")
    texts["dense-4"] = generated(3, 1, 4, 16, "dense-4")
    texts["sparse-32"] = generated(20, 12, 12, 4, "sparse-32")
    texts["dense-32"] = generated(20, 12, 12, 16, "dense-32")
    texts["gate-32"] = generated(20, 12, 12, 8, "gate-32")
    for name, text in texts.items():
        doc = check(text)
        assert doc.ok, (name, [d.render() for d in doc.errors])
    return texts


def _png_size(data: bytes) -> list[int] | None:
    if not data.startswith(b"\x89PNG"):
        return None
    return list(struct.unpack(">II", data[16:24]))


def _run_one(path: Path, fmt: str, out: Path, timeout: float) -> dict[str, Any]:
    # a session of its own so that a time-out kills dot with the Python process
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), fmt, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"timed_out": True, "total_s": timeout}
    if proc.returncode:
        raise RuntimeError(f"drawing {path.name} as {fmt} failed:\n{stderr}")
    result: dict[str, Any] = json.loads(stdout)
    result["png_px"] = _png_size(out.read_bytes()[:24])
    return result


def measure(path: Path, fmt: str, out: Path, repeats: int, timeout: float) -> dict[str, Any]:
    runs = [_run_one(path, fmt, out, timeout) for _ in range(repeats)]
    if any(r.get("timed_out") for r in runs):
        return {"timed_out": True, "total_s": timeout, "runs": len(runs)}
    best = min(runs, key=lambda r: r["total_s"])
    return {
        "total_s": statistics.median(r["total_s"] for r in runs),
        "total_min_s": best["total_s"],
        "source_s": statistics.median(r["source_s"] for r in runs),
        "bytes": best["bytes"],
        "png_px": best["png_px"],
        "runs": len(runs),
    }


def profile(text: str, fmt: str, top: int = 12) -> str:
    """cProfile of one drawing, in this process (the Python side; ``dot`` shows up as a wait)."""
    from bars_zoo.draw import drawing_bytes
    from bars_zoo.dsl import parse

    spec = parse(text)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    drawing_bytes(spec, fmt)
    prof.disable()
    wall = time.perf_counter() - t0
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return f"wall {wall:.3f} s\n{buf.getvalue()}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--formats", default="svg,png", help="comma-separated (svg, png, pdf, dot)")
    ap.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per zoo genotype (median)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is killed")
    ap.add_argument("--keep", type=Path, default=None, help="keep the files and drawings here")
    ap.add_argument("--profile", metavar="CASE", default=None, help="cProfile one case, no timing")
    ap.add_argument("--baseline", type=Path, default=None, help="an earlier draw.json to compare")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    texts = cases()
    formats = args.formats.split(",")
    if args.profile:
        print(profile(texts[args.profile], formats[0]))
        return
    names = args.cases.split(",") if args.cases else list(texts)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_draw-"))
    work.mkdir(parents=True, exist_ok=True)
    zoo = {p.stem for p in resource_dir("genotypes").glob("*.geno")}
    files: dict[str, Any] = {}
    try:
        for name in names:
            path = work / f"{name}.geno"
            path.write_text(texts[name], encoding="utf-8")
            spec = check(texts[name]).spec
            assert spec is not None
            files[name] = {
                "generated": name not in zoo,
                "file_bytes": len(texts[name].encode("utf-8")),
                "cells": len(spec.cells),
                "nodes": sum(len(c.nodes) for c in spec.cells),
                "edges": sum(len(n.edges) for c in spec.cells for n in c.nodes),
                "layout": len(spec.layout),
            }
            for fmt in formats:
                repeats = args.repeats if name in zoo else 1
                r = measure(path, fmt, work / f"{name}.{fmt}", repeats, args.timeout)
                files[name][fmt] = r
                shown = "TIMED OUT" if r.get("timed_out") else f"{r['total_s']:8.3f} s"
                size = "" if r.get("timed_out") else f"{r['bytes']:>10d} B {r['png_px'] or ''}"
                print(f"{name:26s} {fmt:4s} {shown} {size}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work)
    result = {
        "benchmark": "draw",
        "repeats": args.repeats,
        "timeout_s": args.timeout,
        "command": "python -m benchmarks.bench_draw " + " ".join(argv or sys.argv[1:]),
        "bars_zoo": str(Path(bars_zoo.__file__).parent.parent),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "graphviz": _dot_version(),
        },
        "files": files,
    }
    if args.baseline:
        result["baseline"] = json.loads(args.baseline.read_text("utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "draw.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(args.out / "draw.md", _markdown(result, formats))
    print(f"wrote {args.out / 'draw.json'} and draw.md")


def _dot_version() -> str:
    dot = shutil.which("dot")
    if dot is None:
        return "not installed"
    out = subprocess.run([dot, "-V"], capture_output=True, text=True, check=False)
    return out.stderr.strip()


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if r.get("timed_out"):
        return f"> {r['total_s']:.0f} (killed)"
    return f"{r['total_s']:.3f}"


def _size(r: dict[str, Any] | None) -> str:
    if r is None or r.get("timed_out"):
        return "-"
    px = f" ({r['png_px'][0]}x{r['png_px'][1]} px)" if r.get("png_px") else ""
    return f"{r['bytes'] / 1024:.0f} KiB{px}"


def _markdown(r: dict[str, Any], formats: list[str]) -> str:
    m = r["machine"]
    base = r.get("baseline", {}).get("files", {})
    out = [
        "# draw benchmark: `bars-zoo draw` per zoo genotype and at the DSL's hard bounds",
        "",
        f"`{r['command'].strip()}` with bars_zoo from `{r['bars_zoo']}`; Python {m['python']}, {m['graphviz']}, {m['cpus']} CPUs "
        f"(shared, load average {m['load_average'][0]:.1f}).  Seconds for "
        "`load_genotype` + `drawing_bytes` in a fresh process (imports not counted): the median of "
        f"{r['repeats']} runs for zoo genotypes, one run for generated ones; a run over "
        f"{r['timeout_s']:.0f} s is killed.  `source`, timed apart, is our code alone (read the "
        "file, build the DOT text); the rest of the total is Graphviz.  A PNG is at most 32767 px "
        "high or wide (cairo's limit): Graphviz scales a larger picture down to fit.",
    ]
    if base:
        bm = r["baseline"]["machine"]
        out += [
            "",
            f"In brackets: the baseline, `{r['baseline']['command'].strip()}` with bars_zoo from "
            f"`{r['baseline']['bars_zoo']}` (load average {bm['load_average'][0]:.1f}); its sizes "
            "are in its own table below.",
        ]
    out += ["", *_table(r["files"], formats, base), ""]
    if base:
        out += ["Baseline:", "", *_table(base, formats, {}), ""]
    return "\n".join(out)


def _table(files: dict[str, Any], formats: list[str], base: dict[str, Any]) -> list[str]:
    then = " (before)" if base else ""
    out = [
        "| genotype | cells | edges | layout lines | source s | "
        + " | ".join(f"{f} s{then} | {f} size" for f in formats)
        + " |",
        "|---|---:|---:|---:|---:|" + "---:|---:|" * len(formats),
    ]
    for name, t in files.items():
        source = next((t[f]["source_s"] for f in formats if "source_s" in t.get(f, {})), None)
        cells = []
        for f in formats:
            old = f" ({_cell(base[name].get(f))})" if name in base else ""
            cells.append(f"{_cell(t.get(f))}{old} | {_size(t.get(f))}")
        out.append(
            f"| {name}{' (generated)' if t['generated'] else ''} | {t['cells']} | {t['edges']} | "
            f"{t['layout']} | {'-' if source is None else f'{source:.3f}'} | "
            + " | ".join(cells)
            + " |"
        )
    return out


if __name__ == "__main__":
    main()
