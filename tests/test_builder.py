"""``build(spec)``: every zoo genotype builds and trains, modules are named and wired as documented,
and specs that cannot be built are refused by validation (located), never by a PyTorch shape error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

import bars_zoo
from bars_zoo._resources import resource_dir
from bars_zoo.binary import BinaryConv2d
from bars_zoo.builder import BarsNet, build
from bars_zoo.cells import Cell
from bars_zoo.dsl import check, parse, read
from bars_zoo.errors import SpecError
from bars_zoo.ops import BinaryConvBN, BinaryFactorizedReduce, Identity
from bars_zoo.spec import live_edges, placements, uses_input

GENOTYPES = sorted(resource_dir("genotypes").glob("*.geno"))

TINY = """\
bars 1
name "tiny"
input 3x9x8 classes=5
stem conv3x3 channels=8 stride=1 pool=none
cell normal stride=1 preprocess=bconv1x1 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv3x3
  n3 <- n1: shortcut, n2: bconv1x1
}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv3x3
}
stage s1: channels=8 depth=2 cell=normal
downsample cell=reduce
stage s2: channels=12 depth=1 cell=normal
head avgpool linear
"""


def tiny(text: str = TINY) -> bars_zoo.NetworkSpec:
    return parse(text, "tiny.geno")


def randomize_batch_norm(model: nn.Module) -> nn.Module:
    """Trained-looking BN statistics.  A fresh BN maps an exactly-zero count ``k * beta = 0`` to
    exactly 0, where ``sign`` ties and any reordering of a float sum may flip it; trained statistics
    make such ties measure-zero, so two correct implementations agree to rounding."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.running_mean, -0.5, 0.5)
            nn.init.uniform_(m.running_var, 0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return model


def n_binary_convs(spec: bars_zoo.NetworkSpec) -> int:
    """Binary convs the spec asks for: live binary edges, used binary preprocess, shortcut."""
    per_op = {"bconv3x3": 1, "bconv1x1": 1, "bfr": 2}
    total = 0
    for p in placements(spec):
        total += sum(per_op.get(e.op, 0) for _, e in live_edges(p.cell))
        total += per_op.get(p.cell.preprocess, 0) if uses_input(p.cell) else 0
        total += per_op.get(p.cell.shortcut, 0)
    return total


# --------------------------------------------------------------------------- the zoo


@pytest.mark.parametrize("path", GENOTYPES, ids=[p.stem for p in GENOTYPES])
def test_zoo_genotype_builds_and_runs_forward_and_backward_at_its_input_size(path: Path) -> None:
    spec = read(path)
    torch.manual_seed(0)
    model = build(spec)
    batch = 1  # native input size, one image: BN still sees >= 2 values per channel
    x = torch.randn(batch, *spec.input_shape)
    logits = model(x)
    assert logits.shape == (batch, spec.num_classes)
    F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(isinstance(m, BinaryConv2d) for m in model.modules()) == n_binary_convs(spec)
    last = placements(spec)[-1]
    feats = model.forward_features(x)
    assert feats.shape == (batch, last.c_out, *last.out_hw)


# --------------------------------------------------------------------------- structure


def test_build_keeps_the_spec_and_names_modules_as_documented() -> None:
    spec = tiny()
    model = build(spec)
    assert isinstance(model, BarsNet) and model.spec is spec
    names = dict(model.named_modules())
    assert isinstance(names["stem.conv"], nn.Conv2d) and isinstance(names["head.fc"], nn.Linear)
    assert len(model.cells) == 4 and all(isinstance(c, Cell) for c in model.cells)
    for i in (0, 1, 3):
        assert isinstance(names[f"cells.{i}.preprocess"], BinaryConvBN)
        assert isinstance(names[f"cells.{i}.shortcut"], Identity)
        assert set(model.cells[i].edges) == {"n1_in", "n2_in", "n2_n1", "n3_n1", "n3_n2"}
        assert isinstance(names[f"cells.{i}.edges.n2_n1.conv"], BinaryConv2d)
        assert isinstance(names[f"cells.{i}.edges.n2_n1.bn"], nn.BatchNorm2d)
    assert isinstance(names["cells.2.preprocess"], BinaryFactorizedReduce)
    assert isinstance(names["cells.2.shortcut"], BinaryFactorizedReduce)
    assert model.cells[0].plan[0] == ("n1", "in", "n1_in")


def test_op_shortcut_is_on_for_edges_only() -> None:
    model = build(tiny())
    cell = model.cells[0]
    assert cell.edges["n1_in"].op_shortcut is True
    assert cell.preprocess.op_shortcut is False
    off = build(tiny(TINY.replace("op_shortcut=true", "op_shortcut=false")))
    assert off.cells[0].edges["n1_in"].op_shortcut is False


def test_dead_and_unused_nodes_build_no_modules() -> None:
    text = TINY.replace(
        "  n3 <- n1: shortcut, n2: bconv1x1\n",
        "  n3 <- n1: bconv3x3\n  n4 <- n1: shortcut\n",
    )
    cell = build(tiny(text)).cells[0]
    # n2 and n3 do not reach the last node n4: their edges are never built or run
    assert set(cell.edges) == {"n1_in", "n4_n1"}
    assert [key for _, _, key in cell.plan] == ["n1_in", "n4_n1"]


def test_cell_whose_input_is_unused_has_no_preprocess() -> None:
    text = TINY.replace(
        "  n1 <- in: bconv3x3\n  n2 <- in: shortcut, n1: bconv3x3\n  n3 <- n1: shortcut, n2: bconv1x1\n",
        "  n1 <- in: bconv3x3\n",
    ).replace("cell normal stride=1 preprocess=bconv1x1", "cell normal stride=1 preprocess=none")
    model = build(tiny(text))
    assert model.cells[0].preprocess is None and len(model.cells[0].edges) == 0
    x = torch.randn(2, 8, 9, 8)
    assert torch.equal(model.cells[1](x), x)  # only the identity cell shortcut remains


def test_cell_that_is_always_zero_outputs_zeros() -> None:
    text = TINY.replace("preprocess=bconv1x1 shortcut=identity", "preprocess=none shortcut=none")
    cell = build(tiny(text)).cells[1]
    y = cell(torch.randn(2, 8, 9, 8))
    assert y.shape == (2, 8, 9, 8) and not y.any()


def test_cell_output_is_last_node_plus_shortcut() -> None:
    torch.manual_seed(0)
    cell = build(tiny()).cells[3].eval()  # 12 -> 12 channels, stride 1
    x = torch.randn(2, 12, 5, 4)
    e = cell.edges
    n_in = cell.preprocess(x)
    n1 = e["n1_in"](n_in)
    n2 = n_in + e["n2_n1"](n1)
    n3 = n1 + e["n3_n2"](n2)
    torch.testing.assert_close(cell(x), n3 + x)


# --------------------------------------------------------------------------- modes


def test_eval_is_deterministic_and_differs_from_train_mode() -> None:
    torch.manual_seed(0)
    model = build(tiny())
    x = torch.randn(4, 3, 9, 8)
    train_out = model(x)
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, train_out)


