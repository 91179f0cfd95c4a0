"""The packed layers of a deployed model (:mod:`bars_zoo.deploy`): a binary conv and its batch norm
as one XNOR-popcount call (:class:`PackedConvBN`), the packed versions of the binary ops
(:class:`DeployedConvBN`, :class:`DeployedFactorizedReduce`), full-precision and parameter-free ops
frozen unchanged (:class:`DeployedPlain`), and the cell that runs them in
:class:`~bars_zoo.cells.Cell`'s order (:class:`DeployedCell`).  Inference only: no parameters.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from bars_zoo import kernels
from bars_zoo.binary import BinaryConv2d
from bars_zoo.cells import Cell
from bars_zoo.errors import DeployError
from bars_zoo.ops import (
    BinaryConvBN,
    BinaryFactorizedReduce,
    adapt_channels,
    avg_pool_2x2,
    shift_one_pixel,
)


class PackedConvBN(nn.Module):
    """One binary conv and the batch norm after it: ``(B, NW, H, W)`` packed -> ``(B, O, H', W')``.

    ``forward(xp, residual)`` returns ``BN_eval(beta * dot) [+ residual]``; ``shift=1`` reads the
    input moved up-left by one pixel (``bars_zoo.ops.shift_one_pixel``) without materialising it.
    """

    def __init__(self, conv: BinaryConv2d, bn: nn.BatchNorm2d, *, shift: int = 0) -> None:
        super().__init__()
        if bn.running_mean is None or bn.running_var is None:
            raise DeployError(
                "a batch norm after a binary conv has no running statistics "
                "(track_running_stats=False), so its eval output depends on the batch",
                hint="deploy models whose BatchNorm2d layers track running statistics",
            )
        beta = conv.eval_scale()
        self.in_channels: int = conv.in_channels
        self.out_channels: int = conv.out_channels
        self.kernel_size: int = conv.kernel_size
        self.stride: int = conv.stride
        self.shift: int = shift
        self.beta: float = float(beta.detach().float())
        self.eps: float = float(bn.eps)
        self.mode: int = kernels.epilogue_mode()
        with torch.no_grad():
            w = conv.weight.detach().float().cpu()
            self.register_buffer("weight_bits", torch.ops.bars_zoo.pack_weight(w))
            for name in ("running_mean", "running_var", "weight", "bias"):
                t = getattr(bn, name)
                t = None if t is None else t.detach().float().cpu().clone()
                self.register_buffer(f"bn_{name}", t)

    def forward(self, xp: Tensor, residual: Tensor | None) -> Tensor:
        return torch.ops.bars_zoo.bconv(
            xp,
            self.weight_bits,
            self.in_channels,
            self.kernel_size,
            self.stride,
            self.shift,
            self.beta,
            self.bn_running_mean,
            self.bn_running_var,
            self.bn_weight,
            self.bn_bias,
            self.eps,
            self.mode,
            residual,
        )

    def extra_repr(self) -> str:
        shift = ", shift=1" if self.shift else ""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}{shift}, beta={self.beta:.6g}, packed"
        )


class DeployedConvBN(nn.Module):
    """:class:`~bars_zoo.ops.BinaryConvBN`: ``BN(bconv(x)) [+ x]``."""

    needs_packed: bool = True

    def __init__(self, op: BinaryConvBN) -> None:
        super().__init__()
        self.packed = PackedConvBN(op.conv, op.bn)
        self.op_shortcut: bool = bool(op.op_shortcut)

    def forward(self, x: Tensor, xp: Tensor | None) -> Tensor:
        if xp is None:
            xp = torch.ops.bars_zoo.pack_signs(x)
        return self.packed(xp, x if self.op_shortcut else None)


class DeployedFactorizedReduce(nn.Module):
    """:class:`~bars_zoo.ops.BinaryFactorizedReduce`: two packed stride-2 convs on ``x`` and on
    ``shift_one_pixel(x)`` (one packing of ``x`` serves both), each plus its avg-pool shortcut."""

    needs_packed: bool = True

    def __init__(self, op: BinaryFactorizedReduce) -> None:
        super().__init__()
        self.half_channels: int = op.half_channels
        self.conv_a = PackedConvBN(op.conv_a, op.bn_a)
        self.conv_b = PackedConvBN(op.conv_b, op.bn_b, shift=1)

    def forward(self, x: Tensor, xp: Tensor | None) -> Tensor:
        if xp is None:
            xp = torch.ops.bars_zoo.pack_signs(x)
        xs = shift_one_pixel(x)
        a = self.conv_a(xp, adapt_channels(avg_pool_2x2(x), self.half_channels))
        b = self.conv_b(xp, adapt_channels(avg_pool_2x2(xs), self.half_channels))
        return torch.cat([a, b], dim=1)


class DeployedPlain(nn.Module):
    """A full-precision or parameter-free op (identity, zero, FP conv1x1), run unchanged."""

    needs_packed: bool = False

    def __init__(self, op: nn.Module) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: Tensor, xp: Tensor | None) -> Tensor:
        return self.op(x)


def _deploy_op(op: nn.Module, where: str) -> nn.Module:
    if isinstance(op, BinaryConvBN):
        return DeployedConvBN(op)
    if isinstance(op, BinaryFactorizedReduce):
        return DeployedFactorizedReduce(op)
    if any(isinstance(m, BinaryConv2d) for m in op.modules()):
        raise DeployError(
            f"{where} ({type(op).__name__}) holds a binary convolution that deploy does not know",
            hint="extend bars_zoo.deploy with a packed version of this op",
        )
    return DeployedPlain(frozen_copy(op))


class DeployedCell(nn.Module):
    """:class:`~bars_zoo.cells.Cell` with packed binary ops; same plan, same order of sums."""

    def __init__(self, cell: Cell, index: int) -> None:
        super().__init__()
        where = f"cells.{index}"
        slots = {"in": 0, **{n.name: i + 1 for i, n in enumerate(cell.spec.nodes)}}
        self.c_out: int = cell.c_out
        self.stride: int = cell.stride
        self.n_states: int = len(slots)
        self.last: int = slots[cell.last]
        self.preprocess = (
            None if cell.preprocess is None else _deploy_op(cell.preprocess, f"{where}.preprocess")
        )
        self.shortcut = (
            None if cell.shortcut is None else _deploy_op(cell.shortcut, f"{where}.shortcut")
        )
        edges = [_deploy_op(cell.edges[key], f"{where}.edges.{key}") for _, _, key in cell.plan]
        self.edges = nn.ModuleList(edges)
        self.sources: list[int] = [slots[src] for _, src, _ in cell.plan]
        self.targets: list[int] = [slots[node] for node, _, _ in cell.plan]
        self.edge_packed: list[bool] = [bool(e.needs_packed) for e in edges]
        ops = [m for m in (self.preprocess, self.shortcut) if m is not None]
        self.pack_input: bool = any(bool(m.needs_packed) for m in ops)

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, H/s, W/s)
        xp: Tensor | None = None
        if self.pack_input:
            xp = torch.ops.bars_zoo.pack_signs(x)
        states: list[Tensor | None] = []
        packed: list[Tensor | None] = []
        for _ in range(self.n_states):  # (not [None] * n: TorchScript types that List[None])
            states.append(None)
            packed.append(None)
        if self.preprocess is not None:
            states[0] = self.preprocess(x, xp)
        for i, edge in enumerate(self.edges):
            src = self.sources[i]
            s = states[src]
            if s is None:
                raise RuntimeError("a cell edge reads a node that was not computed")
            sp: Tensor | None = None
            if self.edge_packed[i]:
                sp = packed[src]
                if sp is None:
                    sp = torch.ops.bars_zoo.pack_signs(s)
                    packed[src] = sp
            y = edge(s, sp)
            # no local name for the node's previous value, so that it is freed right away
            states[self.targets[i]] = _accumulate(states[self.targets[i]], y)
        out = states[self.last]
        if self.shortcut is not None:
            sc = self.shortcut(x, xp)
            out = sc if out is None else out + sc
        if out is None:  # no live edge and shortcut=none: the cell is zero
            h, w = x.shape[2], x.shape[3]
            if self.stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
            return x.new_zeros(x.shape[0], self.c_out, h, w)
        return out


def _accumulate(total: Tensor | None, y: Tensor) -> Tensor:
    return y if total is None else total + y


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode whose parameters became buffers (nothing left to train)."""
    module = copy.deepcopy(module).cpu().eval()
    for sub in module.modules():
        for name, p in list(sub.named_parameters(recurse=False)):
            delattr(sub, name)
            sub.register_buffer(name, p.detach().clone())
    return module


__all__ = [
    "DeployedCell",
    "DeployedConvBN",
    "DeployedFactorizedReduce",
    "DeployedPlain",
    "PackedConvBN",
    "frozen_copy",
]
