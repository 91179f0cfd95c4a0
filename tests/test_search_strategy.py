"""The search strategy: schedules, Gumbel sampling, the complexity and entropy losses, the config."""

from __future__ import annotations

import math

import pytest
import torch

from bars_zoo.errors import ConfigError
from bars_zoo.search.config import SearchConfig, format_size, parse_size
from bars_zoo.search.presets import config_for, with_overrides
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.strategy import (
    ArchParams,
    arch_loss,
    complexity_factor,
    entropy,
    entropy_weight,
    gumbel_noise,
    gumbel_softmax,
    is_warmup,
    temperature,
    weight_lr,
)


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace(config_for("paper"), (3, 32, 32), 10)


# --------------------------------------------------------------------------- schedules


def test_paper_schedules_follow_appendix_a():
    cfg = config_for("paper")  # 5 warm-up epochs, then 45 that update the alphas
    taus = [temperature(cfg, e) for e in range(cfg.epochs)]
    lams = [entropy_weight(cfg, e) for e in range(cfg.epochs)]
    assert taus == pytest.approx([1.0] * 6 + [0.9**k for k in range(1, 45)])
    assert lams == pytest.approx([-0.01] * 6 + [-0.01 + 0.001 * k for k in range(1, 45)])
    assert entropy_weight(cfg, 15) == pytest.approx(0.0, abs=1e-12)
    assert weight_lr(cfg, 0) == pytest.approx(3e-4)
    assert weight_lr(cfg, 25) == pytest.approx(1.5e-4)
    assert weight_lr(cfg, 50) == pytest.approx(0.0, abs=1e-12)
    assert all(weight_lr(cfg, e) > weight_lr(cfg, e + 1) for e in range(49))
    assert [is_warmup(cfg, e) for e in range(7)] == [True] * 5 + [False] * 2


def _schedule(cfg: SearchConfig) -> list[float]:
    """Per epoch, the exponent ``e`` of the temperature (checked against the entropy weight)."""
    out = []
    for epoch in range(cfg.epochs):
        e = math.log(temperature(cfg, epoch)) / math.log(0.9)
        assert entropy_weight(cfg, epoch) == pytest.approx(-0.01 + 0.001 * e)
        out.append(e)
    return out


@pytest.mark.parametrize(
    ("preset", "overrides", "expected"),
    [
        # one architecture epoch: it runs at the start values, not halfway down the schedule
        ("tiny", {}, [0.0, 0.0]),
        ("tiny", {"epochs": 3}, [0.0, 0.0, 49.0]),
        # 13 architecture epochs traverse the 50-epoch schedule evenly, 0 .. 49
        ("fmnist", {}, [0.0] * 3 + [k * 49 / 12 for k in range(13)]),
        ("fmnist", {"epochs": 8, "warmup_epochs": 2}, [0.0] * 2 + [k * 49 / 5 for k in range(6)]),
        ("fmnist", {"warmup_epochs": 12}, [0.0] * 12 + [0.0, 49 / 3, 98 / 3, 49.0]),
        ("fmnist", {"anneal_over": 7}, [0.0] * 3 + [k / 2 for k in range(13)]),
        ("fmnist", {"anneal_over": None}, [0.0] * 3 + list(range(13))),
        # per epoch, counted from the first architecture epoch however long the warm-up
        ("paper", {"epochs": 30, "warmup_epochs": 20}, [0.0] * 20 + list(range(10))),
        ("paper", {"epochs": 10, "warmup_epochs": 0, "anneal_over": 4}, [k / 3 for k in range(10)]),
    ],
)
def test_schedules_run_from_start_to_end_over_the_architecture_epochs(preset, overrides, expected):
    assert _schedule(config_for(preset, **overrides)) == pytest.approx(expected, abs=1e-9)


# --------------------------------------------------------------------------- Gumbel


def test_gumbel_argmax_frequencies_follow_softmax_of_alpha():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
    g = torch.Generator().manual_seed(0)
    n = 40_000
    noise = gumbel_noise((n, 4), g)
    for tau in (1.0, 0.3):
        picks = gumbel_softmax(logits.expand(n, 4), tau, noise).argmax(-1)
        freq = torch.bincount(picks, minlength=4).float() / n
        torch.testing.assert_close(freq, logits.softmax(-1), atol=0.01, rtol=0)


def test_gumbel_softmax_samples_are_distributions_that_harden_as_tau_falls():
    logits = torch.zeros(1000, 3)
    noise = gumbel_noise((1000, 3), torch.Generator().manual_seed(1))
    hot = gumbel_softmax(logits, 1.0, noise)
    cold = gumbel_softmax(logits, 0.01, noise)
    torch.testing.assert_close(hot.sum(-1), torch.ones(1000))
    assert cold.max(-1).values.mean() > 0.99 > hot.max(-1).values.mean()


def test_sampled_architectures_follow_the_distributions(space):
    arch = ArchParams(space)
    with torch.no_grad():
        arch.width[0] = torch.tensor([2.0, 0.0, 0.0, -1.0])
    g = torch.Generator().manual_seed(2)
    picks = torch.tensor([arch.sample_choice(g).width[0] for _ in range(4000)])
    freq = torch.bincount(picks, minlength=4).float() / len(picks)
    torch.testing.assert_close(freq, arch.width[0].detach().softmax(-1), atol=0.025, rtol=0)


def test_gumbel_noise_is_reproducible_from_the_generator_state():
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    a = gumbel_noise((3, 4), g)
    g.set_state(state)
    assert torch.equal(a, gumbel_noise((3, 4), g))


# --------------------------------------------------------------------------- losses


