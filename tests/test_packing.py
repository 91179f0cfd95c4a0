"""The weights file: sign-bit packing, strict loading, pickle refusal, integrity checks."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save
from tiny_net import tiny_model

import bars_zoo
from bars_zoo.binary import BinaryConv2d
from bars_zoo.errors import IntegrityError, StateDictError, UnsafeFileError
from bars_zoo.packing import (
    binary_convs,
    load_tensors,
    pack_signs,
    read_weights,
    refuse_pickle,
    state_tensors,
    unpack_signs,
    weights_bytes,
)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 64, 1000])
def test_pack_signs_matches_numpy_packbits_msb_first(n):
    w = torch.randn(n)
    w[0] = 0.0  # sign(0) = +1 -> bit 1
    expected = np.packbits((w.numpy() >= 0).astype(np.uint8), bitorder="big")
    got = pack_signs(w)
    assert got.dtype == torch.uint8
    assert got.numel() == -(-n // 8)
    assert np.array_equal(got.numpy(), expected)


def test_pack_signs_bit_layout_is_documented_one():
    w = torch.tensor([1.0, -1.0, 0.0, -0.5, 2.0, -3.0, 1.0, 1.0, -1.0])
    assert pack_signs(w).tolist() == [0b10101011, 0b00000000]


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (5, 7, 1, 1), (1, 1, 1, 1), (3, 2, 3, 3)])
def test_unpack_signs_inverts_pack_signs(shape):
    w = torch.randn(shape)
    signs = unpack_signs(pack_signs(w), shape)
    assert torch.equal(signs, torch.where(w >= 0, 1.0, -1.0))


def test_packed_binary_part_is_one_32nd_of_float32():
    model = tiny_model()
    packed = state_tensors(model, packed=True)
    n_binary = sum(c.weight.numel() for c in binary_convs(model).values())
    bits_bytes = sum(v.numel() for k, v in packed.items() if k.endswith(".weight_bits"))
    assert bits_bytes == sum(-(-c.weight.numel() // 8) for c in binary_convs(model).values())
    assert bits_bytes * 32 <= n_binary * 4 + 32 * len(binary_convs(model))


@pytest.mark.parametrize("packed", [True, False])
def test_state_round_trip_reproduces_eval_outputs_exactly(packed):
    model = tiny_model()
    x = torch.randn(3, 1, 10, 10)
    with torch.no_grad():
        expected = model(x)
    other = tiny_model(seed=1)
    load_tensors(other, state_tensors(model, packed=packed), packed=packed)
    with torch.no_grad():
        assert torch.equal(other(x), expected)
    frozen = [c.frozen_scale is not None for c in binary_convs(other).values()]
    assert all(frozen) if packed else not any(frozen)


def test_repacking_a_packed_model_gives_the_same_bytes():
    model = tiny_model()
    spec = model.spec
    first = weights_bytes(model, spec, packed=True, version="x")
    other = tiny_model(seed=3)
    load_tensors(other, state_tensors(model, packed=True), packed=True)
    assert weights_bytes(other, spec, packed=True, version="x") == first


def test_load_tensors_names_missing_unexpected_and_misshaped_tensors():
    model = tiny_model()
    tensors = state_tensors(model, packed=True)
    del tensors["head.fc.bias"]
    tensors["head.extra"] = torch.zeros(1)
    tensors["stem.conv.weight"] = torch.zeros(8, 1, 5, 5)
    with pytest.raises(StateDictError, match=r"missing 1: head\.fc\.bias") as err:
        load_tensors(tiny_model(), tensors, packed=True)
    assert "unexpected 1: head.extra" in str(err.value)
    assert "mis-shaped 1: stem.conv.weight" in str(err.value)


def test_load_tensors_rejects_packed_shape_of_another_architecture():
    model = tiny_model()
    tensors = state_tensors(model, packed=True)
    path = next(iter(binary_convs(model)))
    tensors[f"{path}.weight_shape"] = torch.tensor([8, 8, 1, 9])
    with pytest.raises(StateDictError, match="weight_shape says"):
        load_tensors(tiny_model(), tensors, packed=True)


def test_load_tensors_rejects_unpacked_weights_declared_packed():
    model = tiny_model()
    with pytest.raises(StateDictError, match="weight_bits"):
        load_tensors(tiny_model(), state_tensors(model, packed=False), packed=True)


def test_weights_file_metadata_records_format_version_genotype_and_packing(tmp_path):
    model = tiny_model()
    path = tmp_path / "model.safetensors"
    path.write_bytes(weights_bytes(model, model.spec, packed=True, version="9.9"))
    _, meta = read_weights(path)
    assert meta["bars_zoo_format"] == "1"
    assert meta["bars_zoo_version"] == "9.9"
    assert meta["packed"] == "true"
    text = bars_zoo.format(model.spec).encode()
    assert meta["genotype_sha256"] == hashlib.sha256(text).hexdigest()


def test_read_weights_rejects_sha256_mismatch(tmp_path):
    model = tiny_model()
    path = tmp_path / "model.safetensors"
    path.write_bytes(weights_bytes(model, model.spec, packed=True, version="0"))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        read_weights(path, sha256="0" * 64)


def test_read_weights_rejects_truncated_file(tmp_path):
    model = tiny_model()
    data = weights_bytes(model, model.spec, packed=True, version="0")
    path = tmp_path / "model.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="truncated"):
        read_weights(path, size=len(data))
    with pytest.raises(IntegrityError, match=r"not a readable safetensors file|truncated"):
        read_weights(path)


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth", ".ckpt"])
def test_pickle_checkpoints_are_refused_by_name(tmp_path, suffix):
    path = tmp_path / f"pytorch_model{suffix}"
    path.write_bytes(b"anything")
    with pytest.raises(UnsafeFileError, match=r"pickle-based checkpoint.*arbitrary code"):
        refuse_pickle(path)


def test_torch_save_file_disguised_as_safetensors_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(UnsafeFileError, match=r"convert it once"):
        read_weights(path)


def test_safetensors_header_length_starting_like_a_pickle_is_accepted(tmp_path):
    # A header of 0x0280 bytes begins with 0x80 0x02, a pickle's first two bytes.
    for pad in range(700):
        data = st_save({"w": torch.zeros(1)}, metadata={"pad": "x" * pad})
        (n,) = struct.unpack("<Q", data[:8])
        if n == 0x280:
            break
    else:  # pragma: no cover - safetensors changed its header layout
        pytest.skip("could not produce a 640-byte header")
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    tensors, meta = read_weights(path)
    assert meta["pad"] == "x" * pad
    assert torch.equal(tensors["w"], torch.zeros(1))


def test_read_weights_rejects_a_corrupt_header(tmp_path):
    path = tmp_path / "model.safetensors"
    header = b"{not json" + b" " * 7
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(IntegrityError, match="corrupt safetensors header"):
        read_weights(path)


def test_binary_convs_finds_every_binary_convolution():
    model = tiny_model()
    found = binary_convs(model)
    assert found and all(isinstance(c, BinaryConv2d) for c in found.values())
    assert "cells.1.shortcut.conv_a" in found  # inside a bfr
    assert json.dumps(sorted(found))  # plain module paths
