"""The steps that ``--cuda-graph`` captures never touch host data or read device values.

A CUDA graph records device work only: a step that reads a value back (``.item()``, ``float(t)``,
``if t:``) or mixes in a host tensor cannot be captured.  The CUDA capture itself needs a GPU, so
two checks stand in for it here:

* each step runs on the ``meta`` device under a dispatch mode that fails on any op that takes a
  host tensor along or copies one to the device (``torch.tensor(data, device=...)``,
  ``t.to(device)``) and on any value read.  (Indexing with a Python list is converted before
  dispatch and is not seen here; the steps index with device tensors made once, see
  ``SearchSpace._index``.)
* a dispatch mode changes what it watches: autograd's formulas take their "tensor subclass" path
  under one, and some of their real paths read a value back (``prod``'s backward counts zeros with
  ``.item()``; on an H200 that made every capture of the search's alpha step fail).  So each step
  also runs on real CPU tensors under the profiler, which changes nothing, and no value read may
  appear outside the optimiser's step (on a GPU the optimisers are capturable, a mode CPUs lack).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import bars_zoo
from bars_zoo.search.precision import autocast_for
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
# ops whose CUDA kernels wait for the device to size their output (a synchronisation)
SYNCING = {"aten::nonzero", "aten::masked_select", "aten::_unique2", "aten::unique_consecutive"}
COPIES = {"aten::_to_copy", "aten::copy_", "aten::copy"}
FROM_DATA = (torch.tensor, torch.as_tensor, torch.asarray)
# the session-6 search that fell back to eager on an H200: no OPs budget, a parameter limit,
# the paper's widths (benchmarks/results/fmnist_zoo.md)
PARAMS_ONLY = dict(
    budget_ops=None,
    budget_params=480e3,
    theta_under=-0.2,
    base_channels=(48, 96, 192),
    stem_channels=48,
)


class HostTraffic(TorchDispatchMode):
    """Records every op on meta tensors that reads a value back or takes a host tensor along."""

    def __init__(self) -> None:
        super().__init__()
        self.offences: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        on_meta = any(t.device.type == "meta" for t in tensors)
        name = func._schema.name
        if on_meta and name in READS:
            self.offences.append(f"{name} reads a device value")
        elif on_meta and any(t.device.type == "cpu" and t.dim() > 0 for t in tensors):
            self.offences.append(f"{name} takes a host tensor")
        out = func(*args, **kwargs)
        from_host = name in COPIES and any(t.device.type == "cpu" for t in tensors)
        if from_host and any(
            isinstance(t, torch.Tensor) and t.device == META for t in tree_leaves(out)
        ):
            self.offences.append(f"{name} copies a host tensor to the device")
        return out


class HostData(TorchFunctionMode):
    """Records tensors made on the meta device from host data (``torch.tensor(data, device=d)``):
    they are built below the dispatcher, where :class:`HostTraffic` does not see them."""

    def __init__(self, offences: list[str]) -> None:
        super().__init__()
        self.offences = offences

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in FROM_DATA and isinstance(out, torch.Tensor) and out.device == META:
            data = args[0] if args else kwargs.get("data", kwargs.get("obj"))
            if not (isinstance(data, torch.Tensor) and data.device == META):
                self.offences.append(f"torch.{func.__name__} copies host data to the device")
        return out


@contextlib.contextmanager
def host_traffic() -> Iterator[list[str]]:
    """The offences of the code run inside (a list filled as it runs)."""
    mode = HostTraffic()
    with HostData(mode.offences), mode:
        yield mode.offences


def assert_capture_safe(fn: Any, *inputs: torch.Tensor) -> torch.Tensor:
    """``fn(*inputs)`` once as a warm-up (as :class:`GraphedStep` does before its capture: constants
    are made then), then once more as the capture would see it."""
    fn(*inputs)
    with host_traffic() as offences:
        out = fn(*inputs)
    assert offences == []
    assert out.device == META
    return out


def value_reads(fn: Any, *inputs: Any) -> list[str]:
    """The value reads and syncing ops of ``fn(*inputs)`` (CPU tensors), outside optimiser steps."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(*inputs)
    offences = []
    for event in prof.events():
        if event.name not in READS | SYNCING:
            continue
        chain, up = [], event.cpu_parent
        while up is not None:
            chain.append(up.name)
            up = up.cpu_parent
        if not any(c.startswith("Optimizer.step#") for c in chain):
            offences.append(" <- ".join([event.name, *(c for c in chain if "::" not in c)][:3]))
    return offences


