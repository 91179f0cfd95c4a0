"""The weights file: safetensors with 1-bit packed binary convolutions, read strictly and safely.

A :class:`~bars_zoo.binary.BinaryConv2d` at module path ``P`` evaluates with ``beta * sign(W)``
(XNOR-Net, Rastegari et al. 2016; one scale per layer as in BARS, Zhao et al. 2021, Eq. 1), so its
eval-mode behaviour is fixed by the sign bits and ``beta``.  Packed files store, instead of the
float ``P.weight``::

    P.weight_bits   uint8 [ceil(n / 8)]   sign bits of W flattened in C order (out, in, kh, kw);
                                          bit = 1 for +1 (W >= 0), 0 for -1; MSB first: element 8j
                                          is bit 7 of byte j; the last byte's spare low bits are 0
    P.weight_beta   float32 []            beta = mean(|W|), exactly as the model used it
    P.weight_shape  int64 [4]             the shape of W

Every other tensor (stem, head, batch norm, FP ``conv1x1``) is stored unchanged.  Loading sets
``W = beta * sign`` and freezes ``beta`` (:meth:`BinaryConv2d.freeze_scale`), so eval-mode outputs
equal the original model's bit for bit.  ``packed=False`` files hold the latent float ``P.weight``
(for further training).  The file's ``__metadata__`` records the format, the bars-zoo version, the
sha256 of the canonical genotype text and whether it is packed.  Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from bars_zoo._read import open_regular, read_regular
from bars_zoo.binary import BinaryConv2d
from bars_zoo.errors import IntegrityError, StateDictError, UnsafeFileError
from bars_zoo.registry import genotype_sha256  # torch-free, so `bars-zoo list` can check folders
from bars_zoo.spec import NetworkSpec

WEIGHTS_FORMAT = "1"
BITS, BETA, SHAPE = "weight_bits", "weight_beta", "weight_shape"
#: Extensions of pickle-based checkpoints, which can run arbitrary code when loaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_MAX_HEADER = 64 * 1024 * 1024
_MSB_FIRST = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)
#: byte value -> its 8 signs, MSB first: (256, 8) of +1.0 / -1.0
_SIGN_TABLE = torch.where(
    torch.arange(256, dtype=torch.uint8).view(-1, 1) & _MSB_FIRST != 0, 1.0, -1.0
)


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- bits


def pack_signs(w: Tensor) -> Tensor:
    """Sign bits of ``w`` (1 for ``w >= 0``), flattened in C order, 8 per byte, MSB first."""
    bits = (w.detach().flatten() >= 0).to(torch.uint8).cpu()
    pad = (-bits.numel()) % 8
    if pad:
        bits = torch.cat([bits, bits.new_zeros(pad)])
    return (bits.view(-1, 8) * _MSB_FIRST).sum(dim=1, dtype=torch.uint8)  # (ceil(n/8),)


def unpack_signs(packed: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``+1.0/-1.0`` float32 tensor of ``shape`` from :func:`pack_signs` bytes."""
    n = 1
    for s in shape:
        n *= s
    return _SIGN_TABLE[packed.long()].flatten()[:n].view(shape)  # (ceil(n/8), 8) -> shape


def binary_convs(model: nn.Module) -> dict[str, BinaryConv2d]:
    """``module path -> BinaryConv2d`` for every binary convolution in ``model``."""
    return {n: m for n, m in model.named_modules() if isinstance(m, BinaryConv2d)}


# --------------------------------------------------------------------------- save