def test_train_mode_updates_batch_norm_statistics_and_eval_does_not() -> None:
    model = build(tiny())
    bn = model.cells[0].edges["n1_in"].bn
    before = bn.running_mean.clone()
    model(torch.randn(4, 3, 9, 8))
    assert not torch.equal(bn.running_mean, before)
    model.eval()
    after = bn.running_mean.clone()
    model(torch.randn(4, 3, 9, 8))
    assert torch.equal(bn.running_mean, after)


def test_build_puts_the_model_on_the_given_device() -> None:
    model = build(tiny(), device="cpu")
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.training


def test_build_works_on_the_meta_device() -> None:
    with torch.device("meta"):
        model = build(tiny())
        out = model(torch.empty(2, 3, 9, 8))
    assert out.shape == (2, 5) and out.device.type == "meta"


def _compile_supported() -> bool:
    return torch._dynamo.is_dynamo_supported() and shutil.which("cc") is not None


def _compile_and_compare(backend: str) -> None:
    torch.manual_seed(0)
    model = randomize_batch_norm(build(tiny(TINY.replace("depth=2", "depth=1"))))
    compiled = torch.compile(model, backend=backend, fullgraph=True)  # no graph breaks
    x = torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(compiled(x), model(x))
    compiled(x).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert len(grads) == len(list(model.parameters()))
    model.zero_grad()
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, msg=n)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.skipif(not torch._dynamo.is_dynamo_supported(), reason="dynamo unsupported here")
def test_torch_compile_captures_the_model_in_one_graph_and_matches_eager() -> None:
    _compile_and_compare("aot_eager")  # dynamo + AOT autograd, no code generation: fast


