"""``bars_zoo.deploy``: packed XNOR-popcount models against the emulated models they come from."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import bars_zoo
from bars_zoo import kernels, registry
from bars_zoo._resources import resource_dir
from bars_zoo.binary import BinaryConv2d
from bars_zoo.cli import main
from bars_zoo.deploy import DeployedNet, PackedConvBN, deploy, load, save
from bars_zoo.errors import ConfigError, DeployError, UnknownModelError
from bars_zoo.folder import save_pretrained

GENOTYPES = sorted(resource_dir("genotypes").glob("*.geno"))
kernels.load()  # torch.ops.bars_zoo (compiled on first use, cached)
ops = torch.ops.bars_zoo

# Odd sizes, channels that are not multiples of 64, stride 2 on odd maps, bfr preprocess and
# shortcut, bconv1x1, the FP conv1x1 downsample, identity with channel tiling, an unused node.
ODD = """bars 1
name "odd"
input 3x11x9 classes=5
stem conv3x3 channels=70 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv1x1
  n3 <- n1: bconv3x3, n2: bconv3x3
}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=false {
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv3x3
}
cell fpdown stride=2 preprocess=bconv1x1 shortcut=conv1x1 op_shortcut=true {
  n1 <- in: bconv3x3
}
stage s1: channels=70 depth=1 cell=normal
downsample cell=reduce
stage s2: channels=130 depth=1 cell=normal
downsample cell=fpdown
stage s3: channels=66 depth=1 cell=normal
head avgpool linear
"""


def short_mantissa(beta: float, bits: int = 8) -> float:
    """``beta`` rounded to ``bits`` significant bits: every sum of up to 2**15 terms ``+-beta`` is
    then exact in float32, so the emulated float conv has no rounding of its own."""
    e = math.floor(math.log2(beta))
    return round(beta / 2**e * 2 ** (bits - 1)) / 2 ** (bits - 1) * 2**e


def trained_like(spec: bars_zoo.NetworkSpec, seed: int = 0, exact_beta: bool = True) -> nn.Module:
    """A model with random non-trivial batch-norm statistics (as after training), in eval mode."""
    torch.manual_seed(seed)
    model = bars_zoo.build(spec)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 2 + 0.2)
                m.weight.copy_(torch.randn(c, generator=gen) * 0.5 + 1)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.3)
            if exact_beta and isinstance(m, BinaryConv2d):
                m.freeze_scale(short_mantissa(float(m.weight.abs().mean())))
    return model.eval()


def inputs(spec: bars_zoo.NetworkSpec, batch: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, *spec.input_shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("path", GENOTYPES, ids=[p.stem for p in GENOTYPES])
def test_deployed_logits_equal_emulated_bit_for_bit_on_every_zoo_genotype(path: Path) -> None:
    spec = bars_zoo.read(path)
    model = trained_like(spec)
    x = inputs(spec, batch=1 if spec.input.height > 64 else 2)
    with torch.no_grad():
        assert torch.equal(deploy(model)(x), model(x))


def test_deployed_logits_equal_emulated_bit_for_bit_on_odd_shapes_and_bfr() -> None:
    spec = bars_zoo.parse(ODD)
    model = trained_like(spec, seed=3)
    x = inputs(spec, batch=3)
    x[:, :, 0, :] = 0.0  # exact zeros reach sign() through the stem's constant response
    with torch.no_grad():
        assert torch.equal(deploy(model)(x), model(x))


def assert_accumulators_exact(model: nn.Module, x: torch.Tensor) -> None:
    """Every binary conv of ``model`` on ``x``: the kernel's integer dot is what the emulated float
    output rounds to, and the emulated rounding error stays within the float32 bound."""
    seen: list[tuple[BinaryConv2d, torch.Tensor, torch.Tensor]] = []
    hooks = [
        m.register_forward_hook(lambda mod, a, out: seen.append((mod, a[0], out)))
        for m in model.modules()
        if isinstance(m, BinaryConv2d)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert seen
    for conv, inp, out in seen:
        dot = ops.bconv(
            ops.pack_signs(inp), ops.pack_weight(conv.weight), conv.in_channels,
            conv.kernel_size, conv.stride, 0, 1.0, None, None, None, None, 1e-5, 0, None,
        )[:, : conv.out_channels]  # fmt: skip
        beta = float(conv.scale())
        assert torch.equal(dot, torch.round(out / beta))
        k = conv.in_channels * conv.kernel_size**2  # terms summed; |partial sums| <= k * beta
        bound = k * k * beta * 2.0**-24  # (k - 1) roundings of at most u * k * beta, and ours
        assert float((out - dot * beta).abs().max()) <= bound


@pytest.mark.parametrize("path", GENOTYPES, ids=[p.stem for p in GENOTYPES])
def test_binary_accumulators_are_exact_with_full_precision_beta(path: Path) -> None:
    """With beta = mean|W| (full mantissa) the emulated conv rounds its float sums of +-beta; the
    kernel's integer dot is still exact: it is what the emulated output rounds to, layer by layer."""
    spec = bars_zoo.read(path)
    spec = spec.model_copy(
        update={"input": spec.input.model_copy(update={"height": 40, "width": 40})}
    )  # the accumulators do not depend on the resolution; keep ImageNet specs cheap
    assert_accumulators_exact(trained_like(spec, exact_beta=False), inputs(spec, batch=1))


