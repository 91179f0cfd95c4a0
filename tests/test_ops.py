"""The op registry: every op of the language, its documented shapes and its exact forward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bars_zoo import spec as lang
from bars_zoo.binary import BinaryConv2d, sign
from bars_zoo.errors import SpecError
from bars_zoo.ops import (
    CELL_OPS,
    EDGE_OPS,
    BinaryConvBN,
    BinaryFactorizedReduce,
    FPConv1x1BN,
    adapt_channels,
    avg_pool_2x2,
    make_cell_op,
    make_edge_op,
    shift_one_pixel,
)

SIZES = [(6, 6), (7, 5)]  # even and odd, non-square
CHANNELS = [(4, 4), (4, 6), (6, 4)]  # same, up, down


def ref_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2/s2 mean over the pixels each window covers (loops: an independent oracle)."""
    b, c, h, w = x.shape
    oh, ow = -(-h // 2), -(-w // 2)
    out = torch.empty(b, c, oh, ow, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean(dim=(2, 3))
    return out


def ref_adapt(x: torch.Tensor, c_out: int) -> torch.Tensor:
    return x[:, [j % x.shape[1] for j in range(c_out)]]


def ref_shift(x: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(x)
    out[:, :, :-1, :-1] = x[:, :, 1:, 1:]
    return out


def ref_bconv_bn(conv: BinaryConv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    p = conv.padding
    xs = F.pad(sign(x), (p, p, p, p), value=1.0)
    wq = conv.weight.detach().abs().mean() * sign(conv.weight.detach())
    return bn(F.conv2d(xs, wq, stride=conv.stride))


def bfr_is_valid(c_out: int, stride: int) -> bool:
    return stride == 2 and c_out % 2 == 0


# --------------------------------------------------------------------------- registry


def test_edge_op_registry_matches_the_language_vocabulary() -> None:
    assert set(EDGE_OPS) == set(lang.EDGE_OPS)


def test_cell_op_registry_matches_the_language_vocabulary() -> None:
    assert set(CELL_OPS) == set(lang.CELL_OPS)


def test_parameter_free_ops_have_no_parameters() -> None:
    for name in lang.PARAM_FREE_OPS & set(EDGE_OPS):
        assert not list(make_edge_op(name, 4, True).parameters()), name
    for name in lang.PARAM_FREE_OPS & set(CELL_OPS):
        assert not list(make_cell_op(name, 4, 6, 2).parameters()), name


@pytest.mark.parametrize("name", sorted(lang.BINARY_OPS & set(CELL_OPS)))
def test_binary_ops_hold_binary_convs(name: str) -> None:
    op = make_cell_op(name, 4, 6, 2)
    assert any(isinstance(m, BinaryConv2d) for m in op.modules())
    assert not any(isinstance(m, nn.Conv2d) for m in op.modules())


def test_unknown_edge_op_is_a_spec_error_with_a_suggestion() -> None:
    with pytest.raises(SpecError, match=r"unknown edge op 'bconv33'[\s\S]*did you mean 'bconv3x3'"):
        make_edge_op("bconv33", 4, False)


def test_unknown_cell_op_is_a_spec_error_with_a_suggestion() -> None:
    with pytest.raises(SpecError, match=r"unknown cell op 'idenity'[\s\S]*did you mean 'identity'"):
        make_cell_op("idenity", 4, 4, 1)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("op_shortcut", [False, True])
@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("name", sorted(EDGE_OPS))
def test_edge_op_keeps_the_shape(name: str, hw: tuple[int, int], op_shortcut: bool) -> None:
    x = torch.randn(2, 4, *hw)
    assert make_edge_op(name, 4, op_shortcut)(x).shape == x.shape


CELL_OP_CASES = [
    (name, hw, channels, stride)
    for name in sorted(CELL_OPS)
    for hw in SIZES
    for channels in CHANNELS
    for stride in (1, 2)
    if name != "bfr" or bfr_is_valid(channels[1], stride)  # invalid bfr: tested below
]


@pytest.mark.parametrize(("name", "hw", "channels", "stride"), CELL_OP_CASES)
def test_cell_op_output_shape_is_c_out_by_ceil_h_over_stride(
    name: str, hw: tuple[int, int], channels: tuple[int, int], stride: int
) -> None:
    c_in, c_out = channels
    h, w = hw
    y = make_cell_op(name, c_in, c_out, stride)(torch.randn(2, c_in, h, w))
    assert y.shape == (2, c_out, -(-h // stride), -(-w // stride))


@pytest.mark.parametrize(("c_out", "stride"), [(6, 1), (5, 2)])
def test_bfr_rejects_stride_one_and_odd_width(c_out: int, stride: int) -> None:
    with pytest.raises(SpecError, match="'bfr' needs stride 2 and an even output width"):
        make_cell_op("bfr", 4, c_out, stride)


# --------------------------------------------------------------------------- exact forwards


@pytest.mark.parametrize("hw", SIZES)
def test_avg_pool_2x2_averages_what_each_window_covers(hw: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    torch.testing.assert_close(avg_pool_2x2(x), ref_avg_pool(x))


def test_shift_one_pixel_moves_up_left_with_zero_fill() -> None:
    x = torch.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    assert shift_one_pixel(x)[0, 0].tolist() == [
        [6.0, 7.0, 8.0, 0.0],
        [10.0, 11.0, 12.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]


@pytest.mark.parametrize(("c_in", "c_out"), [(3, 3), (3, 7), (3, 6), (5, 2), (2, 9)])
def test_adapt_channels_tiles_then_truncates(c_in: int, c_out: int) -> None:
    x = torch.arange(float(c_in)).reshape(1, c_in, 1, 1).expand(2, c_in, 3, 3)
    y = adapt_channels(x, c_out)
    assert y[0, :, 0, 0].tolist() == [float(j % c_in) for j in range(c_out)]
    assert torch.equal(y, ref_adapt(x, c_out))


def test_adapt_channels_returns_the_input_when_widths_match() -> None:
    x = torch.randn(1, 4, 2, 2)
    assert adapt_channels(x, 4) is x


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("hw", SIZES)
def test_identity_at_stride_two_is_avg_pool_then_adapt(
    hw: tuple[int, int], channels: tuple[int, int]
) -> None:
    c_in, c_out = channels
    x = torch.randn(2, c_in, *hw, dtype=torch.float64)
    torch.testing.assert_close(
        make_cell_op("identity", c_in, c_out, 2)(x), ref_adapt(ref_avg_pool(x), c_out)
    )
    torch.testing.assert_close(make_cell_op("identity", c_in, c_out, 1)(x), ref_adapt(x, c_out))


def test_shortcut_edge_returns_its_input() -> None:
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(make_edge_op("shortcut", 4, False)(x), x)


@pytest.mark.parametrize("stride", [1, 2])
def test_none_gives_zeros_of_the_output_shape(stride: int) -> None:
    x = torch.randn(2, 4, 7, 6)
    y = make_cell_op("none", 4, 6, stride)(x)
    assert y.shape == (2, 6, -(-7 // stride), 6 // stride) and not y.any()
    e = make_edge_op("none", 4, True)(x)
    assert e.shape == x.shape and not e.any()


@pytest.mark.parametrize("op_shortcut", [False, True])
@pytest.mark.parametrize("name", ["bconv3x3", "bconv1x1"])
def test_binary_edge_op_is_bn_of_bconv_plus_op_shortcut(name: str, op_shortcut: bool) -> None:
    torch.manual_seed(0)
    op = make_edge_op(name, 4, op_shortcut).double()
    assert isinstance(op, BinaryConvBN)
    assert op.op_shortcut is op_shortcut
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    expected = ref_bconv_bn(op.conv, op.bn, x) + (x if op_shortcut else 0)
    torch.testing.assert_close(op(x), expected)


@pytest.mark.parametrize("name", ["bconv3x3", "bconv1x1"])
def test_cell_op_convs_never_carry_an_op_shortcut(name: str) -> None:
    op = make_cell_op(name, 4, 4, 1)
    assert isinstance(op, BinaryConvBN) and op.op_shortcut is False


@pytest.mark.parametrize("hw", SIZES)
def test_bfr_equals_its_hand_written_composition(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    op = make_cell_op("bfr", 3, 8, 2).double()
    assert isinstance(op, BinaryFactorizedReduce) and op.half_channels == 4
    for bn in (op.bn_a, op.bn_b):  # non-trivial affine so a swapped BN would show
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -0.5, 0.5)
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    xs = ref_shift(x)
    a = ref_bconv_bn(op.conv_a, op.bn_a, x) + ref_adapt(ref_avg_pool(x), 4)
    b = ref_bconv_bn(op.conv_b, op.bn_b, xs) + ref_adapt(ref_avg_pool(xs), 4)
    torch.testing.assert_close(op(x), torch.cat([a, b], dim=1))
    assert (op.conv_a.stride, op.conv_a.kernel_size, op.conv_a.out_channels) == (2, 3, 4)


@pytest.mark.parametrize("stride", [1, 2])
def test_fp_conv1x1_is_bn_of_full_precision_conv_after_pool(stride: int) -> None:
    torch.manual_seed(0)
    op = make_cell_op("conv1x1", 3, 5, stride).double()
    assert isinstance(op, FPConv1x1BN)
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    pooled = ref_avg_pool(x) if stride == 2 else x
    torch.testing.assert_close(op(x), op.bn(F.conv2d(pooled, op.conv.weight)))


@pytest.mark.parametrize("name", sorted(CELL_OPS))
def test_every_cell_op_backpropagates_to_its_input_and_parameters(name: str) -> None:
    op = make_cell_op(name, 4, 6, 2)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    y = op(x)
    if name == "none":
        assert not y.requires_grad
        return
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for p in op.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
