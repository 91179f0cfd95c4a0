"""The BARS search strategy: architecture parameters, Gumbel-softmax sampling, schedules and losses.

Zhao et al., "BARS" (2021), Sec. 4.3 and appendix A:

* every decision (edge op, stage width, stage depth) is a categorical distribution with logits
  ``alpha``; the forward pass uses a relaxed sample ``m_i = softmax((alpha + g) / tau)_i``, ``g``
  i.i.d. standard Gumbel (Jang et al., "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017);
* temperature ``tau_e = tau_0 * decay^e`` (1.0, 0.9), ``e`` counting the epochs that update the
  alphas (:meth:`SearchConfig.schedule_epoch`: warm-up epochs stand at ``e = 0``);
* entropy regulariser ``lambda_e * H(alpha)`` with ``lambda_e = -0.01 + 0.001 e`` - negative first
  (maximising entropy: exploration), positive later (confident, near one-hot distributions).  ``H`` is
  the *sum* of the entropies of all decisions, so each alpha feels ``lambda * dH_i/dalpha_i``
  whatever the number of decisions;
* complexity-aware loss ``L = L0 * (OPs(alpha) / F)^theta``, ``theta = 0.2`` when ``OPs >= F`` else 0,
  with ``OPs(alpha)`` the exact expected OPs of :meth:`SearchSpace.expected_complexity`;
* weights: Adam, cosine learning rate to ``weight_lr_min``; alphas: Adam with weight decay.

Gumbel noise is drawn on the CPU from an explicit :class:`torch.Generator` (saved in checkpoints), so
every device draws the same noise and a resumed run draws what an uninterrupted one would (its
arithmetic is bitwise reproducible on the CPU; on CUDA cuDNN's backward is not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bars_zoo.search.config import SearchConfig
from bars_zoo.search.space import Choice, SearchSpace

# --------------------------------------------------------------------------- schedules


def temperature(cfg: SearchConfig, epoch: int) -> float:
    """Gumbel-softmax temperature of ``epoch`` (0-based), used by all its steps and logged."""
    return cfg.temperature * cfg.temperature_decay ** cfg.schedule_epoch(epoch)


def entropy_weight(cfg: SearchConfig, epoch: int) -> float:
    """Signed entropy-regularisation weight ``lambda`` of ``epoch``."""
    return cfg.entropy_start + cfg.entropy_step * cfg.schedule_epoch(epoch)


def weight_lr(cfg: SearchConfig, epoch: int) -> float:
    """Cosine-annealed learning rate of the supernet weights (``weight_lr`` at 0 -> ``weight_lr_min``)."""
    lo, hi = cfg.weight_lr_min, cfg.weight_lr
    return lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * epoch / cfg.epochs))


def is_warmup(cfg: SearchConfig, epoch: int) -> bool:
    """Warm-up epochs train the weights only."""
    return epoch < cfg.warmup_epochs


# --------------------------------------------------------------------------- Gumbel


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Standard Gumbel noise ``-log(-log U)`` (float32, CPU), ``U`` uniform in ``(0, 1)``."""
    u = torch.rand(shape, generator=generator).clamp_(1e-10, 1 - 1e-7)
    return -torch.log(-torch.log(u))


def gumbel_softmax(logits: Tensor, tau: float | Tensor, noise: Tensor) -> Tensor:
    """Relaxed one-hot sample ``softmax((logits + noise) / tau)`` over the last dimension (paper Eq. 6)."""
    return torch.softmax((logits + noise.to(logits.device, logits.dtype)) / tau, dim=-1)


def entropy(probs: Tensor) -> Tensor:
    """Sum over decisions of ``-sum_i p_i log p_i`` (the last dimension holds one distribution)."""
    return -(probs * torch.log(probs.clamp_min(1e-20))).sum()


def complexity_factor(
    ops: Tensor, budget: float | None, theta_over: float, theta_under: float
) -> Tensor:
    """``(OPs / F)^theta``: ``theta_over`` at or over the budget, ``theta_under`` below; 1 without one."""
    if budget is None:
        return torch.ones_like(ops)
    ratio = ops / budget
    return torch.where(ratio >= 1, ratio**theta_over, ratio**theta_under)


# --------------------------------------------------------------------------- architecture parameters


@dataclass(frozen=True)
class ArchSample:
    """Weights of one forward pass: ``edge`` (T, E, O), ``width`` (S, R), ``depth`` (S, D).

    ``hard`` is set for one-hot samples of a known architecture; the supernet then skips what the
    architecture does not compute (and yields exactly that architecture's function, up to weights).
    """

    edge: Tensor
    width: Tensor
    depth: Tensor
    hard: Choice | None = None


