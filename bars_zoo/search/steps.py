"""One optimisation step of each kind: a weights step and an architecture (alpha) step.

First-order DARTS alternation (Liu et al., "DARTS", ICLR 2019) as BARS uses it (Zhao et al. 2021,
appendix A): the weights step trains the supernet on a batch of half A under a Gumbel-softmax sample
drawn from *detached* alphas; the alpha step freezes the weights and updates the alphas on a batch of
half B with ``CE * (OPs/F)^theta + lambda * H``.  Both return detached device tensors (no host sync),
so the runner and the benchmark share exactly this code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bars_zoo.search.config import SearchConfig
from bars_zoo.search.strategy import ArchParams, arch_loss
from bars_zoo.search.supernet import Supernet


class SearchSteps:
    """The supernet, the alphas, their optimisers, the Gumbel generator and the autocast policy."""

    def __init__(
        self,
        cfg: SearchConfig,
        net: Supernet,
        arch: ArchParams,
        gumbel: torch.Generator,
        autocast: Callable[[], Any],
    ) -> None:
        self.cfg, self.net, self.arch, self.gumbel, self.autocast = cfg, net, arch, gumbel, autocast
        self.weights = list(net.parameters())
        self.w_opt = torch.optim.Adam(self.weights, lr=cfg.weight_lr, weight_decay=cfg.weight_decay)
        self.a_opt = torch.optim.Adam(
            arch.parameters(), lr=cfg.arch_lr, weight_decay=cfg.arch_weight_decay
        )

    def set_lr(self, lr: float) -> None:
        for group in self.w_opt.param_groups:
            group["lr"] = lr

    def weights_step(self, x: Tensor, y: Tensor, tau: float) -> tuple[Tensor, Tensor]:
        """One Adam step of the supernet weights; returns (cross-entropy, accuracy)."""
        sample = self.arch.sample(tau, self.gumbel, detach=True)
        with self.autocast():
            logits = self.net(x, sample)
        loss = F.cross_entropy(logits.float(), y)
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.weights, self.cfg.grad_clip)
        self.w_opt.step()
        return loss.detach(), (logits.detach().argmax(1) == y).float().mean()

    def arch_step(
        self, x: Tensor, y: Tensor, tau: float, epoch: int
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One Adam step of the alphas (weights frozen); returns (cross-entropy, accuracy, parts)."""
        sample = self.arch.sample(tau, self.gumbel)
        for p in self.weights:
            p.requires_grad_(False)
        try:
            with self.autocast():
                logits = self.net(x, sample)
            ce = F.cross_entropy(logits.float(), y)
            loss, parts = arch_loss(self.cfg, ce, self.arch, epoch)
            self.a_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.a_opt.step()
        finally:
            for p in self.weights:
                p.requires_grad_(True)
        return ce.detach(), (logits.detach().argmax(1) == y).float().mean(), parts


__all__ = ["SearchSteps"]
