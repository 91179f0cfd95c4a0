"""``build(spec)``: a :class:`~bars_zoo.spec.NetworkSpec` becomes a binary PyTorch model.

Layout (BARS Sec. 4-5): full-precision stem (conv -> BN [-> 3x3/s2 max pool]), the cells of
:func:`bars_zoo.spec.placements` in order, and a full-precision head (BN -> global average pool ->
linear).  Everything between stem and head is binary except parameter-free ops and the ``conv1x1``
op that FP-downsample baselines ask for explicitly.

Module names (stable; state dicts, the complexity hooks and packed inference rely on them):
``stem.conv``, ``stem.bn``, ``cells.{i}`` (the :func:`~bars_zoo.spec.placements` index),
``cells.{i}.preprocess``, ``cells.{i}.edges.{node}_{source}``, ``cells.{i}.shortcut``, ``head.bn``,
``head.fc``; a binary conv op has ``.conv`` (:class:`~bars_zoo.binary.BinaryConv2d`) and ``.bn``.

The timm interface: ``forward_features`` (last cell's map), ``forward_head(x, pre_logits=False)``
(``forward = forward_head(forward_features(x))``; ``x`` 4D, as timm's), ``get_classifier``,
``reset_classifier(n, global_pool=None)`` (a fresh classifier for ``n`` classes; ``.spec`` and
``.pretrained_cfg`` follow; ``global_pool`` ``None`` or ``"avg"``), ``num_features``,
``num_classes``.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import Tensor, nn

from bars_zoo.cells import Cell
from bars_zoo.devices import resolve_device
from bars_zoo.errors import ConfigError, SpecError
from bars_zoo.spec import (
    Limits,
    NetworkSpec,
    ensure_valid,
    feature_channels,
    placements,
    with_new_classifier,
)
from bars_zoo.trainedness import set_trained, weights_trained


def check_num_classes(num_classes: Any) -> int:
    """``num_classes`` as an ``int`` when it is a whole number from 1 to ``Limits.MAX_CLASSES``;
    :class:`ConfigError` otherwise (``bool`` and ``float`` included: ``True`` or ``10.0`` is a slip,
    not a class count)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise ConfigError(
            f"num_classes must be an int, got {type(num_classes).__name__} {num_classes!r}",
            hint="pass the number of classes of your data set, e.g. num_classes=5",
        )
    n = int(num_classes)
    if not 1 <= n <= Limits.MAX_CLASSES:
        raise ConfigError(
            f"num_classes must be from 1 to {Limits.MAX_CLASSES:,}, got {n}",
            hint="pass the number of classes of your data set; for features without a classifier "
            "use model.forward_features(x) or model.forward_head(x, pre_logits=True)",
        )
    return n


def check_global_pool(global_pool: Any) -> None:
    """``reset_classifier``'s ``global_pool`` (timm's argument): ``None`` (keep the pooling) or
    ``"avg"``, the only pooling the head has; :class:`ConfigError` otherwise."""
    if global_pool is None or (isinstance(global_pool, str) and global_pool == "avg"):
        return
    raise ConfigError(
        f"global_pool must be None or 'avg', got {type(global_pool).__name__} {global_pool!r}: "
        "the BARS head pools by global average only",
        hint="leave global_pool out (or 'avg'); for another pooling take "
        "model.forward_features(x) and pool it yourself",
    )


def check_head_input(x: Any, pre_logits: Any, num_features: int) -> None:
    """``forward_head``'s arguments: ``pre_logits`` a ``bool`` and ``x`` the ``(B, C, h, w)``
    output of ``forward_features``; :class:`ConfigError` otherwise."""
    if not isinstance(pre_logits, bool):
        raise ConfigError(
            f"pre_logits must be True or False, got {type(pre_logits).__name__} {pre_logits!r}",
            hint="pass pre_logits=True for the pooled features, False (default) for logits",
        )
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != num_features:
        got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError(
            f"forward_head takes forward_features' output, a (B, {num_features}, h, w) "
            f"tensor, got {got}",
            hint="pass model.forward_features(x); a pooled (B, C) vector goes to "
            "model.get_classifier() instead",
        )


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

    def pre_logits(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C)
        """What the classifier sees: ``BN -> global average pool``."""
        return torch.flatten(self.bn(x).mean(dim=(2, 3)), 1)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        return self.fc(self.pre_logits(x))


