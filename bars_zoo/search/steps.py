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

from bars_zoo.devices import to_device_at_once
from bars_zoo.graphstep import GraphedStep, make_capturable
from bars_zoo.search.config import SearchConfig
from bars_zoo.search.strategy import ArchParams, arch_loss, entropy_weight
from bars_zoo.search.supernet import Supernet


class SearchSteps:
    """The supernet, the alphas, their optimisers, the Gumbel generator and the autocast policy.

    ``cuda_graph``: capture each kind of step once as a CUDA graph and replay it
    (:mod:`bars_zoo.graphstep`).  The supernet's step is thousands of small kernels, so on a GPU
    it is bound by their launches; a replay removes that.  The Gumbel noise is still drawn on the
    CPU from the same generator and copied in, so the trajectory is the eager one.
    """

    def __init__(
        self,
        cfg: SearchConfig,
        net: Supernet,
        arch: ArchParams,
        gumbel: torch.Generator,
        autocast: Callable[[], Any],
        *,
        cuda_graph: bool = False,
    ) -> None:
        self.cfg, self.net, self.arch, self.gumbel, self.autocast = cfg, net, arch, gumbel, autocast
        self.cuda_graph = cuda_graph
        self.weights = list(net.parameters())
        self.w_opt = torch.optim.Adam(self.weights, lr=cfg.weight_lr, weight_decay=cfg.weight_decay)
        self.a_opt = torch.optim.Adam(
            arch.parameters(), lr=cfg.arch_lr, weight_decay=cfg.arch_weight_decay
        )
        self._w_graph: GraphedStep | None = None
        self._a_graph: GraphedStep | None = None

    def set_lr(self, lr: float) -> None:
        for group in self.w_opt.param_groups:
            group["lr"] = lr
        if self._w_graph is not None:
            self._w_graph.refresh_lr()

    def _graphs(self) -> tuple[GraphedStep, GraphedStep]:
        """The two graphed steps, made on first use (after a resume has loaded the optimisers)."""
        if self._w_graph is None or self._a_graph is None:
            device = next(self.net.parameters()).device
            make_capturable(self.w_opt, device)
            make_capturable(self.a_opt, device)
            self._w_graph = GraphedStep(
                self._weights, self.w_opt, name="search weights step", device=device
            )
            self._a_graph = GraphedStep(
                self._arch, self.a_opt, name="search alpha step", device=device
            )
        return self._w_graph, self._a_graph

    def graph_status(self) -> dict[str, str] | None:
        """Whether each step runs as a CUDA graph (``None`` without ``cuda_graph``), for the log."""
        if not self.cuda_graph:
            return None
        graphs = {"weights": self._w_graph, "alpha": self._a_graph}
        return {k: "pending" if g is None else g.status for k, g in graphs.items()}

    def _noise(self) -> tuple[Tensor, Tensor, Tensor]:
        """The step's Gumbel noise (edge, width, depth), drawn on the CPU from the run's generator
        and put on the device with one non-blocking copy (:func:`to_device_at_once`)."""
        dev = next(self.net.parameters()).device
        ne, nw, nd = to_device_at_once(self.arch.noise(self.gumbel), dev)
        return ne, nw, nd

    def _device_inputs(self, tau: float, *extra: float) -> tuple[Tensor, ...]:
        """The step's noise and 0-d schedule values as device tensors (graph inputs)."""
        dev = next(self.net.parameters()).device
        scalars = tuple(torch.full((), v, device=dev) for v in (tau, *extra))
        return (*self._noise(), *scalars)

    def weights_step(self, x: Tensor, y: Tensor, tau: float) -> tuple[Tensor, Tensor]:
        """One Adam step of the supernet weights; returns (cross-entropy, accuracy)."""
        if self.cuda_graph:
            out = self._graphs()[0](x, y, *self._device_inputs(tau))
        else:
            self.w_opt.zero_grad(set_to_none=True)
            out = self._weights(x, y, *self._noise(), tau)
        return out[0], out[1]

    def _weights(
        self, x: Tensor, y: Tensor, ne: Tensor, nw: Tensor, nd: Tensor, tau: float | Tensor
    ) -> Tensor:
        sample = self.arch.sample_from(tau, (ne, nw, nd), detach=True)
        with self.autocast():
            logits = self.net(x, sample)
        loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        if self.cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.weights, self.cfg.grad_clip)
        self.w_opt.step()
        acc = (logits.detach().argmax(1) == y).float().mean()
        return torch.stack([loss.detach(), acc])

    def arch_step(
        self, x: Tensor, y: Tensor, tau: float, epoch: int
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """One Adam step of the alphas (weights frozen); returns (cross-entropy, accuracy, parts)."""
        for p in self.weights:
            p.requires_grad_(False)
        try:
            if self.cuda_graph:
                lam = entropy_weight(self.cfg, epoch)
                out = self._graphs()[1](x, y, *self._device_inputs(tau, lam))
            else:
                self.a_opt.zero_grad(set_to_none=True)
                out = self._arch(x, y, *self._noise(), tau, None, epoch)
        finally:
            for p in self.weights:
                p.requires_grad_(True)
        return out[0], out[1], {"factor": out[2], "entropy": out[3]}

    def _arch(
        self,
        x: Tensor,
        y: Tensor,
        ne: Tensor,
        nw: Tensor,
        nd: Tensor,
        tau: float | Tensor,
        lam: Tensor | None,
        epoch: int = 0,
    ) -> Tensor:
        sample = self.arch.sample_from(tau, (ne, nw, nd))
        with self.autocast():
            logits = self.net(x, sample)
        ce = F.cross_entropy(logits.float(), y)
        loss, parts = arch_loss(self.cfg, ce, self.arch, epoch, lam=lam)
        loss.backward()
        self.a_opt.step()
        acc = (logits.detach().argmax(1) == y).float().mean()
        return torch.stack([ce.detach(), acc, parts["factor"].float(), parts["entropy"].float()])


__all__ = ["SearchSteps"]
