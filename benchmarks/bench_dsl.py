"""Parse, validate and format time of every zoo genotype, torch never imported.

    .venv/bin/python -m benchmarks.bench_dsl                  # every genotypes/*.geno
    .venv/bin/python -m benchmarks.bench_dsl --repeats 500

Per file, the median over ``--repeats`` runs (after warm-up; the 10th and 90th percentiles are kept
in the JSON because the CPU is shared) of:

* ``parse``: decode + cut into statements + LALR parse of each (``_source.scan``, ``_syntax``);
* ``validate``: statements -> ``NetworkSpec`` with the local checks, then ``check_spec``
  (``_assemble``: pass 1 and pass 2);
* ``format``: ``format(spec, comments=...)`` (the canonical printer, comments included);
* ``total``: ``check(text)`` + ``format`` as the public API does it (``bars-zoo fmt`` minus I/O).

One-off costs are measured in a fresh interpreter: ``import bars_zoo.dsl`` and building the LALR
parser (first ``check``).  A few hostile 256 KiB inputs show the worst case of the hard bounds.
Results: ``benchmarks/results/dsl.json`` and ``dsl.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bars_zoo._io import atomic_write_text
from bars_zoo._resources import resource_dir
from bars_zoo.dsl import check, format
from bars_zoo.dsl._assemble import Assembler
from bars_zoo.dsl._source import decode, scan
from bars_zoo.dsl._syntax import Stmt, parse_chunk
from bars_zoo.spec import Limits

RESULTS = Path(__file__).resolve().parent / "results"


def _times(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and 10th/90th percentiles, in milliseconds."""
    for _ in range(max(3, repeats // 20)):
        fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(runs, n=10)
    return {
        "median_ms": statistics.median(runs),
        "min_ms": min(runs),
        "p10_ms": q[0],
        "p90_ms": q[-1],
    }


def _phases(text: str) -> dict[str, Callable[[], object]]:
    def parse() -> list[tuple[Any, Any]]:
        src = scan(decode(text, "f.geno"), "f.geno")
        return [(c, parse_chunk(src, c)) for c in src.chunks]

    src = scan(decode(text, "f.geno"), "f.geno")
    parsed = [(c, s if isinstance(s, Stmt) else None) for c, s in parse()]

    def validate() -> object:
        asm = Assembler(src)
        asm.run(parsed)
        return asm.cross_check()

    doc = check(text)
    assert doc.ok, [d.render() for d in doc.errors]
    spec, comments = doc.spec, doc.comments
    assert spec is not None

    def total() -> str:
        d = check(text)
        assert d.spec is not None
        return format(d.spec, comments=d.comments)

    return {
        "parse": parse,
        "validate": validate,
        "format": lambda: format(spec, comments=comments),
        "total": total,
    }


def _one_off(path: Path) -> dict[str, float]:
    code = (
        "import time, sys\n"
        "t0 = time.perf_counter()\n"
        "import bars_zoo.dsl as d\n"
        "t1 = time.perf_counter()\n"
        f"d.check(open({str(path)!r}).read())\n"
        "t2 = time.perf_counter()\n"
        "print((t1 - t0) * 1e3, (t2 - t1) * 1e3, 'torch' in sys.modules)\n"
    )
    runs = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        imp, first, torch_loaded = out.stdout.split()
        assert torch_loaded == "False"
        runs.append((float(imp), float(first)))
    return {
        "import_ms": statistics.median(r[0] for r in runs),
        "first_check_ms": statistics.median(r[1] for r in runs),
    }


def _hostile() -> dict[str, str]:
    head = 'bars 1\nname "x"\ninput 3x32x32 classes=10\nstem conv3x3 channels=8\n'
    m = Limits.MAX_FILE_BYTES
    return {
        "256 KiB of random bytes": os.urandom(m - 1).decode("latin-1"),
        "131k one-word lines": "x\n" * (m // 2 - 1),
        "one 256 KiB line of options": head + "meta " + " ".join(f"k{i}=1" for i in range(28_000)),
        "a 16k-line cell": head + "cell c {\n" + "  n1 <- in: bconv3x3\n" * ((m - 200) // 21),
        "a 200k-digit number": head + f"stage s: channels={'9' * 200_000} depth=1 cell=c\n",
        "400 one-line cells": head
        + "".join(
            f"cell c{i} stride=1 preprocess=bconv3x3 shortcut=identity {{ n1 <- in: bconv3x3 }}\n"
            for i in range(400)
        ),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    paths = sorted(resource_dir("genotypes").glob("*.geno"))
    files: dict[str, Any] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        files[path.stem] = {
            "bytes": len(text.encode("utf-8")),
            "lines": text.count("\n"),
            **{k: _times(fn, args.repeats) for k, fn in _phases(text).items()},
        }
        t = files[path.stem]
        print(
            f"{path.stem:28s} parse {t['parse']['median_ms']:6.3f}  validate "
            f"{t['validate']['median_ms']:6.3f}  format {t['format']['median_ms']:6.3f}  "
            f"total {t['total']['median_ms']:6.3f} ms"
        )
    hostile = {}
    for name, text in _hostile().items():
        hostile[name] = {
            **_times(lambda t=text: check(t), 5),
            "codes": sorted({d.code for d in check(text).errors}),
        }
        print(f"hostile: {name:30s} {hostile[name]['median_ms']:8.1f} ms  {hostile[name]['codes']}")
    one_off = _one_off(paths[0])
    assert "torch" not in sys.modules
    result = {
        "benchmark": "dsl",
        "repeats": args.repeats,
        "torch_imported": "torch" in sys.modules,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "one_off": one_off,
        "files": files,
        "hostile": hostile,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "dsl.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(args.out / "dsl.md", _markdown(result))
    print(f"wrote {args.out / 'dsl.json'} and dsl.md")


def _markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [
        "# DSL benchmark: parse + validate + format per zoo genotype",
        "",
        f"`python -m benchmarks.bench_dsl --repeats {r['repeats']}`; Python {m['python']}, "
        f"{m['cpus']} CPUs (shared, load average {m['load_average'][0]:.1f}); torch imported: "
        f"{r['torch_imported']}.  Median ms of {r['repeats']} runs (10th-90th percentile in the JSON); "
        "the best run shows the cost without the other tenants of the machine.",
        "",
        "| genotype | bytes | parse | validate | format | total (check + format) | total, best run |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in r["files"].items():
        out.append(
            f"| {name} | {t['bytes']} | {t['parse']['median_ms']:.3f} | "
            f"{t['validate']['median_ms']:.3f} | {t['format']['median_ms']:.3f} | "
            f"{t['total']['median_ms']:.3f} | {t['total']['min_ms']:.3f} |"
        )
    o = r["one_off"]
    out += [
        "",
        f"One-off, in a fresh interpreter: `import bars_zoo.dsl` {o['import_ms']:.0f} ms, first "
        f"`check` (builds the LALR parser) {o['first_check_ms']:.0f} ms.",
        "",
        "Hostile inputs of up to 256 KiB (median of 5 runs; each is rejected with clean diagnostics, the "
        "bound that stops it first being `too-large`):",
        "",
        "| input | ms | diagnostics |",
        "|---|---:|---|",
    ]
    for name, h in r["hostile"].items():
        out.append(f"| {name} | {h['median_ms']:.1f} | {', '.join(h['codes'])} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