@pytest.mark.slow
@pytest.mark.skipif(not _compile_supported(), reason="torch.compile needs dynamo and a C compiler")
def test_torch_compile_with_inductor_matches_eager_in_train_and_eval() -> None:
    _compile_and_compare("inductor")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_build_trains_on_cuda_and_matches_cpu_in_eval() -> None:
    torch.manual_seed(0)
    spec = tiny()
    model = randomize_batch_norm(build(spec, device="cuda"))
    x = torch.randn(4, 3, 9, 8, device="cuda")
    F.cross_entropy(model(x), torch.zeros(4, dtype=torch.long, device="cuda")).backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in model.parameters())
    # float64 (no TF32 rounding of beta): CPU and GPU then differ far below any sign tie
    model.eval().double()
    with torch.no_grad():
        gpu = model(x.double()).cpu()
        cpu = model.cpu()(x.double().cpu())
    torch.testing.assert_close(gpu, cpu)


# --------------------------------------------------------------------------- invalid specs

UNBUILDABLE = [  # (mutation of TINY, diagnostic code, source line it must point at)
    (("channels=12", "channels=11"), "bad-channels", 10),
    (
        ("cell normal stride=1 preprocess=bconv1x1", "cell normal stride=1 preprocess=bfr"),
        "bad-op",
        5,
    ),
    (("input 3x9x8", "input 3x1x1"), "spatial-size", 15),
    (("downsample cell=reduce\n", "downsample cell=normal\n"), "bad-stride", 15),
    (("stage s2: channels=12 depth=1 cell=normal\n", ""), "layout", 15),
]


@pytest.mark.parametrize(
    ("mutation", "code", "line"), UNBUILDABLE, ids=[c for _, c, _ in UNBUILDABLE]
)
def test_unbuildable_text_is_rejected_by_validation_with_a_located_error(
    mutation: tuple[str, str], code: str, line: int
) -> None:
    text = TINY.replace(*mutation)
    assert text != TINY
    doc = check(text, "bad.geno")
    assert not doc.ok
    assert doc.errors[0].code == code
    assert doc.errors[0].line == line
    assert doc.errors[0].render().startswith(f"bad.geno:{line}:")


@pytest.mark.parametrize(
    ("mutation", "code", "line"), UNBUILDABLE, ids=[c for _, c, _ in UNBUILDABLE]
)
def test_build_of_an_invalid_python_spec_raises_spec_error_before_any_torch_error(
    mutation: tuple[str, str], code: str, line: int
) -> None:
    good = tiny()
    # the same mistake made in Python (model_copy does not re-validate)
    changes: dict[str, object] = {}
    if code == "bad-channels":
        stage = good.layout[2].model_copy(update={"channels": 11})
        changes["layout"] = (*good.layout[:2], stage)
    elif code == "bad-op":
        changes["cells"] = (good.cells[0].model_copy(update={"preprocess": "bfr"}), good.cells[1])
    elif code == "spatial-size":
        changes["input"] = good.input.model_copy(update={"height": 1, "width": 1})
    elif code == "bad-stride":
        down = good.layout[1].model_copy(update={"cell": "normal"})
        changes["layout"] = (good.layout[0], down, good.layout[2])
    else:
        changes["layout"] = good.layout[:2]
    bad = good.model_copy(update=changes)
    with pytest.raises(SpecError, match=rf"invalid network spec:[\s\S]*error\[{code}\]"):
        build(bad)


def test_build_of_something_else_than_a_spec_says_how_to_get_one() -> None:
    with pytest.raises(
        SpecError, match=r"build\(\) needs a NetworkSpec, got str[\s\S]*load_genotype"
    ):
        build("bars-b")  # type: ignore[arg-type]
