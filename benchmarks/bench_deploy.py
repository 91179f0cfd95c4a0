"""Packed XNOR-popcount inference (``bars_zoo.deploy``) vs the emulated model vs a float32 twin.

    .venv/bin/python -m benchmarks.bench_deploy                      # the three models below
    .venv/bin/python -m benchmarks.bench_deploy --models bars-b --repeats 5

Models: ``bars-fmnist-m``, ``bars-b``, ``xnor-resnet18-cifar10`` (a genotype that is not in the zoo yet
is replaced by ``xnor-resnet18-fmnist`` or ``example`` and the results say so).  Weights are random
(speed and memory do not depend on them); batch-norm statistics are randomised so no layer is
degenerate.  Three networks of each architecture:

* ``deployed``: ``bars_zoo.deploy(model)`` (packed words, compiled kernel);
* ``emulated``: the ``BarsNet`` in eval mode (float ``conv2d`` of ``+-1`` / ``+-beta``);
* ``float32``: the same network with every ``BinaryConv2d`` replaced by ``nn.Conv2d`` (same shape,
  zero padding, no sign) - what the binary model competes with.

Everything runs with ``torch.set_num_threads(2)`` and again with 1 thread (``--threads``).
Measured (median of ``--repeats`` runs after a warm-up; the 25th/75th percentiles are kept in the
JSON because the CPU is shared): end-to-end latency at batch 1 and throughput at batch 64; per binary
layer, the packed layer (activation packing + XNOR-popcount + BN epilogue) vs ``F.conv2d`` of the same
shape in float32 vs the emulated ``BinaryConv2d``; weight memory; peak activation memory (the
largest total size of live tensors created during one forward, tracked with a dispatch mode: kernel
workspaces inside an operator are not seen).  Results: ``benchmarks/results/deploy.json`` / ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import bars_zoo
from bars_zoo import kernels
from bars_zoo._io import atomic_write_text
from bars_zoo._resources import resource_dir
from bars_zoo.binary import BinaryConv2d
from bars_zoo.deploy import PackedConvBN, deploy

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("bars-fmnist-m", "bars-b", "xnor-resnet18-cifar10")
SUBSTITUTES = ("xnor-resnet18-fmnist", "example")


def resolve(name: str) -> tuple[str, str | None]:
    folder = resource_dir("genotypes")
    if (folder / f"{name}.geno").is_file():
        return name, None
    for sub in SUBSTITUTES:
        if (folder / f"{sub}.geno").is_file():
            return sub, f"genotypes/{name}.geno not found: measured {sub} instead"
    raise SystemExit(f"no genotype for {name}")


def randomised(spec: bars_zoo.NetworkSpec) -> nn.Module:
    torch.manual_seed(0)
    model = bars_zoo.build(spec)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.2, 2.0)
                m.weight.normal_(1, 0.5)
                m.bias.normal_(0, 0.3)
    return model.eval()


def float_twin(model: nn.Module) -> nn.Module:
    """The model with each BinaryConv2d replaced by a float32 nn.Conv2d of the same shape."""
    import copy

    twin = copy.deepcopy(model)
    for name, m in list(twin.named_modules()):
        if isinstance(m, BinaryConv2d):
            conv = nn.Conv2d(
                m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=False
            )
            conv.weight.data.copy_(m.weight.data)
            parent_name, _, child = name.rpartition(".")
            setattr(twin.get_submodule(parent_name) if parent_name else twin, child, conv)
    return twin.eval()


def _calls(fn: Callable[[], object], min_time: float) -> int:
    """How many calls make one sample of at least ``min_time`` seconds (at most 50)."""
    fn()  # warm-up (oneDNN primitive creation, first touch of buffers)
    t = time.perf_counter()
    fn()
    return max(1, min(50, int(min_time / max(time.perf_counter() - t, 1e-6))))


def _summary(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else samples * 3
    return {"median": statistics.median(samples), "p25": q[0], "p75": q[2], "min": min(samples)}


def compare(
    fns: dict[str, Callable[[], object]], repeats: int, min_time: float = 0.05
) -> dict[str, dict[str, float]]:
    """Seconds per call of each function: ``repeats`` samples taken round-robin (A B C A B C ...)
    so that all see the same background load; plus ``ratio_<a>/<b>`` medians of per-round ratios.
    """
    inner = {k: _calls(f, min_time) for k, f in fns.items()}
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(inner[k]):
                f()
            samples[k].append((time.perf_counter() - t) / inner[k])
    out = {k: _summary(v) for k, v in samples.items()}
    first = next(iter(fns))
    for k in list(fns)[1:]:
        ratios = [a / b for a, b in zip(samples[k], samples[first], strict=True)]
        out[f"ratio_{k}/{first}"] = _summary(ratios)
    return out


class LiveBytes(TorchDispatchMode):
    """Peak total bytes of the storages created by operators while active (activations)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}
        self.current = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in self.live:
            self.live[ptr][1] += 1
        else:
            self.live[ptr] = [storage.nbytes(), 1]
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
        weakref.finalize(t, self._release, ptr)

    def _release(self, ptr: int) -> None:
        entry = self.live.get(ptr)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[ptr]


