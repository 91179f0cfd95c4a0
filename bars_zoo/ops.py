"""The op registry: one torch module per op name of the genotype language (DARTS-style ``OPS``).

Two tables, mirroring the language (``bars_zoo.spec.EDGE_OPS`` / ``CELL_OPS``; a test keeps them equal):

* ``EDGE_OPS[name](channels, op_shortcut)`` - ops on a cell edge, ``C -> C`` at stride 1;
* ``CELL_OPS[name](c_in, c_out, stride)`` - a cell's ``preprocess`` / ``shortcut``, ``C_in -> C_out``.

=============  =====================================================================================
op             forward (``B`` = BatchNorm2d, ``bconv`` = :class:`~bars_zoo.binary.BinaryConv2d`)
=============  =====================================================================================
``bconv3x3``   ``B(bconv3x3_s(x))``, plus ``+ x`` on an edge of a cell with ``op_shortcut=true``
``bconv1x1``   ``B(bconv1x1_s(x))``, plus ``+ x`` likewise (edges only)
``shortcut``   ``x`` (edges only)
``bfr``        ``cat[B(bconv3x3_2(x)) + P(x), B(bconv3x3_2(s(x))) + P(s(x))]`` (stride 2, even C_out)
``identity``   ``adapt(avgpool2x2(x))`` at stride 2, ``adapt(x)`` at stride 1 (no parameters)
``conv1x1``    ``B(conv1x1(avgpool2x2(x)))`` at stride 2 - *full precision* (FP-downsample baselines)
``none``       zeros of the output shape
=============  =====================================================================================

Shapes: every stride-2 op maps ``H`` to ``ceil(H / 2)`` (3x3 convs pad 1, 1x1 convs pad 0, the 2x2
average pool uses ``ceil_mode``).  Parameter-free ops resolve a channel mismatch with
:func:`adapt_channels` (tile-and-truncate).  Batch norm follows every convolution.  The exact
semantics, with the reasons, are in ``docs/semantics.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bars_zoo.binary import BinaryConv2d
from bars_zoo.errors import SpecError


def adapt_channels(x: Tensor, channels: int) -> Tensor:
    """Parameter-free channel change ``C_in -> C_out``: output channel ``j`` is input channel
    ``j mod C_in`` (tile the channels, then truncate).  ``C_out < C_in`` keeps the first ``C_out``
    channels; ``C_out == C_in`` returns ``x`` itself."""
    c = x.shape[1]
    if c == channels:
        return x
    if c < channels:
        reps = -(-channels // c)
        x = x.repeat(1, reps, 1, 1)  # (B, reps*C, H, W)
    return x[:, :channels]


def avg_pool_2x2(x: Tensor) -> Tensor:
    """2x2/s2 average pool that maps ``H`` to ``ceil(H/2)``: for odd ``H`` the last row/column of
    windows covers one pixel and averages only what it covers (``ceil_mode``, no padding counted)."""
    return F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)


def shift_one_pixel(x: Tensor) -> Tensor:
    """``s(x)[..., i, j] = x[..., i + 1, j + 1]``, zero at the last row and column (same size).

    A stride-2 op on ``s(x)`` samples the odd pixels that the same op on ``x`` skips (the
    "spatially staggered input" of BARS Sec. 4.2; DARTS' ``FactorizedReduce`` trick).  The zero
    fill binarises to ``+1``, consistent with the padding rule of :mod:`bars_zoo.binary`.
    """
    return F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))


class BinaryConvBN(nn.Module):
    """``y = BN(bconv(x))``, plus the op-level shortcut ``y + x`` when enabled and shapes match.

    The op-level shortcut (Liu et al., "Bi-Real Net: Enhancing the Performance of 1-bit CNNs with
    Improved Representational Capability and Advanced Training Algorithm", ECCV 2018; BARS Sec. 4.2)
    carries the real-valued ``x`` around the binary conv; it only exists for edge ops (``C -> C``,
    stride 1), preprocess and cell-shortcut convs never carry it (``op_shortcut`` is then ``False``).
    The shortcut passes ``dL/dy`` to ``x`` unchanged, beside the clipped-STE path through the conv,
    so the gradient reaches ``x`` even where ``|x| > 1``.
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
    """Parameter-free ``C_in -> C_out``: :func:`avg_pool_2x2` at stride 2, then :func:`adapt_channels`.

    At stride 1 with ``C_in == C_out`` it returns ``x`` itself.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 2:
            x = avg_pool_2x2(x)
        return adapt_channels(x, self.c_out)


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape ``(B, C_out, ceil(H/s), ceil(W/s))``.

    Cells never run ``none`` edges (:func:`bars_zoo.spec.live_edges` drops them); a cell whose
    output is identically zero returns this.
    """

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
    """BARS' binary factorized reduce (Sec. 4.2): two stride-2 binary 3x3 convs, ``C_out/2`` each,
    on ``x`` and on ``x`` shifted by one pixel, each with a 2x2 average-pool op shortcut (the paper's
    footnote 1); concatenated along channels::

        y = cat[BN_a(bconv_a(x)) + P(x),  BN_b(bconv_b(s(x))) + P(s(x))]     (B, C_out, ceil(H/2), ceil(W/2))

    ``P`` = :func:`avg_pool_2x2` then :func:`adapt_channels` to ``C_out/2``; ``s`` =
    :func:`shift_one_pixel`.  Unlike an FP downsample (Bi-Real, XNOR-Net) everything with
    parameters is binary.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        if c_out % 2 or stride != 2:
            raise SpecError(
                f"'bfr' needs stride 2 and an even output width, got stride={stride}, C_out={c_out}",
                hint="use bfr only in a stride=2 cell whose next stage has an even channel count",
            )
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
    """Full-precision ``BN(conv1x1(x))``; at stride 2 a 2x2 average pool first (the FP downsample
    shortcut of Bi-Real Net; used only by FP-downsample baselines, counted as FLOPs)."""

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


def _unknown(name: str, table: Mapping[str, object], what: str) -> SpecError:
    from difflib import get_close_matches

    close = get_close_matches(name, list(table), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known {what}s: {', '.join(table)}"
    return SpecError(f"unknown {what} {name!r}", hint=hint)


def make_edge_op(name: str, channels: int, op_shortcut: bool) -> nn.Module:
    """The module for edge op ``name`` (``C -> C``, stride 1)."""
    if name not in EDGE_OPS:
        raise _unknown(name, EDGE_OPS, "edge op")
    return EDGE_OPS[name](channels, op_shortcut)


def make_cell_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """The module for preprocess/shortcut op ``name`` (``C_in -> C_out`` at ``stride``)."""
    if name not in CELL_OPS:
        raise _unknown(name, CELL_OPS, "cell op")
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
