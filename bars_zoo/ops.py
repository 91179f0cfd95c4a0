"""The op registry: one torch module per op name of the genotype language.

Two tables, mirroring the language (``bars_zoo.spec.EDGE_OPS`` / ``CELL_OPS``):

* ``EDGE_OPS[name](channels, op_shortcut)`` - ops on a cell edge, ``C -> C`` at stride 1;
* ``CELL_OPS[name](c_in, c_out, stride)`` - a cell's ``preprocess`` / ``shortcut``, ``C_in -> C_out``.

Shapes: every stride-2 op maps ``H`` to ``ceil(H / 2)``.  Parameter-free ops resolve a channel
mismatch with :func:`adapt_channels` (tile-and-truncate).  Batch norm follows every convolution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bars_zoo.binary import BinaryConv2d


def adapt_channels(x: Tensor, channels: int) -> Tensor:
    """Parameter-free channel change: tile the channels ``ceil(C_out / C_in)`` times, keep the first
    ``C_out``.  ``C_out < C_in`` keeps the first ``C_out`` channels."""
    c = x.shape[1]
    if c == channels:
        return x
    if c < channels:
        reps = -(-channels // c)
        x = x.repeat(1, reps, 1, 1)  # (B, reps*C, H, W)
    return x[:, :channels]


def avg_pool_2x2(x: Tensor) -> Tensor:
    """2x2/s2 average pool that maps ``H`` to ``ceil(H/2)`` (edge windows average what they cover)."""
    return F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)


def shift_one_pixel(x: Tensor) -> Tensor:
    """``x`` moved up-left by one pixel, zero-filled at the bottom/right edge (same size)."""
    return F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))


class BinaryConvBN(nn.Module):
    """Binary conv -> BN, plus the op-level shortcut ``+ x`` when enabled and shapes match.

    The op-level shortcut (Liu et al., "Bi-Real Net", ECCV 2018; BARS Sec. 4.2) only exists for
    edge ops (``C -> C``, stride 1); preprocess and cell-shortcut convs never carry it.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, op_shortcut: bool = False
    ) -> None:
        super().__init__()
        self.conv = BinaryConv2d(c_in, c_out, kernel_size, stride)
        self.bn = nn.BatchNorm2d(c_out)
        self.op_shortcut = op_shortcut and c_in == c_out and stride == 1

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn(self.conv(x))
        return y + x if self.op_shortcut else y


class Identity(nn.Module):
    """Parameter-free ``C_in -> C_out``: 2x2 average pool at stride 2, then :func:`adapt_channels`."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 2:
            x = avg_pool_2x2(x)
        return adapt_channels(x, self.c_out)


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (the builder skips it; kept for completeness)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        if self.stride == 2:
            h, w = (h + 1) // 2, (w + 1) // 2
        return x.new_zeros(b, self.c_out, h, w)


class BinaryFactorizedReduce(nn.Module):
    """BARS' binary factorized reduce (Fig. 8): two stride-2 binary 3x3 convs, ``C_out/2`` each, on
    ``x`` and on ``x`` shifted by one pixel; each with a 2x2 average-pool op shortcut; concatenated.

    ``y = cat[BN(bconv_a(x)) + P(x), BN(bconv_b(s(x))) + P(s(x))]`` where ``P`` is the 2x2 average
    pool followed by :func:`adapt_channels` to ``C_out/2`` and ``s`` is :func:`shift_one_pixel`.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        if c_out % 2 or stride != 2:
            raise ValueError("bfr needs stride 2 and an even number of output channels")
        self.half_channels = c_out // 2
        self.conv_a = BinaryConv2d(c_in, self.half_channels, 3, 2)
        self.bn_a = nn.BatchNorm2d(self.half_channels)
        self.conv_b = BinaryConv2d(c_in, self.half_channels, 3, 2)
        self.bn_b = nn.BatchNorm2d(self.half_channels)

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, ceil(H/2), ceil(W/2))
        xs = shift_one_pixel(x)
        a = self.bn_a(self.conv_a(x)) + adapt_channels(avg_pool_2x2(x), self.half_channels)
        b = self.bn_b(self.conv_b(xs)) + adapt_channels(avg_pool_2x2(xs), self.half_channels)
        return torch.cat([a, b], dim=1)


class FPConv1x1BN(nn.Module):
    """Full-precision 1x1 conv -> BN; at stride 2 a 2x2 average pool first (Bi-Real's FP downsample)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 2:
            x = avg_pool_2x2(x)
        return self.bn(self.conv(x))


EdgeFactory = Callable[[int, bool], nn.Module]
CellOpFactory = Callable[[int, int, int], nn.Module]

#: edge op name -> factory(channels, op_shortcut)
EDGE_OPS: dict[str, EdgeFactory] = {
    "bconv3x3": lambda c, sc: BinaryConvBN(c, c, 3, 1, op_shortcut=sc),
    "bconv1x1": lambda c, sc: BinaryConvBN(c, c, 1, 1, op_shortcut=sc),
    "shortcut": lambda c, sc: nn.Identity(),
    "none": lambda c, sc: Zero(c, c, 1),
}

#: preprocess / cell-shortcut op name -> factory(c_in, c_out, stride)
CELL_OPS: dict[str, CellOpFactory] = {
    "bconv3x3": lambda ci, co, s: BinaryConvBN(ci, co, 3, s),
    "bconv1x1": lambda ci, co, s: BinaryConvBN(ci, co, 1, s),
    "bfr": lambda ci, co, s: BinaryFactorizedReduce(ci, co, s),
    "identity": lambda ci, co, s: Identity(ci, co, s),
    "none": lambda ci, co, s: Zero(ci, co, s),
    "conv1x1": lambda ci, co, s: FPConv1x1BN(ci, co, s),
}


def make_edge_op(name: str, channels: int, op_shortcut: bool) -> nn.Module:
    return EDGE_OPS[name](channels, op_shortcut)


def make_cell_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    return CELL_OPS[name](c_in, c_out, stride)


__all__ = [
    "CELL_OPS",
    "EDGE_OPS",
    "BinaryConvBN",
    "BinaryFactorizedReduce",
    "FPConv1x1BN",
    "Identity",
    "Zero",
    "adapt_channels",
    "avg_pool_2x2",
    "make_cell_op",
    "make_edge_op",
    "shift_one_pixel",
]
