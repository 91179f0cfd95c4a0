"""``build(spec)``: a :class:`~bars_zoo.spec.NetworkSpec` becomes a binary PyTorch model.

Layout (BARS Sec. 4-5): full-precision stem (conv -> BN [-> 3x3/s2 max pool]), the cells of
:func:`bars_zoo.spec.placements` in order, and a full-precision head (BN -> global average pool ->
linear).  Everything between stem and head is binary except parameter-free ops and the ``conv1x1``
op that FP-downsample baselines ask for explicitly.

Module names (stable; state dicts, the complexity hooks and packed inference rely on them):
``stem.conv``, ``stem.bn``, ``cells.{i}`` (the :func:`~bars_zoo.spec.placements` index),
``cells.{i}.preprocess``, ``cells.{i}.edges.{node}_{source}``, ``cells.{i}.shortcut``, ``head.bn``,
``head.fc``; a binary conv op has ``.conv`` (:class:`~bars_zoo.binary.BinaryConv2d`) and ``.bn``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bars_zoo.cells import Cell
from bars_zoo.devices import resolve_device
from bars_zoo.errors import SpecError
from bars_zoo.spec import NetworkSpec, ensure_valid, feature_channels, placements


class Stem(nn.Module):
    """Full-precision stem: ``conv kxk / stride (padding k//2, no bias) -> BN [-> maxpool 3x3/s2/p1]``.

    ``(B, C_img, H, W) -> (B, C_stem, H', W')`` with ``H' = ceil(H / stride)``, halved again
    (``ceil``) by the max pool (:func:`bars_zoo.spec.stem_output`).  No activation: the first
    binary op binarises its input.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        s = spec.stem
        k = 3 if s.op == "conv3x3" else 7
        self.conv = nn.Conv2d(spec.input.channels, s.channels, k, s.stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(s.channels)
        self.pool = nn.MaxPool2d(3, 2, 1) if s.pool == "maxpool" else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.bn(self.conv(x)))


class Head(nn.Module):
    """Full-precision head: ``BN -> global average pool -> linear``."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        return self.fc(torch.flatten(self.bn(x).mean(dim=(2, 3)), 1))


class BarsNet(nn.Module):
    """A network built from a spec; ``.spec`` keeps the architecture it was built from.

    ``forward(x)``: ``(B, *spec.input_shape) -> (B, spec.num_classes)`` logits;
    ``forward_features(x)``: the last cell's output ``(B, C_last, h, w)``, before the head.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        if not isinstance(spec, NetworkSpec):
            raise SpecError(
                f"build() needs a NetworkSpec, got {type(spec).__name__}",
                hint="get one with bars_zoo.load_genotype(name), bars_zoo.read(path) or "
                "bars_zoo.parse(text)",
            )
        ensure_valid(spec)
        self.spec = spec
        self.stem = Stem(spec)
        self.cells = nn.ModuleList(
            Cell(p.cell, p.c_in, p.c_out, p.stride) for p in placements(spec)
        )
        self.head = Head(feature_channels(spec), spec.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C_last, h, w)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return x

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.forward_features(x))


def build(spec: NetworkSpec, *, device: torch.device | str | None = None) -> BarsNet:
    """An untrained model for ``spec``, in train mode, on ``device`` (default: the CPU).

    Raises :class:`~bars_zoo.errors.SpecError` (listing every error of
    :func:`bars_zoo.spec.check_spec`) for a spec that cannot be built, before any module is made.
    """
    if device is not None:
        device = resolve_device(device)  # an unknown or absent device is a ConfigError
    model = BarsNet(spec)
    return model.to(device) if device is not None else model


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside (Distributed)DataParallel / torch.compile wrappers.  The wrapped model is
    their registered submodule ``module`` / ``_orig_mod`` (a compiled module also forwards
    attribute reads such as ``.spec`` to it, so only the submodule tells the wrapper apart)."""
    while not isinstance(model, BarsNet):
        inner = next(
            (model._modules[a] for a in ("module", "_orig_mod") if a in model._modules), None
        )
        if not isinstance(inner, nn.Module):
            break
        model = inner
    return model


def non_float32(model: nn.Module) -> list[str]:
    """The parameter dtypes of ``model`` other than float32, the dtype it computes in (sorted)."""
    return sorted({str(p.dtype) for p in model.parameters() if p.dtype != torch.float32})


__all__ = ["BarsNet", "Head", "Stem", "build", "non_float32", "unwrap_model"]
