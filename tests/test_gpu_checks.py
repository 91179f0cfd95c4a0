"""GPU checks of what the CPU tests stand in for (``benchmarks/results/fmnist_zoo.md``, "Next").

* a resumed ``--cuda-graph`` run's learning rate reaches its graph (the checkpoint's lr tensor,
  read onto the CPU, used to be baked into the capture as a constant);
* a captured step records real work (``--device cuda:1`` captured an empty graph on ``cuda:0``;
  that one needs two GPUs: ``tests/test_graphstep_device.py``);
* the search's steps and the draws they copy in do not synchronise the host with the device.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from bars_zoo import checkpoint as ckpt
from bars_zoo.graphstep import GraphedStep, make_capturable

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _net_and_step():
    cuda = torch.device("cuda")
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 2).to(cuda)
    x, y = torch.randn(8, 4, device=cuda), torch.randint(0, 2, (8,), device=cuda)
    return net, x, y


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_a_resumed_graphed_run_replays_with_the_schedules_learning_rate(tmp_path):
    cuda = torch.device("cuda")
    net, x, y = _net_and_step()
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    make_capturable(opt, cuda)  # the first, graphed, run
    ckpt.save({"optimizer": opt.state_dict()}, tmp_path / "checkpoint.pt")
    resumed = torch.optim.Adam(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(resumed, lambda t: 1.0 if t < 4 else 0.0)
    resumed.load_state_dict(ckpt.load(tmp_path / "checkpoint.pt")["optimizer"])
    make_capturable(resumed, cuda)
    assert resumed.param_groups[0]["lr"].is_cuda

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        resumed.step()
        return loss.detach()

    graphed = GraphedStep(step, resumed, warmup=2, device=cuda)
    for _ in range(4):  # two eager warm-up steps, the capture, one replay
        graphed(x, y)
        sched.step()
        graphed.refresh_lr()
    assert graphed.captured
    before = net.weight.detach().clone()
    for _ in range(3):  # the schedule's lr is 0 now: replays must leave the weights alone
        graphed(x, y)
        sched.step()
        graphed.refresh_lr()
    torch.testing.assert_close(net.weight.detach(), before, rtol=0, atol=0)


def test_a_graphed_step_records_its_work():
    cuda = torch.device("cuda")
    net, x, y = _net_and_step()
    opt = torch.optim.Adam(net.parameters(), lr=0.1, capturable=True)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    graphed = GraphedStep(step, opt, warmup=2, device=cuda)
    losses = [float(graphed(x, y)) for _ in range(6)]
    assert graphed.captured, graphed.status
    assert losses[5] < losses[3]  # the replays train


def test_search_steps_do_not_synchronise_with_the_host():
    from bars_zoo.search.presets import config_for
    from bars_zoo.search.space import SearchSpace
    from bars_zoo.search.steps import SearchSteps
    from bars_zoo.search.strategy import ArchParams
    from bars_zoo.search.supernet import Supernet

    cuda = torch.device("cuda")
    cfg = config_for("tiny", dataset="synthetic")
    space = SearchSpace(cfg, (1, 28, 28), 10)
    net, arch = Supernet(space).to(cuda), ArchParams(space).to(cuda)
    steps = SearchSteps(cfg, net, arch, torch.Generator().manual_seed(0), contextlib.nullcontext)
    x = torch.randn(8, 1, 28, 28, device=cuda)
    y = torch.randint(0, 10, (8,), device=cuda)
    for _ in range(2):  # warm-up: the supernet's constants, Adam's state, cuDNN's choices
        steps.weights_step(x, y, 1.0)
        steps.arch_step(x, y, 1.0, 0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        steps.weights_step(x, y, 1.0)
        steps.arch_step(x, y, 1.0, 0)
    finally:
        torch.cuda.set_sync_debug_mode("default")