BUNDLED = [
    n
    for n in registry.pretrained_names()
    if (registry.bundled_dir(n) / "model.safetensors").is_file()
]


def sample_images(model: nn.Module) -> torch.Tensor:
    """The bundled Fashion-MNIST test images, normalised for ``model`` (random if shapes differ)."""
    import numpy as np
    from PIL import Image

    from bars_zoo.data import DatasetInfo, normalize

    cfg = model.pretrained_cfg
    folder = resource_dir("pretrained") / "samples"
    rows = json.loads((folder / "labels.json").read_text())["images"]
    if tuple(cfg.input_size) != (1, 28, 28) or not rows:
        return inputs(model.spec, batch=8)
    pixels = [
        torch.from_numpy(np.asarray(Image.open(folder / r["file"]).convert("L"), np.uint8).copy())
        for r in rows
    ]
    info = DatasetInfo(cfg.dataset or "?", (1, 28, 28), cfg.num_classes, cfg.mean, cfg.std)
    return normalize(torch.stack(pixels).unsqueeze(1), info)


@pytest.mark.parametrize("name", BUNDLED)
def test_deployed_bundled_model_predicts_like_the_emulated_one(name: str) -> None:
    model = bars_zoo.load(name)
    x = sample_images(model)
    with torch.no_grad():
        want, got = model(x), deploy(model)(x)
    assert torch.equal(want.argmax(1), got.argmax(1))
    assert_accumulators_exact(model, x)


def test_deploy_keeps_packed_words_and_no_parameters() -> None:
    model = trained_like(bars_zoo.parse(ODD))
    deployed = deploy(model)
    assert list(deployed.parameters()) == []
    packed = [m for m in deployed.modules() if isinstance(m, PackedConvBN)]
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    assert len(packed) == len(convs)
    for p in packed:
        rows, words = -(-p.out_channels // 8) * 8, -(-p.in_channels // 64)
        assert p.weight_bits.dtype == torch.int64
        assert p.weight_bits.shape == (rows, p.kernel_size**2, words)
    sizes = deployed.packed_bytes()
    padded = sum(p.weight_bits.numel() * 64 for p in packed) / 8
    assert sizes["binary_packed"] == padded
    assert sizes["binary_as_float32"] == sum(c.weight.numel() * 4 for c in convs)


def test_packed_weights_are_a_32nd_of_float32_when_channels_fill_the_words() -> None:
    conv, bn = BinaryConv2d(128, 64, 3), nn.BatchNorm2d(64)
    packed = PackedConvBN(conv, bn)
    assert packed.weight_bits.numel() * 8 * 32 == conv.weight.numel() * 4


def test_deploy_does_not_modify_the_model() -> None:
    model = trained_like(bars_zoo.parse(ODD))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deploy(model)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in model.parameters())


def test_deployed_model_refuses_training_mode() -> None:
    deployed = deploy(trained_like(bars_zoo.parse(ODD)))
    with pytest.raises(DeployError, match="cannot be put in training mode"):
        deployed.train()
    with pytest.raises(DeployError, match="no trainable parameters"):
        deployed.requires_grad_()
    assert deployed.eval() is deployed and not deployed.training


def test_deployed_model_refuses_inputs_that_require_grad() -> None:
    spec = bars_zoo.parse(ODD)
    deployed = deploy(trained_like(spec))
    x = inputs(spec, 1).requires_grad_()
    with pytest.raises(DeployError, match="cannot be differentiated"):
        deployed(x)


def test_deployed_model_refuses_inputs_off_the_cpu() -> None:
    spec = bars_zoo.parse(ODD)
    deployed = deploy(trained_like(spec))
    with pytest.raises(DeployError, match="run on the CPU"):
        deployed(torch.empty(1, *spec.input_shape, device="meta"))


