"""The search space: derived specs, exact expected OPs, and the supernet computing derived networks."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

import bars_zoo
from bars_zoo.complexity import count
from bars_zoo.dsl import check, format
from bars_zoo.search.presets import PRESETS, config_for
from bars_zoo.search.space import Choice, SearchSpace, prune_cell, resolve_channels
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet
from bars_zoo.spec import check_spec, live_edges, placements, uses_input

SHAPES = {"paper": (3, 32, 32), "fmnist": (1, 28, 28), "tiny": (3, 32, 32)}


def space_for(preset: str, **kw: object) -> SearchSpace:
    return SearchSpace(config_for(preset, **kw), SHAPES[preset], 10)


def random_choice(space: SearchSpace, rng: random.Random, ops: list[int] | None = None) -> Choice:
    cfg = space.config
    pick = ops or list(range(len(cfg.edge_ops)))
    return Choice(
        edges=tuple(tuple(rng.choice(pick) for _ in space.edges) for _ in space.cell_types),
        width=tuple(rng.randrange(len(cfg.width_ratios)) for _ in range(space.num_stages)),
        depth=tuple(rng.randrange(len(cfg.depth_choices)) for _ in range(space.num_stages)),
    )


def one_hot(space: SearchSpace, choice: Choice) -> tuple[torch.Tensor, ...]:
    cfg = space.config
    f = torch.nn.functional.one_hot
    return (
        f(torch.tensor(choice.edges), len(cfg.edge_ops)).double(),
        f(torch.tensor(choice.width), len(cfg.width_ratios)).double(),
        f(torch.tensor(choice.depth), len(cfg.depth_choices)).double(),
    )


def test_resolved_channels_are_even_and_positive():
    assert [resolve_channels(48, r) for r in (0.25, 0.5, 0.75, 1.0)] == [12, 24, 36, 48]
    assert resolve_channels(8, 0.25) == 2
    assert resolve_channels(10, 0.25) == 2
    assert all(resolve_channels(b, r) % 2 == 0 for b in range(2, 80) for r in (0.1, 0.33, 0.9))


def test_paper_space_has_fourteen_cells_in_three_stages():
    space = space_for("paper")
    assert space.num_cells == 14
    assert space.cell_types == ("normal1", "normal2", "normal3", "reduce")
    assert len(space.edges) == 10  # 4 nodes: 1 + 2 + 3 + 4 edges
    assert space.channels[2] == (48, 96, 144, 192)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_expected_ops_of_one_hot_distributions_equal_complexity_of_derived_spec(preset):
    space = space_for(preset)
    rng = random.Random(preset)
    for _ in range(25):
        choice = random_choice(space, rng)
        ref = count(space.to_spec(choice, name="x"))
        exp = space.expected_complexity(*one_hot(space, choice))
        assert float(exp["ops"]) == pytest.approx(ref.ops, rel=1e-9)
        assert float(exp["bops"]) == pytest.approx(ref.bops, rel=1e-9)
        assert float(exp["flops"]) == pytest.approx(ref.flops, rel=1e-9)
        assert float(exp["binary_params"]) == pytest.approx(ref.binary_params, rel=1e-9)


def test_expected_ops_at_near_zero_temperature_matches_the_argmax_network():
    space = space_for("paper")
    arch = ArchParams(space)
    choice = random_choice(space, random.Random(3))
    with torch.no_grad():
        for p, c in zip(arch.parameters(), one_hot(space, choice), strict=True):
            p.copy_(c.float() * 30.0)  # logits / tau with tau -> 0: probabilities within 1e-13
    ops = float(arch.expected_complexity()["ops"].detach())
    assert ops == pytest.approx(count(space.to_spec(choice, name="x")).ops, rel=0.01)


def test_topology_expectation_matches_enumeration_of_all_cells():
    space = space_for("tiny")  # 3 nodes: 6 edges, 3^6 cells
    probs = torch.rand(1, len(space.edges), 3, generator=torch.Generator().manual_seed(0))
    probs = probs.double().softmax(-1)
    area, p_in = space.topology_costs(probs)
    want_area = want_in = 0.0
    for ops in itertools.product(range(3), repeat=len(space.edges)):
        p = float(torch.prod(probs[0, torch.arange(len(ops)), torch.tensor(ops)]))
        cell = space.cell_spec("normal1", ops, prune=False)
        want_area += p * 9 * sum(e.op == "bconv3x3" for _, e in live_edges(cell))
        want_in += p * uses_input(cell)
    assert float(area[0]) == pytest.approx(want_area, rel=1e-9)
    assert float(p_in[0]) == pytest.approx(want_in, rel=1e-9)


def test_expected_ops_is_the_mean_over_the_whole_space():
    # 2 stages, 1 node: 3 cell types x 3 ops x 2 widths x 2 depths per stage = 432 networks
    cfg = config_for("tiny", base_channels=(8, 16), width_ratios=(0.5, 1.0), nodes=1)
    space = SearchSpace(cfg, (3, 16, 16), 10)
    g = torch.Generator().manual_seed(1)
    edge_p = torch.rand(3, 1, 3, generator=g).double().softmax(-1)
    width_p = torch.rand(2, 2, generator=g).double().softmax(-1)
    depth_p = torch.rand(2, 2, generator=g).double().softmax(-1)
    want = want_params = 0.0
    for e, w, d in itertools.product(
        itertools.product(range(3), repeat=3),
        itertools.product(range(2), repeat=2),
        itertools.product(range(2), repeat=2),
    ):
        choice = Choice(tuple((o,) for o in e), w, d)
        p = float(
            torch.prod(edge_p[torch.arange(3), 0, torch.tensor(e)])
            * torch.prod(width_p[torch.arange(2), torch.tensor(w)])
            * torch.prod(depth_p[torch.arange(2), torch.tensor(d)])
        )
        c = count(space.to_spec(choice, name="x"))
        want += p * c.ops
        want_params += p * c.binary_params
    got = space.expected_complexity(edge_p, width_p, depth_p)
    assert float(got["ops"]) == pytest.approx(want, rel=1e-9)
    assert float(got["binary_params"]) == pytest.approx(want_params, rel=1e-9)


def test_pruned_cells_compute_the_same_and_have_no_warnings():
    space = space_for("paper")
    rng = random.Random(7)
    for _ in range(20):
        choice = random_choice(space, rng)
        full = space.to_spec(choice, name="x", prune=False)
        pruned = space.to_spec(choice, name="x")
        assert count(pruned).ops == count(full).ops
        for cell in pruned.cells:
            assert live_edges(cell) == live_edges(prune_cell(cell))
            names = {n for n, _ in live_edges(cell)}
            assert names == {n.name for n in cell.nodes} or not live_edges(cell)
        codes = {p.code for p in check_spec(pruned) if p.severity == "warning"}
        assert not codes & {"unused-node"}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_derived_specs_check_format_canonically_and_build(preset):
    space = space_for(preset)
    rng = random.Random(11)
    for _ in range(5):
        spec = space.to_spec(random_choice(space, rng), name="found", meta={"seed": "0"})
        text = format(spec)
        doc = check(text)
        assert doc.spec == spec and not doc.errors
        assert format(doc.spec) == text
    net = bars_zoo.build(spec)
    assert net(torch.randn(2, *SHAPES[preset])).shape == (2, 10)


def test_ops_range_brackets_every_network():
    space = space_for("tiny")
    lo, hi = space.ops_range()
    rng = random.Random(5)
    for _ in range(20):
        assert lo <= count(space.to_spec(random_choice(space, rng), name="x")).ops <= hi


# --------------------------------------------------------------------------- supernet oracle


def _transfer(net: torch.nn.Module, sn: Supernet, space: SearchSpace, choice: Choice) -> None:
    """Give the derived network the supernet's weights (latent weights of one magnitude, 2^-4, so
    every binary conv's scaling factor is the same for any slice and all sums are exact)."""
    cfg = space.config
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in sn.named_parameters():
            if name.endswith("weight") and p.dim() == 4 and not name.startswith("stem"):
                p.copy_(torch.where(torch.rand(p.shape, generator=g) < 0.5, -1.0, 1.0) / 16)
        net.stem.conv.weight.copy_(sn.stem.conv.weight)
        c_last = space.channels[-1][choice.width[-1]]
        net.head.fc.weight.copy_(sn.fc.weight[:, :c_last])
        net.head.fc.bias.copy_(sn.fc.bias)
        sup = []
        for s in range(space.num_stages):
            if s:
                sup.append(sn.reductions[s - 1])
            sup += list(sn.stages[s][: 1 + cfg.depth_choices[choice.depth[s]]])
        for p, cell, scell in zip(placements(net.spec), net.cells, sup, strict=True):
            for dm, sm in ((cell.preprocess, scell.preprocess), (cell.shortcut, scell.shortcut)):
                if dm is None or sm is None:
                    continue
                if hasattr(dm, "conv_a"):
                    dm.conv_a.weight.copy_(sm.conv_a.weight[: p.c_out // 2, : p.c_in])
                    dm.conv_b.weight.copy_(sm.conv_b.weight[: p.c_out // 2, : p.c_in])
                else:
                    dm.conv.weight.copy_(sm.weight[: p.c_out, : p.c_in])
            cm = scell.c_out
            for key, mod in cell.edges.items():
                node, src = key.split("_")
                k, j = int(node[1:]), 0 if src == "in" else int(src[1:])
                if hasattr(mod, "conv"):
                    t = k - j - 1
                    bank = scell.banks[f"{j}_bconv3x3"]
                    mod.conv.weight.copy_(bank.weight[t * cm : t * cm + p.c_out, : p.c_out])


@pytest.mark.parametrize("preset", ["tiny", "fmnist"])
def test_supernet_with_a_one_hot_sample_computes_the_derived_network(preset):
    space = space_for(preset, nodes=3, depth_choices=(0, 1))
    torch.manual_seed(0)
    sn = Supernet(space)
    arch = ArchParams(space)
    x = torch.randn(4, *SHAPES[preset])
    rng = random.Random(2)
    for _ in range(3):
        choice = random_choice(space, rng)
        net = bars_zoo.build(space.to_spec(choice, name="x", prune=False))
        _transfer(net, sn, space, choice)
        with torch.no_grad():
            torch.testing.assert_close(sn(x, arch.one_hot(choice)), net(x), rtol=1e-5, atol=1e-5)


def test_supernet_soft_sample_gives_gradients_to_every_alpha():
    space = space_for("tiny")
    sn = Supernet(space)
    arch = ArchParams(space)
    out = sn(torch.randn(4, 3, 32, 32), arch.sample(1.0, torch.Generator().manual_seed(0)))
    out.square().mean().backward()
    for name, p in arch.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
