"""The steps that ``--cuda-graph`` captures never touch host data or read device values.

A CUDA graph records device work only: a step that reads a value back (``.item()``, ``float(t)``,
``if t:``) or mixes in a host tensor cannot be captured.  The CUDA capture itself needs a GPU, so
here each step runs on the ``meta`` device under a dispatch mode that fails on any such operation;
it runs the same code paths.  (Indexing with a Python list is converted before dispatch and is not
seen here; the steps index with device tensors made once, see ``SearchSpace._index``.)
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import bars_zoo
from bars_zoo.search.presets import config_for
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.steps import SearchSteps
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet
from bars_zoo.trainepoch import step_fn
from bars_zoo.training import TrainConfig
from bars_zoo.trainnet import TrainNet

META = torch.device("meta")
READS = {"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::equal"}


class HostTraffic(TorchDispatchMode):
    """Records every op on meta tensors that reads a value back or takes a host tensor along."""

    def __init__(self) -> None:
        super().__init__()
        self.offences: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [
            t
            for t in torch.utils._pytree.tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor)
        ]
        on_meta = any(t.device.type == "meta" for t in tensors)
        name = func._schema.name
        if on_meta and name in READS:
            self.offences.append(f"{name} reads a device value")
        elif on_meta and any(t.device.type == "cpu" and t.dim() > 0 for t in tensors):
            self.offences.append(f"{name} takes a host tensor")
        return func(*args, **kwargs)


def assert_capture_safe(fn: Any, *inputs: torch.Tensor) -> torch.Tensor:
    mode = HostTraffic()
    with mode:
        out = fn(*inputs)
    assert mode.offences == []
    assert out.device == META
    return out


def test_the_checker_catches_value_reads_and_host_tensors():
    x = torch.ones(3, 4, device=META)
    for bad in (lambda t: t * float(t.sum() > 0), lambda t: t * torch.tensor([1.0, 2, 3, 4])):
        mode = HostTraffic()
        with mode, contextlib.suppress(RuntimeError):
            bad(x)
        assert mode.offences


@pytest.mark.parametrize("name", ["bars-fmnist-m", "xnor-resnet18-fmnist", "bars-b"])
def test_training_step_is_capture_safe(name):
    spec = bars_zoo.load_genotype(name)
    net = TrainNet(bars_zoo.build(spec), 0.4 if name == "bars-b" else 0.0).to(META)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    cfg = TrainConfig(dataset="synthetic", epochs=1, out_dir="-", cuda_graph=True).resolved()
    step = step_fn(cfg, net, opt, 1.0 / 4)
    x = torch.randn(4, *spec.input_shape, device=META)
    y = torch.randint(0, spec.num_classes, (4,), device=META)
    out = assert_capture_safe(step, x, y)
    assert out.shape == (3,)


@pytest.mark.parametrize("preset", ["tiny", "fmnist"])
def test_search_steps_are_capture_safe(preset):
    cfg = config_for(preset, budget_ops=2e6, theta_under=-0.2, grad_clip=5.0)
    shape = (1, 28, 28) if preset == "fmnist" else (3, 32, 32)
    space = SearchSpace(cfg, shape, 10)
    net, arch = Supernet(space).to(META), ArchParams(space).to(META)
    gumbel = torch.Generator().manual_seed(0)
    steps = SearchSteps(cfg, net, arch, gumbel, contextlib.nullcontext, cuda_graph=True)
    x = torch.randn(2, *shape, device=META)
    y = torch.randint(0, 10, (2,), device=META)
    noise = [n.to(META) for n in arch.noise(gumbel)]
    tau, lam = torch.full((), 0.9, device=META), torch.full((), -0.01, device=META)
    assert assert_capture_safe(steps._weights, x, y, *noise, tau).shape == (2,)
    for p in steps.weights:
        p.requires_grad_(False)
    assert assert_capture_safe(steps._arch, x, y, *noise, tau, lam).shape == (4,)