def test_deployed_model_has_the_read_only_timm_interface_of_its_barsnet() -> None:
    spec = bars_zoo.parse(ODD)
    model = trained_like(spec)
    deployed = deploy(model)
    x = inputs(spec, 2)
    assert deployed.num_classes == model.num_classes == 5
    assert deployed.num_features == model.num_features == 66
    fc = deployed.get_classifier()
    assert isinstance(fc, nn.Linear) and list(fc.parameters()) == []  # frozen: buffers
    assert torch.equal(fc.weight, model.get_classifier().weight)
    with torch.no_grad():
        features = deployed.forward_features(x)
        assert torch.equal(features, model.forward_features(x))
        assert torch.equal(deployed.forward_head(features), deployed(x))
        pooled = deployed.forward_head(features, pre_logits=True)
        assert torch.equal(pooled, model.forward_head(features, pre_logits=True))
        assert torch.equal(fc(pooled), deployed(x))
    with pytest.raises(ConfigError, match="forward_head takes forward_features' output"):
        deployed.forward_head(pooled)
    with pytest.raises(ConfigError, match="pre_logits must be True or False"):
        deployed.forward_head(features, pre_logits="no")
    with pytest.raises(DeployError, match="cannot be differentiated"):
        deployed.forward_features(x.requires_grad_())


def test_deployed_model_refuses_reset_classifier_and_says_to_reset_before_deploy() -> None:
    deployed = deploy(trained_like(bars_zoo.parse(ODD)))
    fc = deployed.get_classifier()
    with pytest.raises(DeployError, match="classifier cannot be replaced") as e:
        deployed.reset_classifier(3)
    assert "reset_classifier(3) on the BarsNet" in (e.value.hint or "")
    assert "bars_zoo.deploy(model)" in (e.value.hint or "")
    assert deployed.get_classifier() is fc and deployed.num_classes == 5


def test_deploy_rejects_a_module_that_is_not_a_barsnet() -> None:
    with pytest.raises(DeployError, match="needs a bars-zoo BarsNet"):
        deploy(nn.Linear(3, 4))


def test_deploy_rejects_batch_norm_without_running_statistics() -> None:
    model = trained_like(bars_zoo.parse(ODD))
    bn = model.cells[0].preprocess.bn
    bn.track_running_stats, bn.running_mean, bn.running_var = False, None, None
    with pytest.raises(DeployError, match="no running statistics"):
        deploy(model)


def test_bars_zoo_deploy_is_callable_through_the_lazy_api() -> None:
    model = trained_like(bars_zoo.parse(ODD))
    assert isinstance(bars_zoo.deploy(model), DeployedNet)
    assert isinstance(sys.modules["bars_zoo.deploy"](model), DeployedNet)  # the module is callable


def test_deployed_model_runs_under_torchscript() -> None:
    spec = bars_zoo.parse(ODD)
    deployed = deploy(trained_like(spec))
    x = inputs(spec, 2)
    with pytest.warns(FutureWarning):  # torch.jit.script is deprecated in torch 2.x
        scripted = torch.jit.script(deployed)
    with torch.no_grad():
        assert torch.equal(scripted(x), deployed(x))


def test_deployed_model_traces_under_torch_compile_in_one_graph() -> None:
    spec = bars_zoo.parse(ODD)
    deployed = deploy(trained_like(spec))
    x = inputs(spec, 2)
    torch._dynamo.reset()
    compiled = torch.compile(deployed, backend="eager", fullgraph=True)
    with torch.no_grad():
        assert torch.equal(compiled(x), deployed(x))


def test_save_and_load_give_the_same_deployed_outputs(tmp_path: Path) -> None:
    spec = bars_zoo.parse(ODD)
    model = trained_like(spec, exact_beta=False)
    folder = save(model, tmp_path / "odd")
    x = inputs(spec, 2)
    with torch.no_grad():
        assert torch.equal(load(folder)(x), deploy(model)(x))


def test_save_refuses_a_deployed_model(tmp_path: Path) -> None:
    deployed = deploy(trained_like(bars_zoo.parse(ODD)))
    with pytest.raises(DeployError, match="save the emulated model"):
        save(deployed, tmp_path / "x")


