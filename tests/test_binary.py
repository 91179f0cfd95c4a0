"""Oracle tests for the binary convolution: ours vs plain float PyTorch, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bars_zoo.binary import (
    BinaryConv2d,
    binarize_activation,
    binarize_weight,
    sign,
    weight_scale,
)

SHAPES = [  # (kernel, stride, H, W)
    (3, 1, 6, 6),
    (3, 1, 5, 7),
    (3, 2, 6, 6),
    (3, 2, 7, 5),
    (1, 1, 5, 5),
    (1, 2, 7, 6),
]


def ref_sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def make_conv(k: int, stride: int, c_in: int = 3, c_out: int = 4) -> BinaryConv2d:
    torch.manual_seed(0)
    return BinaryConv2d(c_in, c_out, k, stride).double()


def oracle(conv: BinaryConv2d, x: torch.Tensor, beta: torch.Tensor | float) -> torch.Tensor:
    """``F.conv2d(sign(x zero-padded), sign(W)) * beta``: the padding made explicit."""
    p = conv.kernel_size // 2
    xs = ref_sign(F.pad(x, (p, p, p, p), value=0.0))  # zero-pad *before* sign = +1 padding
    return F.conv2d(xs, ref_sign(conv.weight.detach()), stride=conv.stride) * beta


def test_sign_maps_zero_and_negative_zero_to_plus_one() -> None:
    x = torch.tensor([-3.0, -1e-30, -0.0, 0.0, 1e-30, 2.0])
    assert sign(x).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_sign_is_exactly_plus_or_minus_one_and_keeps_dtype(dtype: torch.dtype) -> None:
    x = torch.randn(1000).to(dtype)
    x[::7] = 0
    s = sign(x)
    assert s.dtype == dtype
    assert torch.equal(s, ref_sign(x))


@pytest.mark.parametrize(("k", "stride", "h", "w"), SHAPES)
def test_binary_conv_on_pm1_input_equals_float_conv_with_sign_weights_times_beta(
    k: int, stride: int, h: int, w: int
) -> None:
    conv = make_conv(k, stride)
    x = ref_sign(torch.randn(2, 3, h, w, dtype=torch.float64))
    beta = conv.weight.detach().abs().mean()
    y = conv(x)
    assert y.shape == (2, 4, -(-h // stride), -(-w // stride))
    torch.testing.assert_close(y, oracle(conv, x, beta), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("k", "stride", "h", "w"), SHAPES)
def test_binary_conv_binarizes_real_input_and_pads_sign_with_plus_one(
    k: int, stride: int, h: int, w: int
) -> None:
    conv = make_conv(k, stride)
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    x[0, 0, 0, :2] = 0.0  # sign(0) = +1 inside the image too
    p = k // 2
    padded_after_sign = F.pad(ref_sign(x), (p, p, p, p), value=1.0)
    expected = F.conv2d(padded_after_sign, binarize_weight(conv.weight.detach()), stride=stride)
    torch.testing.assert_close(conv(x), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(conv(x), oracle(conv, x, weight_scale(conv.weight)))


def test_plus_one_padding_counts_at_the_corner() -> None:
    conv = BinaryConv2d(1, 1, 3, 1).double()
    with torch.no_grad():
        conv.weight.fill_(0.5)  # sign(W) = +1, beta = 0.5
    y = conv(-torch.ones(1, 1, 4, 4, dtype=torch.float64))
    # corner window: 5 padded +1 and 4 pixels of -1 -> 0.5 * (5 - 4); edge: 3 - 6; inside: -9
    assert y[0, 0, 0, 0].item() == 0.5
    assert y[0, 0, 0, 1].item() == -1.5
    assert y[0, 0, 1, 1].item() == -4.5


def test_binary_conv_output_over_beta_is_an_integer_count() -> None:
    conv = make_conv(3, 1, c_in=8, c_out=8)
    y = conv(torch.randn(2, 8, 5, 5, dtype=torch.float64)) / conv.scale()
    torch.testing.assert_close(y, y.round(), rtol=0, atol=1e-9)


def test_binarized_weights_are_exactly_plus_or_minus_beta() -> None:
    w = torch.randn(64, 32, 3, 3) * 0.05
    q = binarize_weight(w)
    beta = w.abs().double().mean().float()  # summed in float64, rounded once
    assert set(q.unique().tolist()) == {-beta.item(), beta.item()}
    assert weight_scale(w).item() == beta.item()


def test_activation_gradient_is_clipped_identity_including_the_ends() -> None:
    x = torch.tensor([-2.0, -1.0000001, -1.0, -0.3, 0.0, 0.7, 1.0, 1.5], requires_grad=True)
    g = torch.arange(1.0, 9.0)
    (grad,) = torch.autograd.grad(binarize_activation(x), x, g)
    assert grad.tolist() == [0.0, 0.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0]


def test_weight_gradient_is_identity_straight_through() -> None:
    w = torch.randn(10, requires_grad=True)
    g = torch.randn(10)
    (grad,) = torch.autograd.grad(binarize_weight(w), w, g)
    assert torch.equal(grad, g)


@pytest.mark.parametrize(("k", "stride", "h", "w"), SHAPES)
def test_binary_conv_gradients_equal_their_formulas(k: int, stride: int, h: int, w: int) -> None:
    """dL/dx = dL/dsign(x) * 1{|x| <= 1};  dL/dW = dL/dW_q with W_q = beta * sign(W)."""
    conv = make_conv(k, stride)
    x = (torch.randn(2, 3, h, w, dtype=torch.float64) * 1.5).requires_grad_()
    g = torch.randn(2, 4, -(-h // stride), -(-w // stride), dtype=torch.float64)
    gx, gw = torch.autograd.grad(conv(x), (x, conv.weight), g)

    p = k // 2
    xb = ref_sign(x.detach()).requires_grad_()
    wq = (conv.weight.detach().abs().mean() * ref_sign(conv.weight.detach())).requires_grad_()
    y_ref = F.conv2d(F.pad(xb, (p, p, p, p), value=1.0), wq, stride=stride)
    gxb, gwq = torch.autograd.grad(y_ref, (xb, wq), g)
    torch.testing.assert_close(gx, gxb * (x.detach().abs() <= 1))
    torch.testing.assert_close(gw, gwq)
    assert (gx[x.detach().abs() > 1] == 0).all()


def test_frozen_scale_is_used_exactly_in_eval_and_ignored_in_train() -> None:
    conv = make_conv(3, 1)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    beta = 0.123456789
    conv.freeze_scale(beta)
    conv.eval()
    assert conv.scale().item() == beta
    torch.testing.assert_close(conv(x), oracle(conv, x, beta), rtol=0, atol=1e-12)
    conv.train()
    assert conv.scale().item() == conv.weight.abs().mean().item()
    torch.testing.assert_close(conv(x), oracle(conv, x, conv.weight.detach().abs().mean()))
    conv.freeze_scale(None)
    conv.eval()
    assert conv.scale().item() == conv.weight.abs().mean().item()


def test_beta_does_not_depend_on_the_number_of_threads() -> None:
    w = torch.randn(512, 512, 3, 3)
    threads = torch.get_num_threads()
    try:
        betas = set()
        for n in (1, 2, 3, 4):
            torch.set_num_threads(n)
            betas.add(weight_scale(w).item())
    finally:
        torch.set_num_threads(threads)
    assert len(betas) == 1


def test_restored_weights_have_their_beta_as_mean_abs_exactly() -> None:
    beta = torch.tensor(0.0123456789)
    w = beta * torch.randn(256, 128, 3, 3).sign()
    assert weight_scale(w).item() == beta.item()


def test_a_frozen_scale_only_holds_for_the_weights_it_was_frozen_for() -> None:
    conv = make_conv(3, 1)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    conv.freeze_scale(0.5)
    conv.eval()
    frozen_weights = conv.weight.detach().clone()
    assert conv.scale().item() == 0.5
    with torch.no_grad():  # other weights: loaded, trained or edited
        conv.weight.mul_(3.0)
    assert conv.scale().item() == conv.weight.abs().mean().item()
    torch.testing.assert_close(conv(x), oracle(conv, x, conv.weight.detach().abs().mean()))
    conv.load_state_dict({"weight": frozen_weights})  # back to the weights it was frozen for
    assert conv.scale().item() == 0.5


def test_frozen_scale_is_not_in_the_state_dict() -> None:
    conv = make_conv(3, 1)
    conv.freeze_scale(0.5)
    assert set(conv.state_dict()) == {"weight"}


def test_frozen_scale_follows_the_module_dtype() -> None:
    conv = make_conv(3, 1)
    conv.freeze_scale(torch.tensor(0.25, dtype=torch.float32, requires_grad=True))
    assert conv.frozen_scale is not None
    assert conv.frozen_scale.dtype == torch.float64
    assert not conv.frozen_scale.requires_grad


def test_binary_conv_exposes_its_geometry() -> None:
    conv = BinaryConv2d(3, 5, 3, 2)
    assert (conv.kernel_size, conv.stride, conv.padding) == (3, 2, 1)
    assert conv.weight.shape == (5, 3, 3, 3)
    assert conv.frozen_scale is None
    assert "(+1)" in repr(conv)
