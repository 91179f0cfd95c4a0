"""The XNOR-popcount kernels behind :func:`bars_zoo.deploy`: the compiled extension and its oracle.

Binary convolution of packed signs (XNOR-Net, Rastegari et al., ECCV 2016; BARS' single scale,
Zhao et al. 2021, Eq. 1)::

    dot = K - 2 * popcount(x XOR w)        x, w: sign bits (1 = -1), K = C_in * k * k
    y   = BN_eval(beta * dot) [+ residual]  batch norm exactly as torch applies it in eval mode

Four operators live in the ``torch.ops.bars_zoo`` namespace, whichever backend provides them:

* ``pack_signs(x)``: float ``(B, C, H, W)`` -> int64 ``(B, ceil(C/64), H, W)``, bit ``j`` of word
  ``w`` is ``x[:, 64w + j] < 0`` (``sign(0) = sign(-0.0) = +1``, as ``bars_zoo.binary.sign``),
  spare bits 0;
* ``pack_weight(w)``: float ``(O, C, k, k)`` -> int64 ``(ceil(O/8)*8, k*k, ceil(C/64))``;
* ``bconv(xp, wp, in_channels, kernel_size, stride, shift, beta, mean, var, gamma, bias, eps,
  mode, residual)``: the convolution above (``padding = k // 2`` filled with ``+1``; ``shift=1``
  reads the input moved up-left by one pixel with ``+1`` fill, as the binary factorized reduce
  does).  ``mean=None`` returns the raw integer ``dot`` (as float, all output rows);
* ``bn_eval(x, mean, var, gamma, bias, eps, mode)``: the kernel's epilogue on a float tensor.

Backends: the C++ extension ``csrc/xnor.cpp`` (AVX-512 VPOPCNTDQ when the CPU has it, portable
``__builtin_popcountll`` otherwise; threads from ``at::parallel_for``), compiled on first use with
``torch.utils.cpp_extension.load`` and cached under ``$BARS_ZOO_EXT_DIR`` or
``~/.cache/bars_zoo/ext/<hash of source, torch, python, compiler flags, CPU flags>``.  When it cannot
be built (no compiler, ``BARS_ZOO_NO_EXT=1``) the same operators are registered from the pure-PyTorch
``reference_*`` functions below, with a :class:`KernelFallbackWarning`.  The reference functions are
always importable: they are the oracle of the tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parent / "csrc" / "xnor.cpp"
WORD_BITS = 64
OUT_BLOCK = 8  # packed weight rows are padded to a multiple of this (csrc: kOutBlock)
#: ``mode`` bits of the epilogue: 1 = shift term fused (one rounding), 2 = apply fused.
FUSED_SHIFT, FUSED_APPLY = 1, 2

SCHEMAS = {
    "pack_signs": "pack_signs(Tensor x) -> Tensor",
    "pack_weight": "pack_weight(Tensor w) -> Tensor",
    "bconv": (
        "bconv(Tensor xp, Tensor wp, int in_channels, int kernel_size, int stride, int shift, "
        "float beta, Tensor? mean, Tensor? var, Tensor? gamma, Tensor? bias, float eps, int mode, "
        "Tensor? residual) -> Tensor"
    ),
    "bn_eval": (
        "bn_eval(Tensor x, Tensor mean, Tensor var, Tensor gamma, Tensor bias, float eps, "
        "int mode) -> Tensor"
    ),
}


class KernelFallbackWarning(UserWarning):
    """The compiled kernel is unavailable; the (correct, slow) pure-PyTorch path is used."""


# --------------------------------------------------------------------------- reference (oracle)


def _bit_weights(device: torch.device) -> Tensor:
    """``2**j`` for ``j < 63`` and ``-2**63`` (bit 63 of an int64), shape ``(64,)``."""
    w = [1 << j for j in range(WORD_BITS - 1)] + [-(1 << (WORD_BITS - 1))]
    return torch.tensor(w, dtype=torch.int64, device=device)


def _pack_bits(neg: Tensor, dim: int) -> Tensor:
    """Pack the bool dimension ``dim`` of ``neg`` into int64 words (zero-padded to 64)."""
    n = neg.shape[dim]
    words = -(-n // WORD_BITS)
    pad = words * WORD_BITS - n
    if pad:
        shape = list(neg.shape)
        shape[dim] = pad
        neg = torch.cat([neg, neg.new_zeros(shape)], dim=dim)
    shape = [*neg.shape[:dim], words, WORD_BITS, *neg.shape[dim + 1 :]]
    bits = neg.reshape(shape).to(torch.int64)
    view = [1] * len(shape)
    view[dim + 1] = WORD_BITS
    # distinct powers of two: the sum is the bitwise OR and never overflows
    return (bits * _bit_weights(neg.device).view(view)).sum(dim=dim + 1)


def _unpack_bits(words: Tensor, dim: int, n: int) -> Tensor:
    """``+1.0 / -1.0`` float32 from words packed along ``dim`` (inverse of :func:`_pack_bits`)."""
    view = [1] * (words.dim() + 1)
    view[dim + 1] = WORD_BITS
    shifts = torch.arange(WORD_BITS, device=words.device).view(view)
    bits = (words.unsqueeze(dim + 1) >> shifts) & 1  # (..., words, 64, ...)
    shape = list(words.shape)
    shape[dim] = words.shape[dim] * WORD_BITS
    bits = bits.reshape(shape).narrow(dim, 0, n)
    return (1 - 2 * bits).to(torch.float32)


def reference_pack_signs(x: Tensor) -> Tensor:
    """Pure-PyTorch ``pack_signs``: ``(B, C, H, W)`` -> ``(B, ceil(C/64), H, W)`` int64."""
    return _pack_bits(x < 0, dim=1)


def reference_pack_weight(w: Tensor) -> Tensor:
    """Pure-PyTorch ``pack_weight``: ``(O, C, k, k)`` -> ``(ceil(O/8)*8, k*k, ceil(C/64))``."""
    o, c, k, _ = w.shape
    neg = w < 0
    packed = _pack_bits(neg.reshape(o, c, k * k), dim=1).transpose(1, 2)  # (O, k*k, NW)
    rows = -(-o // OUT_BLOCK) * OUT_BLOCK
    if rows != o:
        packed = torch.cat([packed, packed.new_zeros(rows - o, *packed.shape[1:])])
    return packed.contiguous()


def reference_unpack_weight(wp: Tensor, in_channels: int, kernel_size: int) -> Tensor:
    """``+-1`` float weights ``(O_pad, C, k, k)`` from :func:`reference_pack_weight` words."""
    signs = _unpack_bits(wp, dim=2, n=in_channels)  # (O_pad, k*k, C)
    w = signs.transpose(1, 2).reshape(wp.shape[0], in_channels, kernel_size, kernel_size)
    # contiguous: a channels-last weight would make conv2d return channels-last outputs, and
    # later reductions (the head's mean) would then round differently from the emulated model
    return w.contiguous()


def reference_bconv(
    xp: Tensor,
    wp: Tensor,
    in_channels: int,
    kernel_size: int,
    stride: int,
    shift: int,
    beta: float,
    mean: Tensor | None,
    var: Tensor | None,
    gamma: Tensor | None,
    bias: Tensor | None,
    eps: float,
    mode: int,
    residual: Tensor | None,
) -> Tensor:
    """Pure-PyTorch ``bconv``: unpack to ``+-1``, float convolution (exact: integers < 2**24),
    then ``F.batch_norm`` itself in eval mode (``mode`` is only used by the compiled epilogue)."""
    del mode
    xs = _unpack_bits(xp, dim=1, n=in_channels)  # (B, C, H, W) of +-1
    if shift:
        xs = F.pad(xs[:, :, 1:, 1:], (0, 1, 0, 1), value=1.0)
    p = kernel_size // 2
    if p:
        xs = F.pad(xs, (p, p, p, p), value=1.0)  # the +1 padding rule
    w = reference_unpack_weight(wp, in_channels, kernel_size)
    if mean is not None:
        w = w[: mean.shape[0]]  # drop the padding rows: batch norm must see a contiguous input
    dot = F.conv2d(xs, w, stride=stride)
    if mean is None:
        return dot
    t = dot * torch.tensor(beta, dtype=torch.float32, device=dot.device)
    assert var is not None
    y = F.batch_norm(t, mean, var, gamma, bias, False, 0.0, eps)
    return y if residual is None else y + residual


def reference_bn_eval(
    x: Tensor, mean: Tensor, var: Tensor, gamma: Tensor, bias: Tensor, eps: float, mode: int
) -> Tensor:
    del mode
    return F.batch_norm(x, mean, var, gamma, bias, False, 0.0, eps)


# --------------------------------------------------------------------------- building the extension


def cache_dir() -> Path:
    """Root of the build cache: ``$BARS_ZOO_EXT_DIR``, else ``$XDG_CACHE_HOME/bars_zoo/ext``."""
    env = os.environ.get("BARS_ZOO_EXT_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bars_zoo" / "ext"


def compile_flags() -> list[str]:
    """gcc/clang flags; ``$BARS_ZOO_EXT_ARCH`` (e.g. ``-march=x86-64-v3``) replaces ``-march=native``.

    ``-ffp-contract=off`` keeps unfused multiply-adds unfused (the epilogue chooses explicitly).
    """
    flags = ["-O3", "-ffp-contract=off", "-fopenmp"]
    arch = os.environ.get("BARS_ZOO_EXT_ARCH")
    if arch is not None:
        return flags + arch.split()
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686"):
        flags.append("-march=native")  # enables popcnt / AVX-512 VPOPCNTDQ where the CPU has them
    elif machine in ("aarch64", "arm64"):
        flags.append("-mcpu=native")
    return flags


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def build_tag() -> str:
    """Hash of everything the compiled library depends on (source, torch, flags, CPU)."""
    h = hashlib.sha256(SOURCE.read_bytes())
    for part in (torch.__version__, sys.version, platform.machine(), " ".join(compile_flags())):
        h.update(part.encode())
    h.update(os.environ.get("CXX", "").encode())
    h.update(_cpu_flags().encode())
    return h.hexdigest()[:16]


def _ensure_ninja_on_path() -> None:
    import shutil

    if shutil.which("ninja"):
        return
    beside = Path(sys.executable).parent  # a virtual environment's bin/ (pip install ninja)
    if (beside / "ninja").exists():
        os.environ["PATH"] = f"{beside}{os.pathsep}{os.environ.get('PATH', '')}"


def _cpp_extension_load() -> Any:
    """``torch.utils.cpp_extension.load``, imported without the warning torch logs on import on a
    machine with a CUDA toolkit but no CUDA runtime ("No CUDA runtime is found, using
    CUDA_HOME=..."): the kernel is CPU code, and `bars-zoo deploy` users would read it as a fault."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils.cpp_extension import load
    finally:
        logger.setLevel(level)
    return load


def _build_extension() -> None:
    load = _cpp_extension_load()
    tag = build_tag()
    build_dir = cache_dir() / tag
    build_dir.mkdir(parents=True, exist_ok=True)
    _ensure_ninja_on_path()
    log.info("bars-zoo: loading the XNOR kernel from %s (compiles once, ~15 s)", build_dir)
    load(
        name=f"bars_zoo_xnor_{tag}",
        sources=[str(SOURCE)],
        extra_cflags=compile_flags(),
        extra_ldflags=["-fopenmp"],
        build_directory=str(build_dir),
        is_python_module=False,
        verbose=False,
    )


_LOCK = threading.Lock()
_STATE: dict[str, object] = {}
_LIBS: list[torch.library.Library] = []


def _register_reference() -> None:
    lib = torch.library.Library("bars_zoo", "DEF")
    impls = {
        "pack_signs": reference_pack_signs,
        "pack_weight": reference_pack_weight,
        "bconv": reference_bconv,
        "bn_eval": reference_bn_eval,
    }
    for name, schema in SCHEMAS.items():
        lib.define(schema)
        lib.impl(name, impls[name], "CompositeExplicitAutograd")
    _LIBS.append(lib)


def _register_fakes() -> None:
    """Shape functions, so that ``torch.compile`` can trace through the operators."""

    @torch.library.register_fake("bars_zoo::pack_signs")
    def _(x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        return x.new_empty((b, -(-c // WORD_BITS), h, w), dtype=torch.int64)

    @torch.library.register_fake("bars_zoo::pack_weight")
    def _(w: Tensor) -> Tensor:
        o, c, k, _ = w.shape
        rows = -(-o // OUT_BLOCK) * OUT_BLOCK
        return w.new_empty((rows, k * k, -(-c // WORD_BITS)), dtype=torch.int64)

    @torch.library.register_fake("bars_zoo::bconv")
    def _(xp, wp, in_channels, kernel_size, stride, shift, beta, mean, var, gamma, bias, eps,
          mode, residual):  # fmt: skip
        b, _, h, w = xp.shape
        out = wp.shape[0] if mean is None else mean.shape[0]
        ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
        return xp.new_empty((b, out, ho, wo), dtype=torch.float32)

    @torch.library.register_fake("bars_zoo::bn_eval")
    def _(x, mean, var, gamma, bias, eps, mode):  # fmt: skip
        return torch.empty_like(x)


def load() -> str:
    """Make ``torch.ops.bars_zoo`` available; returns the backend name (see :func:`backend`).

    Builds (or loads the cached build of) the extension once per process; falls back to the
    reference implementation with a :class:`KernelFallbackWarning` when that fails.
    """
    with _LOCK:
        if "backend" in _STATE:
            return str(_STATE["backend"])
        reason = None
        if os.environ.get("BARS_ZOO_NO_EXT", "") not in ("", "0"):
            reason = "BARS_ZOO_NO_EXT is set"
        else:
            try:
                _build_extension()
            except Exception as err:  # compiler missing or failing, headers absent, ...
                log.debug("bars-zoo: building the XNOR kernel failed", exc_info=True)
                first = (str(err).strip().splitlines() or [""])[0][:200]
                reason = f"the C++ extension could not be built ({type(err).__name__}: {first})"
        if reason is None:
            backend = str(torch.ops.bars_zoo.isa())
        else:
            warnings.warn(
                f"bars-zoo: {reason}; deployed models use the pure-PyTorch reference kernels "
                "(exact, but slow). Install a C++ compiler (g++) and ninja for the fast path.",
                KernelFallbackWarning,
                stacklevel=2,
            )
            _register_reference()
            backend = "reference"
        _register_fakes()
        _STATE["backend"] = backend
        _STATE["mode"] = _calibrate_mode() if backend != "reference" else 3
        log.info("bars-zoo kernels: %s, epilogue mode %s", backend, _STATE["mode"])
        return backend


def backend() -> str:
    """``"avx512-vpopcntdq"``, ``"scalar-popcount"`` (compiled) or ``"reference"`` (pure PyTorch)."""
    return load()


def _calibrate_mode() -> int:
    """Which roundings (fused or not) make the compiled epilogue equal ``F.batch_norm`` here.

    PyTorch's CPU batch norm computes ``x * alpha + shift``; whether the compiler that built
    torch fused those multiply-adds depends on the build, so we measure it once.
    """
    gen = torch.Generator().manual_seed(0)
    c = 256
    x = torch.randn(3, c, 5, 7, generator=gen) * 10
    mean, bias = torch.randn(c, generator=gen) * 3, torch.randn(c, generator=gen)
    var, gamma = torch.rand(c, generator=gen) * 5 + 1e-3, torch.randn(c, generator=gen) * 2
    want = F.batch_norm(x, mean, var, gamma, bias, False, 0.0, 1e-5)
    for mode in (FUSED_SHIFT | FUSED_APPLY, 0, FUSED_SHIFT, FUSED_APPLY):
        got = torch.ops.bars_zoo.bn_eval(x, mean, var, gamma, bias, 1e-5, mode)
        if torch.equal(got, want):
            return mode
    warnings.warn(
        "bars-zoo: the compiled batch-norm epilogue does not reproduce this torch build's "
        "rounding; deployed outputs may differ from the emulated model by float rounding",
        KernelFallbackWarning,
        stacklevel=3,
    )
    return FUSED_SHIFT | FUSED_APPLY


def epilogue_mode() -> int:
    """The ``mode`` argument of ``bconv`` that reproduces ``F.batch_norm`` on this machine."""
    load()
    return int(_STATE["mode"])  # type: ignore[call-overload]


__all__ = [
    "KernelFallbackWarning",
    "backend",
    "build_tag",
    "cache_dir",
    "epilogue_mode",
    "load",
    "reference_bconv",
    "reference_bn_eval",
    "reference_pack_signs",
    "reference_pack_weight",
    "reference_unpack_weight",
]