def peak_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), LiveBytes() as mode:
        model(x)
    return mode.peak


def layer_shapes(model: nn.Module, x: torch.Tensor) -> list[dict[str, int]]:
    """Distinct (c_in, c_out, k, stride, h, w) of the binary convs, in network order, with counts."""
    seen: dict[tuple[int, ...], dict[str, int]] = {}

    def hook(mod: BinaryConv2d, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        h, w = args[0].shape[2:]
        key = (mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, h, w)
        if key in seen:
            seen[key]["count"] += 1
        else:
            names = ("c_in", "c_out", "k", "stride", "h", "w")
            seen[key] = {**dict(zip(names, key, strict=True)), "count": 1}

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, BinaryConv2d)]
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    return list(seen.values())


def bench_layer(s: dict[str, int], batch: int, repeats: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, s["c_in"], s["h"], s["w"], generator=gen)
    conv = BinaryConv2d(s["c_in"], s["c_out"], s["k"], s["stride"]).eval()
    bn = nn.BatchNorm2d(s["c_out"]).eval()
    packed = PackedConvBN(conv, bn)
    weight = conv.weight.detach().clone()
    pad, stride = s["k"] // 2, s["stride"]
    ops = torch.ops.bars_zoo
    with torch.no_grad():
        xp = ops.pack_signs(x)
        t = compare(
            {
                "packed": lambda: packed(ops.pack_signs(x), None),
                "float32": lambda: F.conv2d(x, weight, stride=stride, padding=pad),
                "emulated": lambda: bn(conv(x)),
                "kernel_only": lambda: packed(xp, None),
            },
            repeats * 3 if batch == 1 else repeats,  # small calls: more samples, same cost
        )
    return {
        **s,
        "batch": batch,
        "float32_conv2d_s": t["float32"],
        "packed_s": t["packed"],
        "packed_without_packing_s": t["kernel_only"],
        "emulated_s": t["emulated"],
        "speedup_vs_float32": t["ratio_float32/packed"]["median"],
        "speedup_vs_emulated": t["ratio_emulated/packed"]["median"],
        "speedup_vs_float32_of_minima": t["float32"]["min"] / t["packed"]["min"],
    }


