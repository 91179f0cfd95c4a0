"""The analytic complexity counter: hand-computed cases, conventions, the hook cross-check against the
built module (every zoo genotype), the paper's Table 2 calibration, and the golden table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import bars_zoo
from bars_zoo.binary import BinaryConv2d
from bars_zoo.complexity import Complexity, complexity, count
from bars_zoo.dsl import parse
from bars_zoo.errors import SpecError
from bars_zoo.spec import StageSpec
from bars_zoo.zoo import list_models, load_genotype

GOLDEN = Path(__file__).parent / "golden" / "complexity"
ZOO = list_models()


def net(
    cells: str, layout: str, *, inp: str = "3x8x8", stem: str = "conv3x3 channels=8 stride=1"
) -> str:
    return (
        f'bars 1\nname "t"\ninput {inp} classes=10\nstem {stem} pool=none\n'
        f"{cells}\n{layout}\nhead avgpool linear\n"
    )


# --------------------------------------------------------------------------- hand-computed


def test_counts_a_resnet_block_by_hand() -> None:
    spec = parse(
        net(
            "cell b stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=false {\n"
            "  n1 <- in: bconv3x3\n}",
            "stage s1: channels=8 depth=1 cell=b",
        )
    )
    c = count(spec)
    conv = 8 * 8 * 8 * 8 * 9  # C_out * H * W * C_in * k * k
    assert c.bops == 2 * conv
    assert c.flops == 8 * 8 * 8 * 3 * 9 + 8 * 10  # stem conv + linear
    assert c.binary_params == 2 * 8 * 8 * 9
    # stem conv + 4 BNs (stem, 2 convs, head) x 2C + linear weight and bias
    assert c.fp_params == 8 * 3 * 9 + 4 * 2 * 8 + 8 * 10 + 10
    assert c.bn_params == 4 * 2 * 8
    assert c.add_ops == 8 * 8 * 8  # the cell output: n1 + shortcut(x)
    assert c.scale_ops == 2 * 8 * 8 * 8
    assert c.pool_ops == 8 * 8 * 8  # the head's global average pool
    assert c.ops == c.flops + c.bops / 64
    assert c.packed_bytes == -(-c.binary_params // 8) + 4 * c.fp_params


def test_counts_bfr_and_strided_identity_by_hand() -> None:
    spec = parse(
        net(
            "cell b stride=1 preprocess=bconv1x1 shortcut=identity op_shortcut=true {\n"
            "  n1 <- in: bconv3x3\n}\n"
            "cell r stride=2 preprocess=bfr shortcut=identity op_shortcut=true {\n"
            "  n1 <- in: shortcut\n}",
            "stage s1: channels=8 depth=1 cell=b\ndownsample cell=r\nstage s2: channels=16 depth=1 cell=b",
        )
    )
    c = count(spec)
    rows = {r.name: r for r in c.layers}
    # bfr: two 3x3/2 binary convs of C_out/2 = 8 channels each on the 8x8 input -> 4x4
    assert rows["cells.1.preprocess.conv_a"].macs == 8 * 4 * 4 * 8 * 9
    assert rows["cells.1.preprocess.conv_b"].params == 8 * 8 * 9
    assert rows["cells.1.preprocess:pool_a"].elem_ops == 4 * 8 * 4 * 4  # 2x2 windows on C_in
    assert rows["cells.1.preprocess:add_b"].elem_ops == 8 * 4 * 4
    assert rows["cells.1.shortcut"].kind == "pool"  # identity at stride 2 = average pool
    assert rows["cells.1:output"].elem_ops == 16 * 4 * 4
    # the op-level shortcut of an edge conv is one addition per element; bconv1x1 preprocess has none
    assert rows["cells.0.edges.n1_in:op_shortcut"].elem_ops == 8 * 8 * 8
    assert "cells.0.preprocess:op_shortcut" not in rows
    assert rows["cells.0.preprocess.conv"].macs == 8 * 8 * 8 * 8 * 1
    assert c.bops == sum(r.macs for r in c.layers if r.kind == "binary")


def test_node_sums_count_one_addition_per_extra_input() -> None:
    spec = parse(
        net(
            "cell b stride=1 preprocess=bconv3x3 shortcut=none op_shortcut=false {\n"
            "  n1 <- in: bconv3x3\n  n2 <- in: shortcut, n1: shortcut\n"
            "  n3 <- in: shortcut, n1: shortcut, n2: bconv3x3\n}",
            "stage s1: channels=8 depth=1 cell=b",
        )
    )
    rows = {r.name: r for r in count(spec).layers}
    assert "cells.0:n1" not in rows
    assert rows["cells.0:n2"].elem_ops == 1 * 8 * 8 * 8
    assert rows["cells.0:n3"].elem_ops == 2 * 8 * 8 * 8
    assert rows["cells.0:n3"].op == "add x2"
    assert "cells.0:output" not in rows  # shortcut=none: nothing to add


def test_unused_node_costs_nothing() -> None:
    cells = (
        "cell b stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {\n"
        "  n1 <- in: bconv3x3\n  n2 <- in: bconv3x3\n  n3 <- n1: bconv3x3\n}"
    )
    pruned = cells.replace("  n2 <- in: bconv3x3\n  n3 <- n1", "  n2 <- n1")
    layout = "stage s1: channels=8 depth=1 cell=b"
    a, b = count(parse(net(cells, layout))), count(parse(net(pruned, layout)))
    assert (a.bops, a.params, a.add_ops) == (b.bops, b.params, b.add_ops)


def test_conv1x1_downsample_is_full_precision_after_a_pool() -> None:
    spec = load_genotype("xnor-resnet18-cifar10")
    rows = {r.name: r for r in count(spec).layers}
    assert rows["cells.2.shortcut.conv"].kind == "fp"
    assert rows["cells.2.shortcut.conv"].macs == 128 * 16 * 16 * 64
    assert rows["cells.2.shortcut:pool"].out_shape == (64, 16, 16)


# --------------------------------------------------------------------------- conventions


@pytest.mark.parametrize("name", ["bars-b", "bireal-resnet18-imagenet"])
def test_x2_doubles_macs_only(name: str) -> None:
    one, two = complexity(name), complexity(name, x2=True)
    assert two.bops == 2 * one.bops and two.flops == 2 * one.flops
    assert two.ops == 2 * one.ops
    assert (two.params, two.packed_bytes, two.bn_ops) == (one.params, one.packed_bytes, one.bn_ops)
    assert "2xMAC" in two.summary()


@pytest.mark.parametrize("name", ZOO)
def test_totals_are_the_sums_of_the_rows(name: str) -> None:
    c = complexity(name)
    assert c.params == c.binary_params + c.fp_params
    assert c.params == sum(r.params for r in c.layers)
    assert c.binary_params == sum(r.params for r in c.layers if r.kind == "binary")
    assert c.ops == pytest.approx(c.flops + c.bops / 64)
    groups = c.groups()
    assert sum(g.bops for g in groups) == c.bops
    assert sum(g.params for g in groups) == c.params
    assert groups[0].group == "stem" and groups[-1].group == "head"


def test_stages_named_like_the_other_parts_keep_their_own_rows() -> None:
    # "stem", "ds1" and "head" are legal stage names; each part of the network stays its own row
    spec = load_genotype("bars-fmnist-s")  # stage, downsample, stage, downsample, stage
    names = iter(["stem", "ds1", "head"])
    layout = tuple(
        item.model_copy(update={"name": next(names)}) if isinstance(item, StageSpec) else item
        for item in spec.layout
    )
    renamed = parse(bars_zoo.format(spec.model_copy(update={"layout": layout})))
    groups, original = complexity(renamed).groups(), complexity(spec).groups()
    assert [g.group for g in groups] == ["stem", "stem", "ds1", "ds1", "ds2", "head", "head"]
    assert [g.cells for g in groups] == [g.cells for g in original]
    assert [(g.bops, g.params) for g in groups] == [(g.bops, g.params) for g in original]


def test_name_path_and_spec_give_the_same_complexity(tmp_path: Path) -> None:
    spec = load_genotype("bars-a")
    path = tmp_path / "a.geno"
    path.write_text(bars_zoo.format(spec))
    assert complexity("bars-a") == complexity(spec) == complexity(str(path))
    assert isinstance(complexity(spec), Complexity)


def test_invalid_spec_is_rejected_before_counting() -> None:
    spec = parse(
        net(
            "cell r stride=2 preprocess=bfr shortcut=bfr op_shortcut=true {\n  n1 <- in: shortcut\n}\n"
            "cell b stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {\n"
            "  n1 <- in: bconv3x3\n}",
            "stage s1: channels=8 depth=1 cell=b\ndownsample cell=r\nstage s2: channels=16 depth=1 cell=b",
        )
    )
    broken = spec.model_copy(update={"layout": spec.layout[:2]})  # downsample without a stage after
    with pytest.raises(SpecError, match="downsample must be followed by a stage"):
        count(broken)


def test_to_dict_holds_the_headline_numbers() -> None:
    d = complexity("bars-b").to_dict(layers=False)
    for key in ("bops", "flops", "ops", "params", "binary_params", "fp_params", "packed_bytes"):
        assert key in d
    assert "layers" not in d
    assert len(complexity("bars-b").to_dict()["layers"]) == len(complexity("bars-b").layers)


def test_complexity_and_zoo_do_not_import_torch() -> None:
    code = (
        "import sys, bars_zoo; c = bars_zoo.complexity('bars-b'); "
        "bars_zoo.list_models(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- hook cross-check


def hook_count(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, dict[str, int]]:
    """MACs, parameters and BN elements of every module, measured on the built model."""
    macs: dict[str, int] = {}
    bn: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():

        def hook(
            mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor, name: str = name
        ) -> None:
            per_out = out[0].numel()  # batch of one
            if isinstance(mod, BinaryConv2d):
                macs[name] = per_out * mod.in_channels * mod.kernel_size**2
            elif isinstance(mod, nn.Conv2d):
                macs[name] = per_out * mod.weight[0].numel()
            elif isinstance(mod, nn.Linear):
                macs[name] = per_out * mod.in_features
            elif isinstance(mod, nn.BatchNorm2d):
                bn[name] = per_out

        if isinstance(m, BinaryConv2d | nn.Conv2d | nn.Linear | nn.BatchNorm2d):
            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.zeros(1, *input_shape, device="meta"))
    for h in handles:
        h.remove()
    params = {
        n: sum(p.numel() for p in m.parameters(recurse=False))
        for n, m in model.named_modules()
        if any(True for _ in m.parameters(recurse=False))
    }
    binary = {n: m.weight.numel() for n, m in model.named_modules() if isinstance(m, BinaryConv2d)}
    return {"macs": macs, "bn": bn, "params": params, "binary": binary}


def assert_hooks_agree(spec: bars_zoo.NetworkSpec) -> None:
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        model = bars_zoo.build(spec).eval()  # eval: BN accepts a 1x1 map with a batch of one
    got = hook_count(model, spec.input_shape)
    c = count(spec)
    assert {r.name: r.macs for r in c.layers if r.kind in ("binary", "fp")} == got["macs"]
    assert {r.name: r.elem_ops for r in c.layers if r.kind == "bn"} == got["bn"]
    assert {r.name: r.params for r in c.layers if r.params} == got["params"]
    assert c.binary_params == sum(got["binary"].values())
    assert c.params == sum(p.numel() for p in model.parameters())
    assert c.bops == sum(v for k, v in got["macs"].items() if k in got["binary"])


@pytest.mark.parametrize("name", ZOO)
def test_hooks_on_the_built_model_agree_with_the_analytic_count(name: str) -> None:
    assert_hooks_agree(load_genotype(name))


def test_hooks_agree_on_real_cpu_tensors() -> None:
    """The meta-device cross-check measures what a real forward pass runs."""
    spec = load_genotype("xnor-resnet18-fmnist")
    model = bars_zoo.build(spec).eval()
    got = hook_count_cpu(model, spec.input_shape)
    assert got == {r.name: r.macs for r in count(spec).layers if r.kind in ("binary", "fp")}


def hook_count_cpu(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    macs: dict[str, int] = {}
    for name, m in model.named_modules():
        if isinstance(m, BinaryConv2d | nn.Conv2d | nn.Linear):
            k = m.weight[0].numel()
            m.register_forward_hook(
                lambda mod, i, o, name=name, k=k: macs.__setitem__(name, o[0].numel() * k)
            )
    with torch.no_grad():
        model(torch.randn(1, *input_shape))
    return macs


def _network_specs() -> object:
    """``network_specs`` from ``tests/strategies.py`` (the DSL side's hypothesis strategies), if any."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import strategies  # type: ignore[import-not-found]
    except ImportError:
        return None
    finally:
        sys.path.pop(0)
    return getattr(strategies, "network_specs", None)


network_specs = _network_specs()


@pytest.mark.skipif(network_specs is None, reason="tests/strategies.py has no network_specs")
def test_hooks_agree_on_generated_specs() -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(network_specs())  # type: ignore[misc,operator]
    def check(spec: bars_zoo.NetworkSpec) -> None:
        assert_hooks_agree(spec)

    check()


# --------------------------------------------------------------------------- calibration

#: (model, metric, target, relative tolerance): the paper's Table 2 (MAC convention) and the
#: baselines' calibration numbers.  FLOPs are rounded to 1M in the table, hence 15 %.
CALIBRATION = [
    ("xnor-resnet18-cifar10", "bops", 547e6, 0.01),
    ("xnor-resnet18-cifar10", "params", 11.17e6, 0.01),
    ("bireal-resnet18-imagenet", "bops", 1.68e9, 0.02),
    ("bireal-resnet18-imagenet", "flops", 1.38e8, 0.02),
    ("bars-a", "flops", 2e6, 0.15),
    ("bars-a", "bops", 513e6, 0.05),
    ("bars-a", "params", 2.77e6, 0.05),
    ("bars-b", "flops", 2e6, 0.15),
    ("bars-b", "bops", 1048e6, 0.05),
    ("bars-b", "params", 6.07e6, 0.05),
    ("bars-c", "flops", 3e6, 0.15),
    ("bars-c", "bops", 1778e6, 0.05),
    ("bars-c", "params", 10.76e6, 0.05),
    ("bars-d", "flops", 129e6, 0.15),
    ("bars-d", "bops", 998e6, 0.05),
    ("bars-d", "params", 9.01e6, 0.05),
    ("bars-e", "flops", 161e6, 0.15),
    ("bars-e", "bops", 1424e6, 0.05),
    ("bars-e", "params", 14.04e6, 0.05),
    ("bars-f", "flops", 254e6, 0.15),
    ("bars-f", "bops", 2594e6, 0.05),
    ("bars-f", "params", 19.29e6, 0.05),
]


@pytest.mark.parametrize(("name", "metric", "target", "tol"), CALIBRATION)
def test_zoo_matches_the_papers_table_2(name: str, metric: str, target: float, tol: float) -> None:
    value = getattr(complexity(name), metric)
    assert abs(value / target - 1) <= tol, f"{name} {metric} = {value:.4g}, target {target:.4g}"


def test_xnor_resnet18_binary_shortcut_would_miss_the_calibration() -> None:
    """Table 2's 547M BOPs pins the FP 1x1 downsample: a binary one adds ~6M BOPs (the test can fail)."""
    spec = load_genotype("xnor-resnet18-cifar10")
    down = spec.cell("down").model_copy(update={"shortcut": "bconv1x1"})
    cells = tuple(down if c.name == "down" else c for c in spec.cells)
    binary = count(spec.model_copy(update={"cells": cells}))
    assert binary.bops - complexity(spec).bops == pytest.approx(6.29e6, rel=0.01)


# --------------------------------------------------------------------------- golden table


def test_table_matches_the_golden_file() -> None:
    text = complexity("bars-b").table() + "\n"
    path = GOLDEN / "bars-b.txt"
    if os.environ.get("BARS_ZOO_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), "run with BARS_ZOO_UPDATE_GOLDEN=1 to accept a new table"


def test_a_stage_of_cost_free_cells_still_shows_with_its_cells() -> None:
    spec = bars_zoo.parse(
        """bars 1
name "free"
input 3x8x8 classes=10
stem conv3x3 channels=8 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
}
cell free stride=1 preprocess=identity shortcut=none op_shortcut=true {
  n1 <- in: shortcut
}
stage s1: channels=8 depth=2 cell=normal
stage s2: channels=8 depth=3 cell=free
head avgpool linear
"""
    )
    c = complexity(spec)
    groups = {g.group: g for g in c.groups()}
    assert groups["s2"].cells == 3 and groups["s2"].bops == 0 and groups["s2"].params == 0
    assert sum(g.cells for g in c.groups()) == 5
    assert c.bops == groups["s1"].bops
