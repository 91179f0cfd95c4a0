"""Search plots like BARS Fig. 5: distributions over epochs, shortcut probability, expected OPs.

Drawn from the per-epoch history (``log.jsonl`` records) with matplotlib's Agg backend, written as
PNG files into the run directory:

* ``distributions.png`` - per cell type the mean probability of every edge op, per stage the width
  and depth distributions, against the epoch;
* ``shortcut.png`` - the mean probability of ``shortcut`` per cell type (Fig. 5, right);
* ``ops.png`` - expected OPs of the distributions and OPs of the most likely network against the budget.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from bars_zoo._io import atomic_write_bytes

# the files write_plots makes in the run directory (shortcut.png only when the space has shortcuts)
DISTRIBUTIONS, SHORTCUT, OPS = "distributions.png", "shortcut.png", "ops.png"
PLOT_FILES = (DISTRIBUTIONS, SHORTCUT, OPS)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:  # every plot runs over epochs: whole numbers on the x axis
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def write_plots(history: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write the three PNGs for ``history`` into ``out_dir``; returns their paths."""
    if not history:
        return []
    plt = _pyplot()
    # one epoch is one point per series: a line through it would draw nothing
    with plt.rc_context({"lines.marker": "o" if len(history) == 1 else "None"}):
        return _draw(plt, history, out_dir)


def _draw(plt: Any, history: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    epochs = [r["epoch"] + 1 for r in history]
    last = history[-1]["dist"]
    ops_names = history[-1]["edge_ops"]
    ctypes = list(last["edges"])
    stages = list(last["width"])
    paths = []

    ncols = max(len(ctypes), len(stages))
    fig, axes = plt.subplots(
        3, ncols, figsize=(3.2 * ncols, 8.5), squeeze=False, layout="constrained"
    )
    for i, ct in enumerate(ctypes):
        ax = axes[0][i]
        for o, name in enumerate(ops_names):
            ys = [_mean_op(r["dist"]["edges"][ct], o) for r in history]
            ax.plot(epochs, ys, label=name)
        ax.set_title(f"{ct}: mean op probability", fontsize=9)
        ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=7)
    for row, key, labels in (
        (1, "width", history[-1]["width_ratios"]),
        (2, "depth", history[-1]["depth_choices"]),
    ):
        for i, st in enumerate(stages):
            ax = axes[row][i]
            for c, lab in enumerate(labels):
                ax.plot(epochs, [r["dist"][key][st][c] for r in history], label=str(lab))
            ax.set_title(f"{st}: {key}", fontsize=9)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=7, title="ratio" if key == "width" else "optional cells")
    for r, row in enumerate(axes):
        for ax in row[len(ctypes) if r == 0 else len(stages) :]:
            ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    fig.suptitle("BARS search: architecture distributions")
    paths.append(out_dir / DISTRIBUTIONS)
    _save(fig, paths[-1])
    plt.close(fig)

    if "shortcut" in ops_names:
        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
        o = ops_names.index("shortcut")
        for ct in ctypes:
            ax.plot(epochs, [_mean_op(r["dist"]["edges"][ct], o) for r in history], label=ct)
        ax.set_xlabel("epoch")
        ax.set_ylabel("P(shortcut), mean over edges")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        paths.append(out_dir / SHORTCUT)
        _save(fig, paths[-1])
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    ax.plot(epochs, [r["expected_ops"] / 1e6 for r in history], label="expected OPs")
    ax.plot(epochs, [r["argmax_ops"] / 1e6 for r in history], "--", label="most likely network")
    budget = history[-1].get("budget_ops")
    if budget:
        ax.axhline(budget / 1e6, color="k", lw=0.8, ls=":", label="budget")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MOPs (FLOPs + BOPs/64)")
    ax.legend(fontsize=8)
    paths.append(out_dir / OPS)
    _save(fig, paths[-1])
    plt.close(fig)
    return paths


def _mean_op(edges: dict[str, list[float]], o: int) -> float:
    return sum(p[o] for p in edges.values()) / max(len(edges), 1)


__all__ = ["DISTRIBUTIONS", "OPS", "PLOT_FILES", "SHORTCUT", "write_plots"]
