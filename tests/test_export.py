"""Export (README, "Fine-tuning and export"): a loaded model in eval mode, and its deployed
(packed) twin, go through ``torch.export`` and ``torch.jit.trace`` and give the same outputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from tiny_net import tiny_model

import bars_zoo


@pytest.fixture
def loaded(tmp_path: Path) -> torch.nn.Module:
    """The tiny net as a user gets it: saved packed and loaded (frozen scales), in eval mode."""
    folder = bars_zoo.save_pretrained(tiny_model(), tmp_path / "tiny")
    return bars_zoo.load(folder)


def _x(batch: int) -> torch.Tensor:
    torch.manual_seed(batch)
    return torch.randn(batch, 1, 10, 10)


def test_exported_loaded_model_gives_the_same_logits(loaded: torch.nn.Module) -> None:
    x = _x(2)
    program = torch.export.export(loaded, (x,))
    assert torch.equal(program.module()(x), loaded(x))


def test_exported_model_with_a_dynamic_batch_runs_other_batch_sizes(
    loaded: torch.nn.Module,
) -> None:
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(loaded, (_x(2),), dynamic_shapes=({0: batch},))
    for n in (1, 5):
        assert torch.equal(program.module()(_x(n)), loaded(_x(n)))


def test_exported_program_saves_and_loads(loaded: torch.nn.Module, tmp_path: Path) -> None:
    x = _x(3)
    torch.export.save(torch.export.export(loaded, (x,)), tmp_path / "tiny.pt2")
    assert torch.equal(torch.export.load(tmp_path / "tiny.pt2").module()(x), loaded(x))


def test_model_with_a_new_classifier_exports(loaded: torch.nn.Module) -> None:
    loaded.reset_classifier(3)
    x = _x(2)
    out = torch.export.export(loaded, (x,)).module()(x)
    assert out.shape == (2, 3) and torch.equal(out, loaded(x))


def test_traced_loaded_model_gives_the_same_logits_at_other_batch_sizes(
    loaded: torch.nn.Module,
) -> None:
    with warnings.catch_warnings():
        # torch.jit.trace is deprecated (FutureWarning); the TracerWarnings are the channel
        # checks of the parameter-free shortcuts, fixed by the architecture
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(loaded, (_x(2),))
    for n in (2, 5):
        assert torch.equal(traced(_x(n)), loaded(_x(n)))


def test_exported_deployed_model_gives_the_same_logits(loaded: torch.nn.Module) -> None:
    deployed = bars_zoo.deploy(loaded)
    x = _x(2)
    with torch.no_grad():
        program = torch.export.export(deployed, (x,))
        assert torch.equal(program.module()(x), deployed(x))
        assert torch.equal(deployed(x), loaded(x))


def test_exported_deployed_program_saves_and_loads(loaded: torch.nn.Module, tmp_path: Path) -> None:
    deployed = bars_zoo.deploy(loaded)  # registers torch.ops.bars_zoo, as loading it needs
    x = _x(2)
    with torch.no_grad():
        torch.export.save(torch.export.export(deployed, (x,)), tmp_path / "fast.pt2")
        assert torch.equal(torch.export.load(tmp_path / "fast.pt2").module()(x), deployed(x))