def bench_model(name: str, repeats: int, layers: bool) -> dict[str, Any]:
    measured, note = resolve(name)
    spec = bars_zoo.load_genotype(measured)
    model = randomised(spec)
    nets = {"deployed": deploy(model), "emulated": model, "float32": float_twin(model)}
    gen = torch.Generator().manual_seed(1)
    x64 = torch.randn(64, *spec.input_shape, generator=gen)
    x1 = x64[:1].clone()
    out: dict[str, Any] = {"requested": name, "measured": measured, "note": note}
    with torch.no_grad():
        lat = compare({k: (lambda n=n: n(x1)) for k, n in nets.items()}, repeats * 3)
        thr = compare({k: (lambda n=n: n(x64)) for k, n in nets.items()}, max(3, repeats // 2), 0)
        for label, net in nets.items():
            out[label] = {
                "latency_b1_s": lat[label],
                "batch64_s": thr[label],
                "throughput_b64_img_s": 64 / thr[label]["median"],
                "peak_activation_bytes_b64": peak_activation_bytes(net, x64),
            }
        for label in ("emulated", "float32"):
            out[f"e2e_speedup_vs_{label}_b1"] = lat[f"ratio_{label}/deployed"]["median"]
            out[f"e2e_speedup_vs_{label}_b64"] = thr[f"ratio_{label}/deployed"]["median"]
            for b, t in (("b1", lat), ("b64", thr)):
                out[f"e2e_speedup_vs_{label}_{b}_of_minima"] = (
                    t[label]["min"] / t["deployed"]["min"]
                )
        want, got = model(x64), nets["deployed"](x64)
    out["logits_max_abs_diff_vs_emulated"] = float((want - got).abs().max())
    out["same_argmax_vs_emulated"] = float((want.argmax(1) == got.argmax(1)).float().mean())
    mem = nets["deployed"].packed_bytes()
    fp_twin = sum(p.numel() * 4 for p in nets["float32"].parameters())
    out["weights"] = {**mem, "float32_twin_params_bytes": fp_twin}
    if layers:
        shapes = layer_shapes(model, x64)
        out["layers"] = [bench_layer(s, b, repeats) for s in shapes for b in (1, 64)]
    return out


def ms(t: dict[str, float]) -> str:
    return f"{t['median'] * 1e3:.2f}"


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Packed 1-bit inference (bench_deploy)",
        "",
        f"Machine: {res['machine']}, torch {res['torch']}, kernel `{res['backend']}`, "
        f"{res['repeats']} repeats taken round-robin across the compared networks/ops (medians; "
        "speedups are medians of per-round ratios, and ratios of the minima in brackets; "
        "p25/p75/min in deploy.json).",
        "",
        "The CPU is shared with other engineers' jobs. With 2 threads, an OpenMP parallel region "
        "ends only when both threads ran, so whenever another process holds the second core an "
        "operator waits for a scheduler time slice (the 4 / 8 / 16 ms steps in the tables); the "
        "network with more, smaller operators suffers more. The 1-thread run does not have this "
        "effect and is the steadier comparison; both are reported.",
    ]
    for run in res["runs"]:
        lines += section(run)
    return "\n".join(lines)


def section(res: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## {res['threads']} thread(s) (load average at start / end: {res['load_before']} / "
        f"{res['load_after']})",
        "",
        "### End to end",
        "",
        "| model | net | latency b=1 (ms) | batch 64 (ms) | img/s b=64 | peak activations b=64 (MiB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for m in res["models"]:
        for label in ("deployed", "emulated", "float32"):
            r = m[label]
            lines.append(
                f"| {m['measured']} | {label} | {ms(r['latency_b1_s'])} | {ms(r['batch64_s'])} | "
                f"{r['throughput_b64_img_s']:.0f} | {r['peak_activation_bytes_b64'] / 2**20:.1f} |"
            )
    lines += ["", "| model | speedup vs float32 b=1 / b=64 (of minima) | vs emulated b=1 / b=64 | "
              "binary weights packed / float32 (KiB) | ratio | max abs logit diff vs emulated |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for m in res["models"]:
        w = m["weights"]
        lines.append(
            f"| {m['measured']} | {m['e2e_speedup_vs_float32_b1']:.1f}x / "
            f"{m['e2e_speedup_vs_float32_b64']:.1f}x "
            f"({m['e2e_speedup_vs_float32_b1_of_minima']:.1f}x / "
            f"{m['e2e_speedup_vs_float32_b64_of_minima']:.1f}x) | "
            f"{m['e2e_speedup_vs_emulated_b1']:.1f}x / "
            f"{m['e2e_speedup_vs_emulated_b64']:.1f}x | {w['binary_packed'] / 1024:.1f} / "
            f"{w['binary_as_float32'] / 1024:.1f} | "
            f"{w['binary_as_float32'] / w['binary_packed']:.1f}x | "
            f"{m['logits_max_abs_diff_vs_emulated']:.2g} |"
        )
    notes = [m["note"] for m in res["models"] if m["note"]]
    lines += [""] + [f"Note: {n}." for n in notes]
    if any(m.get("layers") for m in res["models"]):
        lines += [
            "",
            "### Per binary layer (distinct shapes; packed = packing + XNOR-popcount + BN)",
            "",
        ]
        lines += [
            "| model | c_in -> c_out | k/s | HxW | n | batch | float32 conv2d (ms) | packed (ms) | "
            "kernel only (ms) | emulated (ms) | speedup vs float32 (median of ratios / of minima) |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in res["models"]:
            for r in m.get("layers", []):
                lines.append(
                    f"| {m['measured']} | {r['c_in']} -> {r['c_out']} | {r['k']}/{r['stride']} | "
                    f"{r['h']}x{r['w']} | {r['count']} | {r['batch']} | {ms(r['float32_conv2d_s'])} | "
                    f"{ms(r['packed_s'])} | {ms(r['packed_without_packing_s'])} | "
                    f"{ms(r['emulated_s'])} | {r['speedup_vs_float32']:.1f}x / "
                    f"{r['speedup_vs_float32_of_minima']:.1f}x |"
                )
    t = res["targets"]
    lines += [
        "",
        f"### Targets (issue 7), {res['threads']} thread(s)",
        "",
        f"- per binary layer with c_in >= 64, >= 3x faster than float32 conv2d: "
        f"{t['layers_ge_3x']} of {t['layers_total']} (layer, batch) rows by the median of ratios, "
        f"{t['layers_ge_3x_of_minima']} by the ratio of minima; slowest (median) "
        f"{t['slowest_layer_speedup']:.1f}x ({t['slowest_layer']})",
        f"- end to end >= 2x faster than the float32 twin: {t['e2e_ge_2x']} of {t['e2e_total']} "
        f"(model, batch) pairs by the median of ratios, {t['e2e_ge_2x_of_minima']} by the ratio of "
        f"minima; slowest (median) {t['slowest_e2e_speedup']:.1f}x ({t['slowest_e2e']})",
        f"- binary weights 1/32 of float32 plus word padding: packed/float32 ratios "
        f"{', '.join(f'{r:.1f}x' for r in t['weight_ratios'])} (32x exactly when c_in is a "
        "multiple of 64 and c_out of 8)",
    ]
    return lines


def targets(models: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [(m["measured"], r) for m in models for r in m.get("layers", []) if r["c_in"] >= 64]
    worst = min(rows, key=lambda mr: mr[1]["speedup_vs_float32"], default=None)
    pairs = [(m, b) for m in models for b in ("b1", "b64")]
    worst_e2e = min(pairs, key=lambda mb: mb[0][f"e2e_speedup_vs_float32_{mb[1]}"])
    return {
        "layers_total": len(rows),
        "layers_ge_3x": sum(r["speedup_vs_float32"] >= 3 for _, r in rows),
        "layers_ge_3x_of_minima": sum(r["speedup_vs_float32_of_minima"] >= 3 for _, r in rows),
        "slowest_layer_speedup": worst[1]["speedup_vs_float32"] if worst else float("nan"),
        "slowest_layer": (
            f"{worst[0]} {worst[1]['c_in']}->{worst[1]['c_out']} k{worst[1]['k']} "
            f"s{worst[1]['stride']} {worst[1]['h']}x{worst[1]['w']} batch {worst[1]['batch']}"
            if worst
            else "-"
        ),
        "e2e_total": len(pairs),
        "e2e_ge_2x": sum(m[f"e2e_speedup_vs_float32_{b}"] >= 2 for m, b in pairs),
        "e2e_ge_2x_of_minima": sum(
            m[f"e2e_speedup_vs_float32_{b}_of_minima"] >= 2 for m, b in pairs
        ),
        "slowest_e2e_speedup": worst_e2e[0][f"e2e_speedup_vs_float32_{worst_e2e[1]}"],
        "slowest_e2e": f"{worst_e2e[0]['measured']} {worst_e2e[1]}",
        "weight_ratios": [
            m["weights"]["binary_as_float32"] / m["weights"]["binary_packed"] for m in models
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-layers", action="store_true", help="end to end only")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="thread counts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    backend = kernels.load()
    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        load_before = round(os.getloadavg()[0], 1)
        models = [bench_model(n, args.repeats, not args.no_layers) for n in args.models]
        run = {
            "threads": torch.get_num_threads(),
            "load_before": load_before,
            "load_after": round(os.getloadavg()[0], 1),
            "models": models,
        }
        run["targets"] = targets(models)
        runs.append(run)
    res = {
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "backend": backend,
        "repeats": args.repeats,
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "deploy.json", json.dumps(res, indent=2) + "\n")
    atomic_write_text(args.out / "deploy.md", markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
