"""Binarisation: sign with straight-through estimators, and the XNOR binary convolution.

The scheme is XNOR-Net's (Rastegari et al., "XNOR-Net: ImageNet Classification Using Binary
Convolutional Neural Networks", ECCV 2016) with the single, per-layer scaling factor of BARS
(Zhao et al., "BARS: Joint Search of Cell Topology and Layout for Accurate and Efficient Binary
ARchitectures", 2021, Sec. 3.1, Eq. 1)::

    forward   y = conv(pad_{+1}(sign(x)), W_q),   W_q = beta * sign(W),   beta = mean(|W|)
              (= beta * conv(sign(x), sign(W)): one scalar beta per layer, not per channel)
    backward  dL/dx = dL/dsign(x) * 1{|x| <= 1}      clipped identity (Hubara et al., "Binarized
                                                      Neural Networks", NeurIPS 2016; Bi-Real Net)
              dL/dW = dL/dW_q                        identity straight-through on the latent weights;
                                                      beta is treated as a constant (no gradient)

``sign(0) = +1``: every binarised value is exactly ``+-1``, never ``0``.

**Padding rule.**  The binarised input is padded with ``+1`` - equivalently, ``x`` is zero-padded
*before* ``sign`` because ``sign(0) = +1``.  Zero padding after ``sign`` would need a third value that
one bit cannot store; ``+1`` padding is one bit, so packed XNOR-popcount inference reproduces the
training-time convolution with no border correction term.

Latent weights stay real-valued (the optimiser updates them); batch norm follows every binary
convolution (:mod:`bars_zoo.ops`).  When weights are restored from packed sign bits, the stored
``beta`` is installed with :meth:`BinaryConv2d.freeze_scale` and used *exactly* in eval mode - for
those weights only: once the weights change (a training step, ``load_state_dict`` of other weights,
an edit by hand), ``mean(|W|)`` of the new weights applies again.

The straight-through estimators are :class:`torch.autograd.Function` s (not the ``x + (q -
x).detach()`` idiom) so that the forward values are exactly ``+-1`` and ``+-beta``: the idiom rounds,
and a binary weight that is not exactly ``+-beta`` would not survive packing.  Both functions are
``torch.compile`` friendly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sign(x: Tensor) -> Tensor:
    """``+1`` where ``x >= 0`` (``-0.0`` included), ``-1`` where ``x < 0``; unlike ``torch.sign``,
    never ``0``.

    Computed as ``sign(sign(x) + 1/2)`` - exact, and on CPU several times faster than
    ``torch.where(x >= 0, 1, -1)``.
    """
    return torch.sign(x).add_(0.5).sign_()


class SignSTE(torch.autograd.Function):
    """``sign(x)`` with the clipped straight-through gradient ``g * 1{|x| <= 1}`` (both ends included).

    Hubara et al., "Binarized Neural Networks" (NeurIPS 2016), as used by XNOR-Net, Bi-Real Net and
    BARS.  The backward is ``hardtanh``'s, whose open interval ``(-b, b)`` is widened by one ulp
    (``b = 1 + eps``) so that ``|x| = 1`` passes the gradient.
    """

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return sign(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        bound = 1.0 + torch.finfo(x.dtype).eps  # the next value above 1 in x's dtype
        out: Tensor = torch.ops.aten.hardtanh_backward(grad, x, -bound, bound)
        return out


class ScaledSignSTE(torch.autograd.Function):
    """``beta * sign(W)`` forward (exactly ``+-beta``); identity gradient to ``W``, none to ``beta``."""

    @staticmethod
    def forward(w: Tensor, beta: Tensor) -> Tensor:
        return sign(w) * beta

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


def binarize_activation(x: Tensor) -> Tensor:
    """``sign(x)`` forward; ``g * 1{|x| <= 1}`` backward (see :class:`SignSTE`)."""
    out: Tensor = SignSTE.apply(x)
    return out


def weight_scale(w: Tensor) -> Tensor:
    """BARS' single scaling factor ``beta = mean(|W|)`` over the whole layer (a 0-d tensor).

    Summed in float64 and rounded once to ``w``'s dtype, so that ``beta`` does not depend on the
    number of threads or the backend's summation order (a float32 sum does, in its last bits, and
    eval outputs are exact only if ``beta`` is)."""
    return w.detach().abs().double().mean().to(w.dtype)


def binarize_weight(w: Tensor, scale: Tensor | None = None) -> Tensor:
    """``beta * sign(W)`` forward; identity gradient to the latent ``W`` (see :class:`ScaledSignSTE`).

    ``scale`` defaults to :func:`weight_scale`; it never receives a gradient.
    """
    beta = weight_scale(w) if scale is None else scale.detach()
    out: Tensor = ScaledSignSTE.apply(w, beta.to(w.dtype))
    return out


class BinaryConv2d(nn.Module):
    """XNOR binary convolution with one scaling factor per layer (no bias, no batch norm).

    ``(B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride))``: square kernel,
    ``padding = kernel_size // 2`` filled with ``+1`` after ``sign`` (the module docstring gives the
    rule and the forward/backward formulas).  ``weight`` holds the latent real-valued weights
    (``(C_out, C_in, k, k)``); ``frozen_scale`` (a non-persistent buffer, ``None`` unless
    :meth:`freeze_scale` was called) replaces ``mean(|W|)`` in eval mode only, and only while the
    weights are those it was frozen for (their ``mean(|W|)`` unchanged).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.frozen_scale: Tensor | None
        self.register_buffer("frozen_scale", None, persistent=False)
        self.frozen_for: Tensor | None  # mean(|W|) of the weights frozen_scale belongs to
        self.register_buffer("frozen_for", None, persistent=False)

    def scale(self) -> Tensor:
        """The ``beta`` that :meth:`forward` uses now: :meth:`eval_scale` in eval mode,
        ``mean(|W|)`` in train mode (so that training keeps following the weights)."""
        return self.eval_scale() if not self.training else weight_scale(self.weight)

    def eval_scale(self) -> Tensor:
        """The eval-mode ``beta``: ``frozen_scale`` while the weights are still those it was frozen
        for, else ``mean(|W|)``.  A comparison of tensors, not a Python branch, so that
        ``torch.compile`` keeps one graph."""
        current = weight_scale(self.weight)
        if self.frozen_scale is None or self.frozen_for is None:
            return current
        return torch.where(current == self.frozen_for, self.frozen_scale, current)

    def freeze_scale(self, beta: Tensor | float | None) -> None:
        """Use exactly ``beta`` in eval mode (weights restored from 1-bit storage) for as long as the
        weights stay as they are now; ``None`` unsets."""
        if beta is None:
            self.frozen_scale = self.frozen_for = None
            return
        w = self.weight
        if isinstance(beta, Tensor):
            self.frozen_scale = beta.detach().to(w.device, w.dtype).clone().reshape(())
        else:
            self.frozen_scale = torch.tensor(float(beta), dtype=w.dtype, device=w.device)
        self.frozen_for = weight_scale(w).clone()

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))
        xb = binarize_activation(x)
        if self.padding:
            p = self.padding
            xb = F.pad(xb, (p, p, p, p), value=1.0)  # the +1 padding rule
        if not self.training:
            # Eval: the +-1 count first, then one scaling.  The count of +-1 products is an
            # integer, exact in float, so eval outputs do not depend on the summation order of the
            # conv backend and equal packed XNOR-popcount inference (bars_zoo.deploy) bit for bit.
            count = F.conv2d(xb, sign(self.weight), stride=self.stride)
            return count * self.scale()
        wq = binarize_weight(self.weight, self.scale())
        return F.conv2d(xb, wq, stride=self.stride)

    def extra_repr(self) -> str:
        frozen = ", frozen_scale" if self.frozen_scale is not None else ""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding} (+1){frozen}"
        )


__all__ = [
    "BinaryConv2d",
    "ScaledSignSTE",
    "SignSTE",
    "binarize_activation",
    "binarize_weight",
    "sign",
    "weight_scale",
]
