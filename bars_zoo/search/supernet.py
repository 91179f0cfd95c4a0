"""The BARS supernet: every architecture of a :class:`SearchSpace` inside one weight-sharing network.

Zhao et al., "BARS" (2021), Sec. 4.1-4.2.  One forward pass takes an :class:`ArchSample` (relaxed
Gumbel-softmax weights of every decision, or a one-hot architecture):

* **edges** - every edge ``j -> k`` of a cell is a mixed op ``sum_o m_o op_o(x_j)`` over ``edge_ops``
  (``bconv`` with its op-level shortcut, ``shortcut``, ``none``).  The binary convs leaving one node are
  run as one convolution (a :class:`BinaryConvBank`: per-edge weights, per-edge scaling factor, one BN);
* **width** (Eq. 3) - every feature map of stage ``s`` is multiplied by ``sum_i m_i M_i``, ``M_i``
  keeping the first ``C_i`` channels.  Masked channels must vanish *after* binarisation too
  (``sign(0) = +1``, and ``sign(m x) = sign(x)`` for any soft mask value ``m > 0``), so binary convs
  multiply their binarised, ``+1``-padded input by the mask of the input's stage: the soft mask then
  weights the input channels of every binary conv (and carries the width gradient through it), and a
  one-hot mask makes it exactly the narrow network's conv;
* **depth** (Eq. 4) - stage output ``sum_d m_d y_d`` where ``y_d`` is the output after ``d`` optional
  cells.  We keep one mandatory cell per stage (a stage of zero cells cannot be written in the
  genotype language), so ``y_0`` is the mandatory cell's output (the paper's is the stage input) and
  the derived depth is ``1 + d``;
* parameter-free channel changes (``adapt_channels``: tile and truncate) and the two halves of a
  binary factorized reduce are expressed as mixtures over the width choices of small 0/1 channel
  matrices, so one-hot samples reproduce the derived network's channel bookkeeping exactly.

Batch norms use batch statistics only (``track_running_stats=False``): the supernet is never
deployed, and derive-time candidates are compared with the statistics of their own batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bars_zoo.binary import binarize_activation, binarize_weight
from bars_zoo.ops import avg_pool_2x2, shift_one_pixel
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.strategy import ArchSample

_BINARY_EDGE_K = {"bconv3x3": 3, "bconv1x1": 1}


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, track_running_stats=False)


def tile_matrix(c_in: int, c_out: int, width: int | None = None) -> Tensor:
    """(c_out, width or c_in) 0/1 matrix of ``adapt_channels``: output ``c`` takes input ``c % c_in``."""
    t = torch.zeros(c_out, width or c_in)
    t[torch.arange(c_out), torch.arange(c_out) % c_in] = 1.0
    return t


def mix_channels(x: Tensor, matrix: Tensor) -> Tensor:
    """``y[:, c] = sum_k matrix[c, k] * x[:, k]`` (a parameter-free 1x1 channel map)."""
    return F.conv2d(x, matrix.to(x.dtype)[:, :, None, None])


class BinaryConvBank(nn.Module):
    """``n`` binary ``k x k`` convs ``C_in -> C_out`` of one input, run as a single convolution.

    Chunk ``i`` of the output (channels ``i*C_out .. (i+1)*C_out``) is ``BN(conv(sign(x) * mask,
    beta_i sign(W_i)))`` with its own latent weights ``W_i`` and scaling factor ``beta_i = mean|W_i|``
    (BARS Eq. 1, as :class:`bars_zoo.binary.BinaryConv2d`, ``+1`` padding); BN is per channel, so one
    BN over all chunks equals one BN per conv.
    """

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, n: int = 1) -> None:
        super().__init__()
        self.c_in, self.c_out, self.k, self.stride, self.n = c_in, c_out, k, stride, n
        self.weight = nn.Parameter(torch.empty(n * c_out, c_in, k, k))
        nn.init.normal_(self.weight, std=(2.0 / (c_out * k * k)) ** 0.5)  # kaiming fan_out per conv
        self.bn = _bn(n * c_out)

    def forward(
        self, x: Tensor, mask_in: Tensor | None
    ) -> Tensor:  # (B, C_in, H, W) -> (B, n*C_out, H/s, W/s)
        xb = binarize_activation(x)
        p = self.k // 2
        if p:
            xb = F.pad(xb, (p, p, p, p), value=1.0)  # the +1 padding rule of bars_zoo.binary
        if mask_in is not None:
            xb = xb * mask_in  # masked channels are absent, not +1
        w = self.weight
        beta = w.detach().abs().reshape(self.n, -1).mean(1).repeat_interleave(self.c_out)
        wq = binarize_weight(w, beta.view(-1, 1, 1, 1))
        return self.bn(F.conv2d(xb, wq, stride=self.stride))


class SuperBFR(nn.Module):
    """Binary factorized reduce (BARS Fig. 8, ``bars_zoo.ops.BinaryFactorizedReduce``) over all widths.

    For input width ``C_j`` and output width ``C_i`` the derived op computes
    ``cat[a[:C_i/2] + P_a, b[:C_i/2] + P_b]`` with ``P = adapt(avgpool(x)[:C_j], C_i/2)``; here the
    pool shortcut is mixed over the input widths and the output over the output widths.
    """

    def __init__(
        self, in_choices: tuple[int, ...] | None, c_in: int, out_choices: tuple[int, ...]
    ) -> None:
        super().__init__()
        c_out = max(out_choices)
        half = c_out // 2
        self.conv_a = BinaryConvBank(c_in, half, 3, 2)
        self.conv_b = BinaryConvBank(c_in, half, 3, 2)
        ins = in_choices or (c_in,)
        self.adapt: Tensor
        self.register_buffer(
            "adapt", torch.stack([tile_matrix(c, half, c_in) for c in ins]), persistent=False
        )  # (R_in, half, C_in)
        arrange = torch.zeros(len(out_choices), c_out, 2 * half)
        for i, c in enumerate(out_choices):
            h = torch.arange(c // 2)
            arrange[i, h, h] = 1.0  # first half of the output: a[:h]
            arrange[i, c // 2 + h, half + h] = 1.0  # second half: b[:h]
        self.arrange: Tensor
        self.register_buffer("arrange", arrange, persistent=False)  # (R_out, C_out, 2*half)

    def forward(
        self, x: Tensor, mask_in: Tensor | None, w_in: Tensor | None, w_out: Tensor
    ) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, ceil(H/2), ceil(W/2))
        xs = shift_one_pixel(x)
        adapt = self.adapt[0] if w_in is None else torch.einsum("r,rnc->nc", w_in, self.adapt)
        ya = self.conv_a(x, mask_in) + mix_channels(avg_pool_2x2(x), adapt)
        yb = self.conv_b(xs, mask_in) + mix_channels(avg_pool_2x2(xs), adapt)
        arrange = torch.einsum("r,rck->ck", w_out, self.arrange)
        return mix_channels(torch.cat([ya, yb], dim=1), arrange)


@dataclass(frozen=True)
class _Ctx:
    """What every cell of one forward pass needs: masks and weights of the sampled architecture."""

    masks: list[Tensor]  # per stage (1, C_max, 1, 1)
    arch: ArchSample


class SuperCell(nn.Module):
    """All topologies of one cell instance: ``x -> preprocess -> in``, mixed edges, ``+ shortcut(x)``."""

    def __init__(
        self,
        space: SearchSpace,
        ctype: int,
        c_in: int,
        in_stage: int | None,
        out_stage: int,
        stride: int,
    ) -> None:
        super().__init__()
        cfg = space.config
        self.space, self.ctype, self.in_stage, self.out_stage = space, ctype, in_stage, out_stage
        self.c_out = space.max_channels[out_stage]
        self.reduce = stride == 2
        pre = cfg.reduce_preprocess if self.reduce else cfg.preprocess
        sc = cfg.reduce_shortcut if self.reduce else cfg.normal_shortcut
        in_choices = space.channels[in_stage] if in_stage is not None else None
        out_choices = space.channels[out_stage]
        self.preprocess = self._cell_op(pre, in_choices, c_in, out_choices, stride)
        self.shortcut = self._cell_op(sc, in_choices, c_in, out_choices, stride)
        self.tile: Tensor | None
        if sc == "identity" and in_stage != out_stage:  # from the stem: tile/truncate to the stage
            self.register_buffer("tile", tile_matrix(c_in, self.c_out), persistent=False)
        else:
            self.tile = None
        k_nodes = cfg.nodes
        self.binary_ops = [o for o in cfg.edge_ops if o in _BINARY_EDGE_K]
        for j in range(k_nodes):  # edge indices leaving node j, on the device (no copy per step)
            idx = torch.tensor([space.edge_index(k, j) for k in range(j + 1, k_nodes + 1)])
            self.register_buffer(f"out_edges{j}", idx, persistent=False)
        self.banks = nn.ModuleDict(
            {
                f"{j}_{op}": BinaryConvBank(
                    self.c_out, self.c_out, _BINARY_EDGE_K[op], 1, k_nodes - j
                )
                for j in range(k_nodes)
                for op in self.binary_ops
            }
        )

    @staticmethod
    def _cell_op(
        op: str,
        in_choices: tuple[int, ...] | None,
        c_in: int,
        out_choices: tuple[int, ...],
        stride: int,
    ) -> nn.Module | None:
        if op == "bfr":
            return SuperBFR(in_choices, c_in, out_choices)
        if op in _BINARY_EDGE_K:
            return BinaryConvBank(c_in, max(out_choices), _BINARY_EDGE_K[op], stride)
        return None  # identity

    def _apply_cell_op(self, mod: nn.Module | None, x: Tensor, ctx: _Ctx) -> Tensor:
        v_out = ctx.masks[self.out_stage]
        v_in = ctx.masks[self.in_stage] if self.in_stage is not None else None
        if isinstance(mod, SuperBFR):
            w_in = ctx.arch.width[self.in_stage] if self.in_stage is not None else None
            return mod(x, v_in, w_in, ctx.arch.width[self.out_stage])
        if isinstance(mod, BinaryConvBank):
            return mod(x, v_in) * v_out
        if self.tile is not None:  # identity from a fixed-width input
            return mix_channels(x, self.tile) * v_out
        return x  # identity within the stage

    def forward(
        self, x: Tensor, ctx: _Ctx
    ) -> Tensor:  # (B, C_in, H, W) -> (B, C_out_max, H/s, W/s)
        space, cfg = self.space, self.space.config
        k_nodes = cfg.nodes
        w = ctx.arch.edge[self.ctype]  # (E, O)
        hard = ctx.arch.hard.edges[self.ctype] if ctx.arch.hard is not None else None
        v = ctx.masks[self.out_stage]
        sc_idx = cfg.edge_ops.index("shortcut") if "shortcut" in cfg.edge_ops else None
        states: list[Tensor | None] = [self._apply_cell_op(self.preprocess, x, ctx)]
        acc: list[Tensor | None] = [None] * (k_nodes + 1)

        def add(k: int, term: Tensor) -> None:
            prev = acc[k]
            acc[k] = term if prev is None else prev + term

        for j in range(k_nodes):
            xj = states[j]
            if xj is None:  # in a hard sample a dead node stays None and feeds nothing
                states.append(acc[j + 1])
                continue
            targets = range(j + 1, k_nodes + 1)
            edges = [space.edge_index(k, j) for k in targets]
            chunks: dict[int, tuple[Tensor, ...]] = {}
            for op in self.binary_ops:
                o = cfg.edge_ops.index(op)
                if hard is not None and all(hard[e] != o for e in edges):
                    continue
                bank = cast(BinaryConvBank, self.banks[f"{j}_{op}"])
                # one multiply applies the stage mask and, in a soft sample, each edge's op weight
                if hard is None:
                    idx: Tensor = getattr(self, f"out_edges{j}")
                    scale = w[idx, o].view(1, -1, 1) * v.view(1, 1, -1)  # (1, n, C)
                else:
                    scale = v.view(1, 1, -1).expand(1, bank.n, self.c_out)
                y = bank(xj, v) * scale.reshape(1, -1, 1, 1)  # (B, n*C, H, W)
                chunks[o] = y.split(self.c_out, dim=1)
            for t, (k, e) in enumerate(zip(targets, edges, strict=True)):
                if hard is not None:  # exactly the derived cell's sum: op(x_j) per live edge
                    op = cfg.edge_ops[hard[e]]
                    if op in _BINARY_EDGE_K:
                        c = chunks[hard[e]][t]
                        add(k, c + xj if cfg.op_shortcut else c)
                    elif op == "shortcut":
                        add(k, xj)
                    continue
                for ch in chunks.values():
                    add(k, ch[t])
                # x_j itself, through the convs' op-level shortcuts and through 'shortcut'
                coef = w[e, sc_idx] if sc_idx is not None else None
                if cfg.op_shortcut:
                    for op in self.binary_ops:
                        wo = w[e, cfg.edge_ops.index(op)]
                        coef = wo if coef is None else coef + wo
                if coef is not None:
                    add(k, coef * xj)
            states.append(acc[j + 1])
        out = states[-1]
        short = self._apply_cell_op(self.shortcut, x, ctx)
        if out is None:
            return short
        return out + short


class SuperStem(nn.Module):
    """Full-precision stem of the derived networks: conv3x3 (stride 1) -> BN."""

    def __init__(self, c_img: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_img, channels, 3, 1, 1, bias=False)
        self.bn = _bn(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class Supernet(nn.Module):
    """Stem -> stages of :class:`SuperCell` (with reductions between) -> head, for one search space.

    ``stages[s][0]`` is the mandatory cell of stage ``s``, ``stages[s][d]`` its ``d``-th optional cell;
    ``reductions[s - 1]`` precedes stage ``s``.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        cfg = space.config
        self.space = space
        c_img = space.input_shape[0]
        self.stem = SuperStem(c_img, cfg.stem_channels)
        self.stages = nn.ModuleList()
        self.reductions = nn.ModuleList()
        reduce_type = len(space.cell_types) - 1
        for s in range(space.num_stages):
            c = space.max_channels[s]
            if s:
                prev = space.max_channels[s - 1]
                self.reductions.append(SuperCell(space, reduce_type, prev, s - 1, s, 2))
            first = (
                SuperCell(space, s, cfg.stem_channels, None, s, 1)
                if s == 0
                else SuperCell(space, s, c, s, s, 1)
            )
            rest = [SuperCell(space, s, c, s, s, 1) for _ in range(space.max_optional)]
            self.stages.append(nn.ModuleList([first, *rest]))
        c_last = space.max_channels[-1]
        self.head_bn = _bn(c_last)
        self.fc = nn.Linear(c_last, space.num_classes)
        for s, choices in enumerate(space.channels):
            m = (torch.arange(space.max_channels[s])[:, None] < torch.tensor(choices)[None]).float()
            self.register_buffer(f"width_mask{s}", m, persistent=False)  # (C_max, R)

    def masks(self, arch: ArchSample) -> list[Tensor]:
        """Per stage the soft channel mask ``sum_i m_i M_i`` as (1, C_max, 1, 1)."""
        out = []
        for s in range(self.space.num_stages):
            m: Tensor = getattr(self, f"width_mask{s}")
            out.append((m @ arch.width[s]).view(1, -1, 1, 1))
        return out

    def forward(self, x: Tensor, arch: ArchSample) -> Tensor:  # (B, C, H, W) -> (B, classes)
        ctx = _Ctx(self.masks(arch), arch)
        choices = self.space.config.depth_choices
        h = self.stem(x)
        for s, stage in enumerate(self.stages):
            cells = cast(nn.ModuleList, stage)
            if s:
                h = self.reductions[s - 1](h, ctx)
            if arch.hard is not None:  # run exactly the chosen cells
                for cell in cells[: 1 + choices[arch.hard.depth[s]]]:
                    h = cell(h, ctx)
                continue
            ys = [cells[0](h, ctx)]
            for cell in cells[1:]:
                ys.append(cell(ys[-1], ctx))
            h = sum(
                (arch.depth[s, d] * ys[n] for d, n in enumerate(choices)), torch.zeros_like(ys[0])
            )
        h = self.head_bn(h) * ctx.masks[-1]
        return self.fc(h.mean(dim=(2, 3)))


__all__ = ["BinaryConvBank", "SuperBFR", "SuperCell", "Supernet", "tile_matrix"]
