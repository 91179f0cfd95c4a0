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
functions, run in the same order as in :class:`~bars_zoo.cells.Cell`.

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

import copy
import os
import sys
import types
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from bars_zoo import kernels
from bars_zoo.binary import BinaryConv2d
from bars_zoo.builder import BarsNet, non_float32, unwrap_model
from bars_zoo.cells import Cell
from bars_zoo.errors import DeployError
from bars_zoo.ops import (
    BinaryConvBN,
    BinaryFactorizedReduce,
    adapt_channels,
    avg_pool_2x2,
    shift_one_pixel,
)
from bars_zoo.spec import NetworkSpec

_TRAIN_HINT = (
    "a deployed model only runs inference: train the emulated model (bars_zoo.build / "
    "bars_zoo.load) and call bars_zoo.deploy(model) again afterwards"
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
    return DeployedPlain(_frozen_copy(op))


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


def _frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode whose parameters became buffers (nothing left to train)."""
    module = copy.deepcopy(module).cpu().eval()
    for sub in module.modules():
        for name, p in list(sub.named_parameters(recurse=False)):
            delattr(sub, name)
            sub.register_buffer(name, p.detach().clone())
    return module


class DeployedNet(nn.Module):
    """The packed inference twin of a :class:`~bars_zoo.builder.BarsNet` (see the module docs).

    ``forward(x)``: ``(B, *spec.input_shape) -> (B, classes)`` float32 logits, CPU only.
    """

    __jit_ignored_attributes__: ClassVar[list[str]] = ["spec", "pretrained_cfg"]

    def __init__(self, model: BarsNet) -> None:
        super().__init__()
        self.spec: NetworkSpec = model.spec
        self.pretrained_cfg = getattr(model, "pretrained_cfg", None)
        self.backend: str = kernels.load()
        self.stem = _frozen_copy(model.stem)
        self.cells = nn.ModuleList(
            DeployedCell(cast(Cell, c), i) for i, c in enumerate(model.cells)
        )
        self.head = _frozen_copy(model.head)
        super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        if not torch.jit.is_scripting():
            self._check_input(x)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.head(x)

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
    that is not a ``BarsNet`` (or a wrapper of one) or holds an op without a packed version.
    """
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


class _CallableModule(types.ModuleType):
    """Makes ``bars_zoo.deploy(model)`` call :func:`deploy` even when it resolves to this module."""

    def __call__(self, model: nn.Module) -> DeployedNet:
        return deploy(model)


sys.modules[__name__].__class__ = _CallableModule

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