def state_tensors(model: nn.Module, *, packed: bool) -> dict[str, Tensor]:
    """The tensors to store for ``model`` (see the module docstring for the packed keys).  Floats
    are stored as float32, the format's dtype, whatever the model was cast to (``.half()``)."""
    state = {
        k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    if not packed:
        return state
    for path, conv in binary_convs(model).items():
        w = state.pop(f"{path}.weight")
        beta = conv.eval_scale()  # the frozen beta while the weights are those it belongs to
        state[f"{path}.{BITS}"] = pack_signs(w)
        state[f"{path}.{BETA}"] = beta.detach().to(torch.float32).cpu().reshape(())
        state[f"{path}.{SHAPE}"] = torch.tensor(list(w.shape), dtype=torch.int64)
    return state


def weights_bytes(model: nn.Module, spec: NetworkSpec, *, packed: bool, version: str) -> bytes:
    """The ``model.safetensors`` bytes for ``model`` with bars-zoo metadata."""
    metadata = {
        "format": "pt",
        "bars_zoo_format": WEIGHTS_FORMAT,
        "bars_zoo_version": version,
        "architecture": spec.name,
        "genotype_sha256": genotype_sha256(spec),
        "packed": "true" if packed else "false",
    }
    return _canonical_header(st_save(state_tensors(model, packed=packed), metadata=metadata))


def _canonical_header(raw: bytes) -> bytes:
    """The same file with its metadata keys sorted, so equal models give equal bytes (safetensors
    writes metadata in hash-map order, which changes from call to call)."""
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    text = json.dumps({"__metadata__": dict(sorted(meta.items())), **header}, separators=(",", ":"))
    h = text.encode("utf-8")
    h += b" " * (-len(h) % 8)  # keep the data 8-byte aligned, as safetensors does
    return struct.pack("<Q", len(h)) + h + raw[8 + n :]


# --------------------------------------------------------------------------- read


def refuse_pickle(path: Path) -> None:
    """Raise :class:`UnsafeFileError` for a pickle checkpoint (by name or by content)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise UnsafeFileError(_pickle_msg(path), hint=_CONVERT_HINT)
    try:
        with open_regular(path) as f:  # a FIFO, a device: refused, not waited on
            head = f.read(9)
    except OSError:
        return
    # torch.save writes a zip ("PK..") or a bare pickle (0x80 then the protocol); a safetensors
    # file whose header length happens to start with those bytes has its JSON '{' at byte 8.
    zipped = head[:4] == b"PK\x03\x04"
    pickled = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if zipped or (pickled and head[8:9] != b"{"):
        raise UnsafeFileError(_pickle_msg(path), hint=_CONVERT_HINT)


def _pickle_msg(path: Path) -> str:
    return (
        f"refusing to load {path}: it is a pickle-based checkpoint, and unpickling can run "
        "arbitrary code hidden in the file"
    )


_CONVERT_HINT = (
    "convert it once, from a source you trust: "
    "`m = bars_zoo.build(spec); m.load_state_dict(torch.load(f, weights_only=True)); "
    "bars_zoo.save_pretrained(m, DIR)` writes model.safetensors"
)


def read_weights(
    path: Path, *, sha256: str | None = None, size: int | None = None
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, after checking its size and sha256."""
    refuse_pickle(path)
    data = read_regular(path)
    if size is not None and len(data) != size:
        raise IntegrityError(
            f"{path} is {len(data)} bytes but {size} were recorded (truncated or replaced)",
            hint=_redownload_hint(path),
        )
    if sha256 is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise IntegrityError(
                f"sha256 mismatch for {path}: expected {sha256}, got {got}",
                hint=_redownload_hint(path),
            )
    metadata = _header_metadata(path, data)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise IntegrityError(f"{path} is not a readable safetensors file: {e}") from e
    return tensors, metadata


def _header_metadata(path: Path, data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise IntegrityError(f"{path} is {len(data)} bytes: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise IntegrityError(
            f"{path} is truncated or not a safetensors file (header of {n} bytes, file of "
            f"{len(data)})",
            hint=_redownload_hint(path),
        )
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IntegrityError(f"{path} has a corrupt safetensors header") from e
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def cached_repo(path: Path) -> Path | None:
    """The Hugging Face cache's ``models--ORG--NAME`` folder that holds ``path``, if any."""
    return next((p for p in path.parents if p.name.startswith("models--")), None)


def _redownload_hint(path: Path) -> str:
    repo = cached_repo(path)
    if repo is not None:  # a Hugging Face cache snapshot: its blobs would be reused as they are
        return f"the cached file is corrupt: delete {repo} and run `bars-zoo pull` again"
    return f"the file is corrupt or was changed: replace {path.parent} with a good copy"


# --------------------------------------------------------------------------- load


def load_tensors(model: nn.Module, tensors: dict[str, Tensor], *, packed: bool) -> None:
    """Load ``tensors`` into ``model`` strictly; packed binary weights are unpacked and frozen.

    Raises :class:`StateDictError` naming every missing, unexpected or mis-shaped tensor.
    """
    convs = binary_convs(model)
    expected = {k: v for k, v in model.state_dict().items()}
    plan: dict[str, tuple[Tensor, Tensor]] = {}  # conv path -> (bits, beta)
    if packed:
        for path in convs:
            w = expected.pop(f"{path}.weight")
            expected[f"{path}.{BITS}"] = torch.empty(-(-w.numel() // 8), dtype=torch.uint8)
            expected[f"{path}.{BETA}"] = torch.empty((), dtype=torch.float32)
            expected[f"{path}.{SHAPE}"] = torch.empty(4, dtype=torch.int64)
    _check_keys(expected, tensors)
    if packed:
        for path, conv in convs.items():
            shape = tuple(int(s) for s in tensors[f"{path}.{SHAPE}"].tolist())
            if shape != tuple(conv.weight.shape):
                raise StateDictError(
                    f"{path}.{SHAPE} says {list(shape)} but the model has "
                    f"{list(conv.weight.shape)}",
                    hint="the weights belong to a different architecture",
                )
            beta = tensors[f"{path}.{BETA}"]
            if not torch.isfinite(beta) or beta < 0:
                raise IntegrityError(f"{path}.{BETA} is {beta.item()}, not a finite scale >= 0")
            plan[path] = (tensors[f"{path}.{BITS}"], beta)
    keys = set(model.state_dict())
    state = {k: v for k, v in tensors.items() if k in keys}
    with torch.no_grad():
        for path, (bits, beta) in plan.items():
            conv = convs[path]
            signs = unpack_signs(bits, tuple(conv.weight.shape))
            state[f"{path}.weight"] = (beta * signs).to(conv.weight.dtype)
        model.load_state_dict(state, strict=True)
        for path, (_, beta) in plan.items():
            convs[path].freeze_scale(beta)


def _check_keys(expected: dict[str, Tensor], got: dict[str, Tensor]) -> None:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = [
        f"{k}: file {list(got[k].shape)} {_dt(got[k])}, model {list(v.shape)} {_dt(v)}"
        for k, v in expected.items()
        if k in got and (got[k].shape != v.shape or got[k].dtype != v.dtype)
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: {_some(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)}: {_some(unexpected)}")
    if wrong:
        parts.append(f"mis-shaped {len(wrong)}: {_some(wrong)}")
    raise StateDictError(
        "the weights do not fit the architecture: " + "; ".join(parts),
        hint="load them with the genotype they were saved with (genotype.geno beside them)",
    )


def _dt(t: Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def _some(items: list[str], k: int = 6) -> str:
    return ", ".join(items[:k]) + (f", ... ({len(items) - k} more)" if len(items) > k else "")


def metadata_flag(meta: dict[str, Any], path: Path) -> bool:
    """The ``packed`` flag of a weights file's metadata (raises if absent or odd)."""
    flag = meta.get("packed")
    if flag not in ("true", "false"):
        raise IntegrityError(
            f"{path} has no bars-zoo 'packed' metadata",
            hint="write weights with bars_zoo.save_pretrained",
        )
    return flag == "true"


__all__ = [
    "PICKLE_SUFFIXES",
    "WEIGHTS_FORMAT",
    "binary_convs",
    "cached_repo",
    "file_sha256",
    "genotype_sha256",
    "load_tensors",
    "metadata_flag",
    "pack_signs",
    "read_weights",
    "refuse_pickle",
    "state_tensors",
    "unpack_signs",
    "weights_bytes",
]