class BarsNet(nn.Module):
    """A network built from a spec; ``.spec`` keeps the architecture it was built from.

    ``forward(x)``: ``(B, *spec.input_shape) -> (B, spec.num_classes)`` logits;
    ``forward_features(x)``: the last cell's output ``(B, C_last, h, w)``, before the head;
    ``forward_head(f, pre_logits=True)``: the pooled features ``(B, num_features)`` the classifier
    sees.
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
        #: how to feed the weights (:class:`~bars_zoo.pretrainedcfg.PretrainedCfg`), set by
        #: ``bars_zoo.load``; ``None`` for a built model: it has no weights of its own yet
        self.pretrained_cfg: Any = None
        self.stem = Stem(spec)
        self.cells = nn.ModuleList(
            Cell(p.cell, p.c_in, p.c_out, p.stride) for p in placements(spec)
        )
        self.head = Head(feature_channels(spec), spec.num_classes)
        # fresh random initial weights are known untrained (bars_zoo.trainedness)
        set_trained(self, False)

    @property
    def trained_weights(self) -> bool | None:
        """Whether the weights are trained: ``True``, ``False`` (untrained: built, or loaded from
        a folder that records no training, and unchanged since) or ``None`` (unknown: changed
        since, e.g. by ``load_state_dict`` or your own optimizer); :mod:`bars_zoo.trainedness`.
        Set it (``model.trained_weights = True``) after training the model in a loop of your own
        when saving it unpacked or without a ``top1``/``train_command``."""
        return weights_trained(self)

    @trained_weights.setter
    def trained_weights(self, state: bool | None) -> None:
        if state is not None and not isinstance(state, bool):
            raise ConfigError(
                f"trained_weights is True, False or None, got {state!r}",
                hint="True: trained; False: untrained; None: unknown",
            )
        set_trained(self, state)

    def forward_features(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C_last, h, w)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, C_last, h, w)`` features -> ``(B, num_classes)`` logits, or with ``pre_logits``
        the ``(B, num_features)`` vector before the classifier (BN -> global average pool).

        ``x`` is :meth:`forward_features`' 4D output, as in timm; an already pooled ``(B, C)``
        is refused rather than guessed at (the head's batch norm comes before the pooling, and
        a ``pre_logits`` vector passed back would be normalised twice): give the classifier
        itself, :meth:`get_classifier`, the pooled vector.  A non-``bool`` ``pre_logits`` or
        another shape is a :class:`ConfigError`."""
        check_head_input(x, pre_logits, self.num_features)
        return self.head.pre_logits(x) if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        # forward_head(forward_features(x)), without forward_head's argument checks on every step
        return self.head(self.forward_features(x))

    @property
    def num_features(self) -> int:
        """Width of the pooled features the classifier takes (the last stage's channels)."""
        return self.head.fc.in_features

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier (``spec.num_classes``)."""
        return self.spec.num_classes

    def get_classifier(self) -> nn.Linear:
        """The full-precision classifier, ``head.fc``."""
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` classes (on the
        old one's device and dtype), for fine-tuning on another data set; everything before it
        keeps its weights.  ``.spec`` becomes the spec with ``num_classes`` (its ``meta`` without
        the numbers of the old network, ``meta dataset=`` as ``searched_on``); a
        ``pretrained_cfg`` stops describing the old weights' classifier (its
        ``for_new_classifier``: no top-1, labels or data set; the backbone's source recorded), so
        that a folder saved from the model claims none of them.

        Raises :class:`ConfigError` for a ``num_classes`` that is not a whole number from 1 to
        ``Limits.MAX_CLASSES``, and for a ``global_pool`` other than ``None`` or ``"avg"``
        (timm's signature; the head pools by average only, :func:`check_global_pool`).
        """
        n = check_num_classes(num_classes)
        check_global_pool(global_pool)
        spec = with_new_classifier(self.spec, n)
        state = weights_trained(self)  # the backbone's: a new head on untrained weights is too
        old = self.head.fc
        self.head.fc = nn.Linear(
            old.in_features, n, device=old.weight.device, dtype=old.weight.dtype
        )
        self.spec = spec
        set_trained(self, state)
        cfg = getattr(self, "pretrained_cfg", None)
        new_cfg = getattr(cfg, "for_new_classifier", None)
        if callable(new_cfg):
            self.pretrained_cfg = new_cfg(n, trained=state)


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


__all__ = [
    "BarsNet",
    "Head",
    "Stem",
    "build",
    "check_global_pool",
    "check_head_input",
    "check_num_classes",
    "non_float32",
    "unwrap_model",
]