class ArchParams(nn.Module):
    """The architecture logits: ``edge`` per cell type and edge, ``width`` and ``depth`` per stage."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        cfg = space.config
        t, e, o = len(space.cell_types), len(space.edges), len(cfg.edge_ops)
        s = space.num_stages
        self.space = space
        self.edge = nn.Parameter(torch.zeros(t, e, o))
        self.width = nn.Parameter(torch.zeros(s, len(cfg.width_ratios)))
        self.depth = nn.Parameter(torch.zeros(s, len(cfg.depth_choices)))

    def probs(self) -> tuple[Tensor, Tensor, Tensor]:
        """``softmax(alpha)`` of edges, widths, depths."""
        return (self.edge.softmax(-1), self.width.softmax(-1), self.depth.softmax(-1))

    def sample(self, tau: float, generator: torch.Generator, *, detach: bool = False) -> ArchSample:
        """A relaxed Gumbel-softmax sample of every decision (shared by all cells of a type)."""
        return self.sample_from(tau, self.noise(generator), detach=detach)

    def noise(self, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Gumbel noise for one sample (CPU; edge, width, depth in this order)."""
        e, w, d = (
            gumbel_noise(tuple(a.shape), generator) for a in (self.edge, self.width, self.depth)
        )
        return e, w, d

    def sample_from(
        self, tau: float | Tensor, noise: tuple[Tensor, Tensor, Tensor], *, detach: bool = False
    ) -> ArchSample:
        """:meth:`sample` with given noise and temperature (tensors on the device: capturable)."""
        logits = [p.detach() if detach else p for p in (self.edge, self.width, self.depth)]
        m = [gumbel_softmax(a, tau, n) for a, n in zip(logits, noise, strict=True)]
        return ArchSample(m[0], m[1], m[2])

    def sample_choice(self, generator: torch.Generator) -> Choice:
        """An architecture drawn from the current distributions (Gumbel-max: exact categorical draws)."""
        picks = [
            (a.detach().float().cpu() + gumbel_noise(tuple(a.shape), generator)).argmax(-1)
            for a in (self.edge, self.width, self.depth)
        ]
        return Choice(
            edges=tuple(tuple(int(i) for i in row) for row in picks[0].tolist()),
            width=tuple(int(i) for i in picks[1].tolist()),
            depth=tuple(int(i) for i in picks[2].tolist()),
        )

    def one_hot(self, choice: Choice) -> ArchSample:
        """The hard sample of ``choice`` (on the parameters' device)."""
        dev = self.edge.device

        def oh(idx: tuple[int, ...] | tuple[tuple[int, ...], ...], n: int) -> Tensor:
            return nn.functional.one_hot(torch.tensor(idx), n).float().to(dev)

        return ArchSample(
            oh(choice.edges, self.edge.shape[-1]),
            oh(choice.width, self.width.shape[-1]),
            oh(choice.depth, self.depth.shape[-1]),
            hard=choice,
        )

    def expected_complexity(self) -> dict[str, Tensor]:
        """Expected OPs / BOPs / FLOPs of the derived network under ``softmax(alpha)``."""
        return self.space.expected_complexity(*self.probs())

    def entropy(self) -> Tensor:
        return sum((entropy(p) for p in self.probs()), self.edge.new_zeros(()))


def arch_loss(
    cfg: SearchConfig,
    task_loss: Tensor,
    arch: ArchParams,
    epoch: int,
    lam: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``L0 * (OPs/F)^theta + lambda * H``: the loss of an alpha step, and its (detached) parts.

    With ``cfg.budget_params`` the complexity factor is multiplied by ``(P/F_p)^theta`` of the
    expected binary parameters (same exponents).

    ``lambda`` is :func:`entropy_weight` of ``epoch`` unless ``lam`` (a 0-d device tensor, for a
    captured step) gives it.
    """
    exp = arch.expected_complexity()
    factor = complexity_factor(exp["ops"], cfg.budget_ops, cfg.theta_over, cfg.theta_under)
    if cfg.budget_params is not None:  # our extension: the same factor for the parameters
        factor = factor * complexity_factor(
            exp["binary_params"], cfg.budget_params, cfg.theta_over, cfg.theta_under
        )
    weight: float | Tensor = entropy_weight(cfg, epoch) if lam is None else lam
    ent = arch.entropy()
    loss = task_loss * factor + weight * ent
    return loss, {"factor": factor.detach(), "entropy": ent.detach()}


__all__ = [
    "ArchParams",
    "ArchSample",
    "arch_loss",
    "complexity_factor",
    "entropy",
    "entropy_weight",
    "gumbel_noise",
    "gumbel_softmax",
    "is_warmup",
    "temperature",
    "weight_lr",
]