def test_complexity_factor_is_one_under_budget_and_grows_over_it():
    ops = torch.tensor([5.0, 10.0, 20.0])
    f = complexity_factor(ops, 10.0, 0.2, 0.0)
    torch.testing.assert_close(f, torch.tensor([1.0, 1.0, 2.0**0.2]))
    assert torch.equal(complexity_factor(ops, None, 0.2, 0.0), torch.ones(3))


def test_over_budget_complexity_loss_pushes_alpha_to_cheaper_choices(space):
    arch = ArchParams(space)
    cfg = with_overrides(space.config, budget_ops=5e6)  # the uniform distribution costs ~20M
    ops0 = float(arch.expected_complexity()["ops"].detach())
    assert ops0 > 5e6
    loss, _ = arch_loss(cfg, torch.tensor(1.0), arch, epoch=10)  # lambda = 0 at epoch 10
    loss.backward()
    conv, sc, none = (cfg.edge_ops.index(o) for o in ("bconv3x3", "shortcut", "none"))
    g = arch.edge.grad
    assert (g[..., conv] > 0).all() and (g[..., conv] > g[..., sc]).all()
    assert (g[..., none] < 0).any()
    assert (arch.width.grad[:, -1] > 0).all() and (arch.width.grad[:, 0] < 0).all()
    assert (arch.depth.grad[:, -1] > 0).all() and (arch.depth.grad[:, 0] < 0).all()
    opt = torch.optim.Adam(arch.parameters(), lr=0.05)
    opt.step()
    assert float(arch.expected_complexity()["ops"].detach()) < ops0


def test_a_parameter_budget_pushes_hardest_on_the_late_wide_stages(space):
    def width_push(**budgets):
        arch = ArchParams(space)
        cfg = with_overrides(space.config, **budgets)
        loss, parts = arch_loss(cfg, torch.tensor(1.0), arch, epoch=10)
        loss.backward()
        assert float(parts["factor"]) > 1.0
        g = arch.width.grad[:, -1]  # the widest choice of each stage
        assert (g > 0).all()
        return float(g[-1] / g[0])  # last stage vs first stage

    with torch.no_grad():
        exp = ArchParams(space).expected_complexity()
    by_ops = width_push(budget_ops=float(exp["ops"]) / 4)
    by_params = width_push(budget_params=float(exp["binary_params"]) / 4)
    # OPs weigh every stage by its resolution, parameters do not: late stages (few pixels, many
    # weights) matter far more for the parameter count
    assert by_params > 4 * by_ops


def test_under_budget_the_complexity_term_has_no_gradient(space):
    arch = ArchParams(space)
    cfg = with_overrides(space.config, budget_ops=1e9)
    loss, parts = arch_loss(cfg, torch.tensor(1.0), arch, epoch=10)
    loss.backward()
    assert float(parts["factor"]) == 1.0
    for p in arch.parameters():
        assert p.grad is None or torch.count_nonzero(p.grad) == 0


@pytest.mark.parametrize(("epoch", "direction"), [(0, 1), (30, -1)])
def test_entropy_term_explores_early_and_sharpens_late(space, epoch, direction):
    arch = ArchParams(space)
    with torch.no_grad():
        arch.edge.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    before = float(arch.entropy().detach())
    loss, _ = arch_loss(space.config, torch.tensor(0.0), arch, epoch=epoch)
    loss.backward()
    torch.optim.SGD(arch.parameters(), lr=1.0).step()
    assert direction * (float(arch.entropy().detach()) - before) > 0


def test_entropy_sums_over_decisions():
    p = torch.full((5, 4), 0.25)
    assert float(entropy(p)) == pytest.approx(5 * math.log(4))


# --------------------------------------------------------------------------- config


def test_sizes_parse_with_decimal_units():
    assert parse_size("20M") == 2e7
    assert parse_size("1.5G") == 1.5e9
    assert parse_size("250k") == 2.5e5
    assert parse_size("3e6") == 3e6
    assert parse_size(7) == 7.0
    assert format_size(2e7) == "20M" and format_size(1.5e9) == "1.5G"


@pytest.mark.parametrize("bad", ["", "20X", "M", "-3M", "0"])
def test_unreadable_sizes_are_config_errors(bad):
    with pytest.raises(ConfigError, match=r"as a size|must be positive"):
        parse_size(bad)


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown search preset 'huge'"):
        config_for("huge")


def test_warmup_longer_than_the_search_is_a_config_error():
    with pytest.raises(ConfigError, match="warmup_epochs"):
        config_for("tiny", epochs=2, warmup_epochs=2)


def test_unknown_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="invalid search setting colour"):
        config_for("tiny", colour="blue")


def test_fingerprint_changes_with_every_setting():
    a = config_for("tiny")
    assert a.fingerprint() == config_for("tiny").fingerprint()
    assert a.fingerprint() != config_for("tiny", seed=1).fingerprint()
    assert a.fingerprint() != config_for("tiny", budget_ops=1e6).fingerprint()


def test_negative_theta_under_pulls_an_under_budget_search_towards_dearer_choices(space):
    arch = ArchParams(space)
    cfg = with_overrides(space.config, budget_ops=40e6, theta_under=-0.2)  # uniform: ~6M
    loss, parts = arch_loss(cfg, torch.tensor(1.0), arch, epoch=10)
    assert float(parts["factor"]) > 1
    loss.backward()
    conv = cfg.edge_ops.index("bconv3x3")
    assert (arch.edge.grad[..., conv] < 0).all()
    assert (arch.width.grad[:, -1] < 0).all() and (arch.depth.grad[:, -1] < 0).all()


def test_positive_theta_under_is_a_config_error():
    with pytest.raises(ConfigError, match="theta_under"):
        config_for("tiny", theta_under=0.5)
