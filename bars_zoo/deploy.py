"""Packed 1-bit inference: ``deploy(model)`` turns a trained :class:`~bars_zoo.builder.BarsNet` into a
module whose binary convolutions run as XNOR-popcount on 64-bit words (:mod:`bars_zoo.kernels`).

XNOR-Net (Rastegari et al., ECCV 2016) inference with BARS' one scale per layer (Zhao et al. 2021,
Eq. 1) and Bi-Real Net's op-level shortcut (Liu et al., ECCV 2018)::

    emulated (bars_zoo.ops)          BN(conv(pad_{+1}(sign(x)), beta * sign(W))) [+ x]
    deployed (this module)           BN(beta * (K - 2 popcount(x_bits XOR W_bits))) [+ x]

Every :class:`~bars_zoo.binary.BinaryConv2d` keeps its weights as sign bits packed along the input
channels into int64 words (``(ceil(C_out/8)*8, k*k, ceil(C_in/64))``, 1/32 of float32 plus word
padding) and one float ``beta`` (``frozen_scale`` when set, else ``mean(|W|)``: eval semantics).  Its
batch norm is applied in the kernel's epilogue exactly as ``torch.nn.functional.batch_norm`` does it
in eval mode (same per-channel affine, same roundings, calibrated once per machine), and the
op-level shortcut / the average-pool shortcut of ``bfr`` is added there too.  Activations are packed
once per tensor, inside compiled code, and shared by every binary op that reads them.  Full-precision
parts (stem, head, ``conv1x1``, pooling, channel tiling, sums) are the model's own modules and
functions, run in the same order as in :class:`~bars_zoo.cells.Cell`.  The packed layers are in
:mod:`bars_zoo.deploylayers` (re-exported here); this module makes and runs the whole network.

Exactness: the integer ``dot`` is exact, and so are the outputs: the emulated model's eval path
computes ``conv2d(sign(x), sign(W)) * beta`` (an integer count, then one multiplication), which is
what the epilogue here computes, so deployed and emulated eval outputs are equal bit for bit
(docs/deploy.md).

The deployed module is inference-only: it has no parameters, ``.train()`` and inputs that require
grad raise :class:`~bars_zoo.errors.DeployError`.  It runs under ``torch.jit.script`` and traces
under ``torch.compile``.  ``bars_zoo.deploy`` is both this module and :func:`deploy` (the module is
callable, as ``bars_zoo.search`` is).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from bars_zoo import kernels
from bars_zoo._callable import make_callable
from bars_zoo.builder import BarsNet, Head, check_head_input, non_float32, unwrap_model
from bars_zoo.cells import Cell
from bars_zoo.deploylayers import (  # re-exported: `from bars_zoo.deploy import PackedConvBN`
    DeployedCell,
    DeployedConvBN,
    DeployedFactorizedReduce,
    DeployedPlain,
    PackedConvBN,
    frozen_copy,
)
from bars_zoo.errors import DeployError
from bars_zoo.spec import NetworkSpec

_TRAIN_HINT = (
    "a deployed model only runs inference: train the emulated model (bars_zoo.build / "
    "bars_zoo.load) and call bars_zoo.deploy(model) again afterwards"
)


class DeployedNet(nn.Module):
    """The packed inference twin of a :class:`~bars_zoo.builder.BarsNet` (see the module docs).

    ``forward(x)``: ``(B, *spec.input_shape) -> (B, classes)`` float32 logits, CPU only.  The
    BarsNet's read-only timm interface: ``forward_features`` (packed stem and cells),
    ``forward_head(f, pre_logits=False)`` (``forward = forward_head(forward_features(x))``),
    ``get_classifier`` (the frozen ``head.fc``), ``num_features``, ``num_classes``.
    ``reset_classifier`` is refused: replace the classifier before deploying.
    """

    __jit_ignored_attributes__: ClassVar[list[str]] = ["spec", "pretrained_cfg"]
    __jit_unused_properties__: ClassVar[list[str]] = ["num_classes", "num_features"]

    def __init__(self, model: BarsNet) -> None:
        super().__init__()
        self.spec: NetworkSpec = model.spec
        self.pretrained_cfg = getattr(model, "pretrained_cfg", None)
        self.backend: str = kernels.load()
        self.stem = frozen_copy(model.stem)
        self.cells = nn.ModuleList(
            DeployedCell(cast(Cell, c), i) for i, c in enumerate(model.cells)
        )
        self.head = frozen_copy(model.head)
        super().train(False)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.forward_features(x))

    def forward_features(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C_last, h, w)
        """The last cell's output, as :meth:`~bars_zoo.builder.BarsNet.forward_features`."""
        if not torch.jit.is_scripting():
            self._check_input(x)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return x

    @torch.jit.unused
    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``forward_features``' ``(B, C_last, h, w)`` -> logits, or the pooled ``(B,
        num_features)`` with ``pre_logits`` (the full-precision head; checks as
        :meth:`~bars_zoo.builder.BarsNet.forward_head`)."""
        check_head_input(x, pre_logits, self.num_features)
        head = cast(Head, self.head)
        return head.pre_logits(x) if pre_logits else head(x)

    @property
    def num_features(self) -> int:
        """Width of the pooled features the classifier takes."""
        return int(self.get_classifier().in_features)

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier (``spec.num_classes``)."""
        return self.spec.num_classes

    @torch.jit.unused
    def get_classifier(self) -> nn.Linear:
        """The classifier, ``head.fc``: a frozen copy (its weights are buffers, not parameters)."""
        return cast(nn.Linear, cast(Head, self.head).fc)

    @torch.jit.unused
    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Refused: a deployed model is for inference, its classifier frozen."""
        raise DeployError(
            "a deployed model's classifier cannot be replaced (it is for inference)",
            hint=f"call reset_classifier({num_classes!r}) on the BarsNet, fine-tune it, then "
            "bars_zoo.deploy(model) again",
        )

    @torch.jit.unused
    def _check_input(self, x: Tensor) -> None:
        if torch.is_grad_enabled() and x.requires_grad:
            raise DeployError("a deployed model cannot be differentiated", hint=_TRAIN_HINT)
        if x.device.type != "cpu":
            raise DeployError(
                f"the packed kernels run on the CPU, got an input on {x.device}",
                hint="move the input to the CPU (x.cpu())",
            )
        if x.dtype != torch.float32:
            raise DeployError(f"expected float32 input, got {x.dtype}", hint="use x.float()")

    def train(self, mode: bool = True) -> DeployedNet:
        if mode:
            raise DeployError("a deployed model cannot be put in training mode", hint=_TRAIN_HINT)
        return super().train(False)

    def requires_grad_(self, requires_grad: bool = True) -> DeployedNet:
        if requires_grad:
            raise DeployError("a deployed model has no trainable parameters", hint=_TRAIN_HINT)
        return self

    def packed_bytes(self) -> dict[str, int]:
        """Weight memory: packed binary words, the same weights as float32, and the FP rest."""
        binary = float32 = 0
        for m in self.modules():
            if isinstance(m, PackedConvBN):
                binary += int(m.get_buffer("weight_bits").numel()) * 8
                float32 += m.out_channels * m.in_channels * m.kernel_size**2 * 4
        fp = sum(
            b.numel() * b.element_size()
            for n, b in self.named_buffers()
            if not n.endswith("weight_bits")
        )
        return {"binary_packed": binary, "binary_as_float32": float32, "full_precision": fp}


def deploy(model: nn.Module) -> DeployedNet:
    """The packed XNOR-popcount inference module of a trained ``BarsNet`` (eval semantics).

    Binary weights become sign bits in 64-bit words with one ``beta`` each (the ``frozen_scale``
    restored from a packed checkpoint, else ``mean(|W|)``); batch norm uses its running statistics.
    The input model is not modified.  Raises :class:`~bars_zoo.errors.DeployError` for anything
    that is not a ``BarsNet`` (or a wrapper of one) or holds an op without a packed version; a
    model name or folder: ``deploy(bars_zoo.load(name))`` or ``bars_zoo.load_deployed(name)``.
    """
    if isinstance(model, str | os.PathLike):
        name = os.fspath(model)
        raise DeployError(
            f"deploy() takes a model, got the {type(model).__name__} {name!r}",
            hint=f"load it first: bars_zoo.deploy(bars_zoo.load({name!r})), or in one step "
            f"bars_zoo.load_deployed({name!r})",
        )
    if not isinstance(model, nn.Module):
        raise DeployError(
            f"deploy() needs a bars-zoo BarsNet, got {type(model).__name__}",
            hint="a spec: bars_zoo.build(spec) (untrained); a name: bars_zoo.load(name)",
        )
    inner = unwrap_model(model)  # DistributedDataParallel / torch.compile wrappers
    if isinstance(inner, DeployedNet):
        return inner
    if not isinstance(inner, BarsNet):
        raise DeployError(
            f"deploy() needs a bars-zoo BarsNet, got {type(model).__name__}",
            hint="build it with bars_zoo.build(spec) or load it with bars_zoo.load(name)",
        )
    other = non_float32(inner)
    if other:  # the packed kernels and the full-precision parts compute in float32
        raise DeployError(
            f"deploy() needs a float32 model, this one holds {', '.join(other)} parameters",
            hint="deploy model.float() (the deployed model computes in float32)",
        )
    return DeployedNet(inner)


def load(name: str | os.PathLike[str], **kwargs: Any) -> DeployedNet:
    """``deploy(bars_zoo.load(name))``: a zoo name, ``local-dir:PATH``, ``hf-hub:...`` or a folder.

    The folder is the packed model folder of :func:`bars_zoo.save_pretrained` (sign bits + ``beta``
    per binary conv in ``model.safetensors``), which is what ``bars-zoo deploy`` writes.
    """
    from bars_zoo.hub import load as hub_load

    text = os.fspath(name)
    if Path(text).expanduser().is_dir() and not text.startswith(("local-dir:", "hf-hub:")):
        text = f"local-dir:{text}"
    return deploy(hub_load(text, **kwargs))


def save(model: nn.Module, directory: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write the packed model folder that :func:`load` turns back into the deployed module.

    ``model`` is the emulated ``BarsNet`` (a :class:`DeployedNet` keeps no latent weights to save);
    ``kwargs`` go to :func:`bars_zoo.save_pretrained` (e.g. ``pretrained_cfg``).
    """
    from bars_zoo.folder import save_pretrained

    if isinstance(model, DeployedNet):
        raise DeployError(
            "save the emulated model, not the deployed one",
            hint="save the BarsNet you passed to deploy(): from bars_zoo.deploy import save; save(model, DIR)",
        )
    return save_pretrained(model, directory, packed=True, **kwargs)


#: ``bars_zoo.load_deployed(name)``: the same as :func:`load` (``bars_zoo.deploy`` may be the function).
load_deployed = load


# ``bars_zoo.deploy(model)`` calls :func:`deploy` even when it resolves to this module, and
# ``inspect.signature``/``help`` show the function's parameters and docstring
make_callable(__name__, deploy)

__all__ = [
    "DeployedCell",
    "DeployedConvBN",
    "DeployedFactorizedReduce",
    "DeployedNet",
    "DeployedPlain",
    "PackedConvBN",
    "deploy",
    "load",
    "load_deployed",
    "save",
]
