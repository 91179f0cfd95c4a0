"""Binarisation: sign with straight-through estimators, and the XNOR binary convolution.

The scheme is XNOR-Net's (Rastegari et al., "XNOR-Net: ImageNet Classification Using Binary
Convolutional Neural Networks", ECCV 2016) with the single, per-layer scaling factor of BARS
(Zhao et al. 2021, Eq. 1)::

    forward   y = conv(sign(x), sign(W)) * beta,        beta = mean(|W|)   (one scalar per layer)
    backward  dL/dx = dL/dsign(x) * 1{|x| <= 1}           (clipped identity, Hubara et al. 2016)
              dL/dW = dL/dW_q,   W_q = beta * sign(W)       (identity straight-through on weights)

``sign(0) = +1``.  **Padding rule**: the binarised input is padded with ``+1`` (equivalently, ``x`` is
zero-padded before ``sign`` since ``sign(0) = +1``).  ``+1`` fits in one bit, so packed XNOR-popcount
inference (``bars_zoo.deploy``) reproduces training-time outputs exactly with no correction term.
Latent weights stay real-valued; batch norm follows every binary convolution (see ``bars_zoo.ops``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sign(x: Tensor) -> Tensor:
    """``+1`` where ``x >= 0``, ``-1`` elsewhere (no zeros, unlike ``torch.sign``)."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def binarize_activation(x: Tensor) -> Tensor:
    """``sign(x)`` forward; gradient ``g * 1{|x| <= 1}`` backward (clipped straight-through)."""
    clipped = x.clamp(-1.0, 1.0)
    return clipped + (sign(x) - clipped).detach()


def weight_scale(w: Tensor) -> Tensor:
    """BARS' single scaling factor ``beta = mean(|W|)`` (a 0-d tensor)."""
    return w.abs().mean()


def binarize_weight(w: Tensor, scale: Tensor | None = None) -> Tensor:
    """``beta * sign(W)`` forward; identity gradient to the latent ``W`` backward."""
    beta = weight_scale(w) if scale is None else scale
    q = beta.detach() * sign(w)
    # Forward is exactly q (``w + (q - w)`` is not, in floating point); the gradient is still 1.
    return q + (w - w.detach())


class BinaryConv2d(nn.Module):
    """XNOR binary convolution with one scaling factor per layer (no bias, no batch norm).

    ``padding = kernel_size // 2`` with the ``+1`` padding rule above; output size is
    ``ceil(H / stride)``.  ``weight`` holds the latent real-valued weights.
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
        # Set when weights were restored from packed sign bits: the stored beta, used exactly in eval.
        self.register_buffer("frozen_scale", None, persistent=False)

    def scale(self) -> Tensor:
        """The scaling factor used by ``forward`` now."""
        if self.frozen_scale is not None and not self.training:
            return self.frozen_scale
        return weight_scale(self.weight)

    def freeze_scale(self, beta: Tensor | float) -> None:
        """Use exactly ``beta`` in eval mode (for weights restored from 1-bit storage)."""
        self.frozen_scale = torch.as_tensor(
            beta, dtype=self.weight.dtype, device=self.weight.device
        )

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, C_out, ceil(H/s), ceil(W/s))
        xb = binarize_activation(x)
        if self.padding:
            p = self.padding
            xb = F.pad(xb, (p, p, p, p), value=1.0)  # the +1 padding rule
        wq = binarize_weight(self.weight, self.scale())
        return F.conv2d(xb, wq, stride=self.stride)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding} (+1)"
        )


__all__ = [
    "BinaryConv2d",
    "binarize_activation",
    "binarize_weight",
    "sign",
    "weight_scale",
]