def test_cli_deploy_writes_a_folder_that_loads_back(tmp_path: Path, capsys) -> None:
    spec = bars_zoo.parse(ODD)
    model = trained_like(spec)
    source = save_pretrained(model, tmp_path / "src")
    assert main(["deploy", str(source), "-o", str(tmp_path / "out"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["check_bit_exact"] is True
    assert summary["backend"] == kernels.backend()
    assert summary["binary_packed"] * 16 < summary["binary_as_float32"]  # 70, 130 ch: padding
    x = inputs(spec, 2)
    with torch.no_grad():
        assert torch.equal(bars_zoo.load_deployed(tmp_path / "out")(x), model(x))


def test_cli_deploy_reports_an_unknown_model(tmp_path: Path, capsys) -> None:
    assert (
        main(["deploy", "no-such-model", "-o", str(tmp_path / "o")]) == UnknownModelError.exit_code
    )
    assert "no-such-model" in capsys.readouterr().err


def test_cli_deploy_under_a_file_or_into_an_unwritable_place_names_that_path(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    (tmp_path / "afile").write_text("mine")
    assert main(["deploy", "bars-fmnist-s", "-o", str(tmp_path / "afile" / "sub")]) == 2
    assert capsys.readouterr().err == f"error: not a folder: {tmp_path / 'afile'}\n"
    assert (tmp_path / "afile").read_text() == "mine"

    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(tmp_path / ".out.abc.tmp"))

    monkeypatch.setattr("tempfile.mkdtemp", refuse)
    assert main(["deploy", "bars-fmnist-s", "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: Permission denied: {tmp_path / 'out'}\n"


def test_deploy_without_the_compiled_kernel_gives_the_same_logits(tmp_path: Path) -> None:
    """``BARS_ZOO_NO_EXT=1`` (as when no compiler is present): the reference path, same outputs."""
    script = (
        "import warnings, torch, bars_zoo\n"
        "warnings.simplefilter('ignore')\n"
        "from tests.test_deploy import ODD, inputs, trained_like\n"
        "from bars_zoo.deploy import deploy\n"
        "spec = bars_zoo.parse(ODD)\n"
        "model = trained_like(spec, seed=5)\n"
        "d = deploy(model)\n"
        "with torch.no_grad():\n"
        "    print(d.backend, torch.equal(d(inputs(spec, 2)), model(inputs(spec, 2))))\n"
    )
    env = {**os.environ, "BARS_ZOO_NO_EXT": "1", "BARS_ZOO_EXT_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["reference", "True"]


def test_save_pretrained_refuses_a_deployed_model(tmp_path) -> None:
    import bars_zoo
    from bars_zoo.errors import ConfigError

    model = bars_zoo.load("bars-fmnist-s")
    with pytest.raises(ConfigError, match="deployed model"):
        bars_zoo.save_pretrained(bars_zoo.deploy(model), tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_cli_deploy_never_replaces_a_trained_or_another_models_folder(tmp_path: Path, capsys):
    import bars_zoo

    trained = bars_zoo.save_pretrained(  # as a training run's model/ folder: latent weights
        bars_zoo.load("bars-fmnist-s"), tmp_path / "run" / "model", packed=False
    )
    kept = (trained / "model.safetensors").read_bytes()
    assert main(["deploy", "bars-fmnist-s", "-o", str(trained)]) == 2
    assert "(unpacked, trainable weights)" in capsys.readouterr().err
    other = tmp_path / "deployed"
    assert main(["deploy", "bars-fmnist-m", "-o", str(other)]) == 0
    assert main(["deploy", "bars-fmnist-s", "-o", str(other)]) == 2
    assert "of bars-fmnist-m (another architecture than bars-fmnist-s)" in capsys.readouterr().err
    assert main(["deploy", "bars-fmnist-m", "-o", str(other)]) == 0  # the same model again: fine
    assert (trained / "model.safetensors").read_bytes() == kept


def test_cli_deploy_refuses_to_replace_a_packed_model_folder_of_other_weights(
    tmp_path: Path, capsys
):
    """A training run's ``model/`` is packed: deploying the zoo model of the same architecture
    over it would have lost the trained weights, their top-1 and their command."""
    import bars_zoo

    model = bars_zoo.load("bars-fmnist-s")
    with torch.no_grad():
        next(iter(model.parameters())).add_(0.5)  # weights of this architecture, other values
    trained = bars_zoo.save_pretrained(model, tmp_path / "run" / "model")  # packed, as train's
    kept = (trained / "model.safetensors").read_bytes()
    assert main(["deploy", "bars-fmnist-s", "-o", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "(other weights of this architecture); deploy would replace it" in err
    assert "or delete this one first" in err
    assert (trained / "model.safetensors").read_bytes() == kept
    assert main(["deploy", str(trained), "-o", str(trained)]) == 0  # its own weights: the same
