"""What ``log.jsonl`` records about the architecture after each epoch, and the epoch's log line.

Every distribution (each edge of each cell type, each stage's width and depth), their entropy,
the exact expected complexity, the OPs of the most likely network and the budgets: what the
plots (:mod:`bars_zoo.search.plots`) draw and what ``scripts/derive_bias.py`` reads back.
"""

from __future__ import annotations

from typing import Any

import torch

from bars_zoo.complexity import count
from bars_zoo.search.config import SearchConfig, format_size
from bars_zoo.search.space import SearchSpace, node_name
from bars_zoo.search.strategy import ArchParams


def arch_record(space: SearchSpace, arch: ArchParams) -> dict[str, Any]:
    """Distributions, entropy and complexity of the current alphas (for the log and plots)."""
    sp, cfg = space, space.config
    with torch.no_grad():
        edge_p, width_p, depth_p = (p.float().cpu() for p in arch.probs())
        exp = sp.expected_complexity(edge_p.double(), width_p.double(), depth_p.double())
        ent = float(arch.entropy())
    best = sp.argmax_choice(edge_p, width_p, depth_p)
    labels = [f"{node_name(k)}<-{node_name(j)}" for k, j in sp.edges]
    stages = [f"s{s + 1}" for s in range(sp.num_stages)]
    r4 = lambda xs: [round(float(x), 4) for x in xs]  # noqa: E731
    sc = cfg.edge_ops.index("shortcut") if "shortcut" in cfg.edge_ops else None
    return {
        "entropy": ent,
        "expected_ops": float(exp["ops"]),
        "expected_bops": float(exp["bops"]),
        "expected_flops": float(exp["flops"]),
        "expected_binary_params": float(exp["binary_params"]),
        "argmax_ops": count(sp.to_spec(best, name="argmax")).ops,
        "budget_ops": cfg.budget_ops,
        "budget_params": cfg.budget_params,
        "shortcut_prob": {
            t: round(float(edge_p[i, :, sc].mean()), 4) for i, t in enumerate(sp.cell_types)
        }
        if sc is not None
        else {},
        "edge_ops": list(cfg.edge_ops),
        "width_ratios": list(cfg.width_ratios),
        "depth_choices": list(cfg.depth_choices),
        "dist": {
            "edges": {
                t: {lab: r4(edge_p[i, e]) for e, lab in enumerate(labels)}
                for i, t in enumerate(sp.cell_types)
            },
            "width": {st: r4(width_p[s]) for s, st in enumerate(stages)},
            "depth": {st: r4(depth_p[s]) for s, st in enumerate(stages)},
        },
    }


def epoch_summary(r: dict[str, Any], cfg: SearchConfig) -> str:
    """The one line an epoch logs."""
    val = "" if r["val_loss"] is None else f" val {r['val_loss']:.3f}/{r['val_acc']:.3f}"
    return (
        f"epoch {r['epoch'] + 1}/{cfg.epochs} [{r['phase']}] train {r['train_loss']:.3f}/"
        f"{r['train_acc']:.3f}{val} tau {r['temperature']:.3f} lambda {r['entropy_weight']:+.4f} "
        f"E[OPs] {format_size(r['expected_ops'])} argmax {format_size(r['argmax_ops'])} "
        f"({r['seconds']:.1f}s)"
    )


__all__ = ["arch_record", "epoch_summary"]
