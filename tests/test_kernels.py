"""The XNOR-popcount kernels against their oracles: the emulated BinaryConv2d and F.batch_norm."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bars_zoo import kernels
from bars_zoo.binary import BinaryConv2d, sign
from bars_zoo.ops import shift_one_pixel

BACKEND = kernels.load()
ops = torch.ops.bars_zoo
ROOT = Path(__file__).resolve().parents[1]


def activations(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Random activations with exact zeros and negative zeros (sign(0) = sign(-0.0) = +1)."""
    x = torch.randn(*shape, generator=gen)
    x[x.abs() < 0.2] = 0.0
    x[(x.abs() > 0.2) & (x.abs() < 0.3)] = -0.0
    return x


def emulated_dot(x: torch.Tensor, w: torch.Tensor, stride: int, shift: int) -> torch.Tensor:
    """The training-time binary conv with beta = 1: exactly the integer dot product."""
    conv = BinaryConv2d(w.shape[1], w.shape[0], w.shape[2], stride).eval()
    with torch.no_grad():
        conv.weight.copy_(w)
        conv.freeze_scale(1.0)
        return conv(shift_one_pixel(x) if shift else x)


conv_shapes = st.fixed_dictionaries(
    {
        "batch": st.integers(1, 2),
        "c_in": st.integers(1, 140),
        "c_out": st.integers(1, 19),
        "height": st.integers(1, 11),
        "width": st.integers(1, 19),
        "kernel": st.sampled_from([1, 3]),
        "stride": st.sampled_from([1, 2]),
        "shift": st.sampled_from([0, 1]),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_shapes)
def test_kernel_dot_equals_emulated_binary_conv_for_random_shapes(s: dict[str, int]) -> None:
    gen = torch.Generator().manual_seed(s["seed"])
    x = activations(gen, s["batch"], s["c_in"], s["height"], s["width"])
    w = torch.randn(s["c_out"], s["c_in"], s["kernel"], s["kernel"], generator=gen)
    xp, wp = ops.pack_signs(x), ops.pack_weight(w)
    assert torch.equal(xp, kernels.reference_pack_signs(x))
    assert torch.equal(wp, kernels.reference_pack_weight(w))
    got = ops.bconv(
        xp, wp, s["c_in"], s["kernel"], s["stride"], s["shift"], 1.0,
        None, None, None, None, 1e-5, 0, None,
    )  # fmt: skip
    ref = kernels.reference_bconv(
        xp, wp, s["c_in"], s["kernel"], s["stride"], s["shift"], 1.0,
        None, None, None, None, 1e-5, 0, None,
    )  # fmt: skip
    want = emulated_dot(x, w, s["stride"], s["shift"])
    assert torch.equal(got[:, : s["c_out"]], want)
    assert torch.equal(ref[:, : s["c_out"]], want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_shapes)
def test_kernel_epilogue_equals_reference_batch_norm_bit_for_bit(s: dict[str, int]) -> None:
    gen = torch.Generator().manual_seed(s["seed"])
    x = activations(gen, s["batch"], s["c_in"], s["height"], s["width"])
    w = torch.randn(s["c_out"], s["c_in"], s["kernel"], s["kernel"], generator=gen)
    o = s["c_out"]
    mean, bias = torch.randn(o, generator=gen), torch.randn(o, generator=gen)
    var, gamma = torch.rand(o, generator=gen) + 0.05, torch.randn(o, generator=gen)
    ho, wo = (s["height"] - 1) // s["stride"] + 1, (s["width"] - 1) // s["stride"] + 1
    residual = torch.randn(s["batch"], o, ho, wo, generator=gen)
    beta = float(torch.rand((), generator=gen)) + 0.01
    args = (ops.pack_signs(x), ops.pack_weight(w), s["c_in"], s["kernel"], s["stride"], s["shift"])
    for res in (None, residual):
        bn = (beta, mean, var, gamma, bias, 1e-5, kernels.epilogue_mode(), res)
        got = ops.bconv(*args, *bn)
        want = kernels.reference_bconv(*args, *bn)
        assert got.shape == (s["batch"], o, ho, wo)
        assert torch.equal(got, want)


@pytest.mark.parametrize("c_in", [1, 63, 64, 65, 128, 130])
def test_kernel_masks_channels_not_divisible_by_64(c_in: int) -> None:
    gen = torch.Generator().manual_seed(c_in)
    x = activations(gen, 2, c_in, 5, 6)
    w = torch.randn(9, c_in, 3, 3, generator=gen)
    got = ops.bconv(
        ops.pack_signs(x), ops.pack_weight(w), c_in, 3, 1, 0, 1.0,
        None, None, None, None, 1e-5, 0, None,
    )  # fmt: skip
    assert torch.equal(got[:, :9], emulated_dot(x, w, 1, 0))
    assert ops.pack_signs(x).shape == (2, -(-c_in // 64), 5, 6)


def test_pack_signs_follows_the_sign_rule_for_zero_and_nan() -> None:
    x = torch.tensor([0.0, -0.0, 1.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-30])
    x = x.view(1, 8, 1, 1)
    bits = int(ops.pack_signs(x).item())
    negative = [(bits >> j) & 1 == 1 for j in range(8)]
    assert negative == (sign(x.flatten()) < 0).tolist()
    assert negative[:4] == [False, False, False, True]  # sign(0) = sign(-0.0) = +1


def test_epilogue_mode_reproduces_torch_batch_norm_on_this_build() -> None:
    gen = torch.Generator().manual_seed(3)
    for shape in [(2, 96, 7, 9), (5, 40, 1, 1), (1, 8, 33, 2)]:
        c = shape[1]
        x = torch.randn(*shape, generator=gen) * 7
        p = [torch.randn(c, generator=gen) for _ in range(3)]
        var = torch.rand(c, generator=gen) * 3 + 1e-4
        got = ops.bn_eval(x, p[0], var, p[1], p[2], 1e-5, kernels.epilogue_mode())
        assert torch.equal(got, F.batch_norm(x, p[0], var, p[1], p[2], False, 0.0, 1e-5))


def test_kernel_rejects_an_unsupported_kernel_size() -> None:
    x = ops.pack_signs(torch.randn(1, 3, 4, 4))
    w = ops.pack_weight(torch.randn(8, 3, 3, 3))
    with pytest.raises(RuntimeError, match="kernel_size must be 1 or 3"):
        ops.bconv(x, w, 3, 5, 1, 0, 1.0, None, None, None, None, 1e-5, 0, None)


@pytest.mark.skipif(BACKEND == "reference", reason="the C++ extension is not built here")
def test_compiled_backend_uses_the_cpu_popcount() -> None:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    expected = "avx512-vpopcntdq" if " avx512_vpopcntdq" in flags else "scalar-popcount"
    assert expected == BACKEND


PROBE = textwrap.dedent(
    """
    import warnings, torch
    warnings.simplefilter("always")
    from bars_zoo import kernels
    from bars_zoo.binary import BinaryConv2d
    backend = kernels.load()
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 70, 7, 5, generator=g), torch.randn(6, 70, 3, 3, generator=g)
    ops = torch.ops.bars_zoo
    got = ops.bconv(ops.pack_signs(x), ops.pack_weight(w), 70, 3, 2, 1, 1.0,
                    None, None, None, None, 1e-5, 0, None)[:, :6]
    conv = BinaryConv2d(70, 6, 3, 2).eval()
    conv.weight.data.copy_(w); conv.freeze_scale(1.0)
    from bars_zoo.ops import shift_one_pixel
    with torch.no_grad():
        assert torch.equal(got, conv(shift_one_pixel(x)))
    print("BACKEND", backend)
    """
)


def run_probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "BARS_ZOO_EXT_DIR": str(tmp_path / "ext"), **env}
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=full, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    "env, reason",
    [
        ({"CXX": str(Path("/nonexistent/bin/g++"))}, "could not be built"),
        ({"BARS_ZOO_NO_EXT": "1"}, "BARS_ZOO_NO_EXT is set"),
    ],
)
def test_missing_compiler_falls_back_to_reference_with_a_warning(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    proc = run_probe(tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    assert "BACKEND reference" in proc.stdout
    assert "KernelFallbackWarning" in proc.stderr
    assert reason in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the portable build targets x86-64-v2")
def test_portable_scalar_kernel_matches_the_emulated_conv(tmp_path: Path) -> None:
    proc = run_probe(tmp_path, BARS_ZOO_EXT_ARCH="-march=x86-64-v2")
    assert proc.returncode == 0, proc.stderr
    assert "BACKEND scalar-popcount" in proc.stdout


def test_deploying_logs_no_cuda_home_warning() -> None:
    # torch logs "No CUDA runtime is found, using CUDA_HOME=..." when cpp_extension is imported on
    # a machine with a CUDA toolkit and no GPU; deploy's CPU kernel must not show it to users
    here = Path(__file__).resolve().parent
    code = "from tiny_net import tiny_model; import bars_zoo; bars_zoo.deploy(tiny_model())"
    env = {**os.environ, "PYTHONPATH": f"{here.parent}{os.pathsep}{here}"}
    env.pop("BARS_ZOO_NO_EXT", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "CUDA_HOME" not in done.stderr