def test_the_checker_catches_value_reads_and_host_tensors():
    x = torch.ones(3, 4, device=META)
    for bad in (
        lambda t: t * float(t.sum() > 0),
        lambda t: t * torch.tensor([1.0, 2, 3, 4]),
        lambda t: t * torch.tensor([1.0, 2, 3, 4], device=t.device),  # a copy from the host
        lambda t: t * torch.tensor(2.0, device=t.device),
        lambda t: t + torch.ones(4).to(t.device),
    ):
        with host_traffic() as offences, contextlib.suppress(RuntimeError):
            bad(x)
        assert offences


def test_the_profiler_check_catches_reads_that_a_dispatch_mode_hides():
    x = torch.rand(3, 4, requires_grad=True)
    # prod's backward counts zeros with .item() - except under a dispatch mode
    assert value_reads(lambda: x.prod(-1).sum().backward()) != []
    xm = torch.rand(3, 4, device=META, requires_grad=True)
    with host_traffic() as offences:
        xm.prod(-1).sum().backward()
    assert offences == []  # the blind spot the profiler check closes
    assert value_reads(lambda: torch.nonzero(x)) != []
    assert value_reads(lambda: x * float(x.detach().sum())) != []
    opt = torch.optim.Adam([x])  # reads its step count on a CPU: allowed, capturable on a GPU
    assert value_reads(lambda: (x.sum().backward(), opt.step())) == []


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


@pytest.mark.parametrize("preset", ["tiny", "fmnist", "fmnist-params-only"])
def test_search_steps_are_capture_safe(preset):
    if preset == "fmnist-params-only":
        cfg = config_for("fmnist", **PARAMS_ONLY)
        preset = "fmnist"
    else:
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


@pytest.mark.parametrize("budget", ["ops", "params-only"])
def test_search_steps_read_no_value_back_on_real_tensors(budget):
    if budget == "ops":
        cfg = config_for("tiny", budget_ops=2e6, theta_under=-0.2, grad_clip=5.0, amp="bf16")
        shape = (3, 32, 32)
    else:  # the session-6 configuration, in bf16 as on the GPU
        cfg = config_for("fmnist", amp="bf16", **PARAMS_ONLY)
        shape = (1, 28, 28)
    space = SearchSpace(cfg, shape, 10)
    net, arch = Supernet(space), ArchParams(space)
    gumbel = torch.Generator().manual_seed(0)
    autocast = autocast_for(cfg, torch.device("cpu"), cache=False)
    steps = SearchSteps(cfg, net, arch, gumbel, autocast, cuda_graph=True)
    x, y = torch.randn(2, *shape), torch.randint(0, 10, (2,))
    noise = arch.noise(gumbel)
    tau, lam = torch.full((), 0.9), torch.full((), -0.01)
    assert value_reads(steps._weights, x, y, *noise, tau) == []
    for p in steps.weights:
        p.requires_grad_(False)
    assert value_reads(steps._arch, x, y, *noise, tau, lam) == []


@pytest.mark.parametrize("name", ["bars-fmnist-m", "bars-b"])
def test_training_step_reads_no_value_back_on_real_tensors(name):
    spec = bars_zoo.load_genotype(name)
    net = TrainNet(bars_zoo.build(spec), 0.4 if name == "bars-b" else 0.0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    cfg = TrainConfig(dataset="synthetic", epochs=1, out_dir="-", cuda_graph=True).resolved()
    step = step_fn(cfg, net, opt, 1.0 / 4)
    x = torch.randn(2, *spec.input_shape)
    y = torch.randint(0, spec.num_classes, (2,))
    assert value_reads(step, x, y) == []
