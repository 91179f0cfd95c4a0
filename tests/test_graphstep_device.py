"""A graphed step captures and replays on its own device, not on whichever one is current.

``torch.cuda.graph`` records on the current device's stream: a run on ``cuda:1`` captured while
``cuda:0`` is current records nothing, and its replays do nothing.  Without a GPU here, fakes of
``torch.cuda.device``, ``torch.cuda.CUDAGraph`` and ``torch.cuda.graph`` record which device was
current at each capture and replay (the step itself runs on CPU tensors); the real thing is
checked by the gpu-marked test at the end.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from bars_zoo.graphstep import GraphedStep

CUDA1 = torch.device("cuda", 1)
EMPTY = (
    "The CUDA Graph is empty. This usually means that the graph was attempted to be captured on "
    "wrong device or stream."
)


class FakeCuda:
    """The current CUDA device (0 at first) and what was captured and replayed on which one."""

    def __init__(self, *, empty: bool = False) -> None:
        self.current = 0
        self.empty = empty
        self.log: list[tuple[str, int]] = []

    @contextlib.contextmanager
    def device(self, dev: Any) -> Iterator[None]:
        prev, self.current = self.current, torch.device(dev).index
        try:
            yield
        finally:
            self.current = prev

    @contextlib.contextmanager
    def graph(self, graph: Any) -> Iterator[None]:
        self.log.append(("capture", self.current))
        yield
        if self.empty:  # what PyTorch says when the step's work went to another device
            warnings.warn(EMPTY, UserWarning, stacklevel=2)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
        fake = self

        class Graph:
            def replay(self) -> None:
                fake.log.append(("replay", fake.current))

        monkeypatch.setattr(torch.cuda, "device", self.device)
        monkeypatch.setattr(torch.cuda, "graph", self.graph)
        monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)
        return self


def _stepper() -> tuple[GraphedStep, list[int], torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    calls: list[int] = []

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    return GraphedStep(step, opt, warmup=0, name="test step", device=CUDA1), calls, x, y


def test_a_graphed_step_captures_and_replays_with_its_device_current(monkeypatch):
    fake = FakeCuda().install(monkeypatch)
    stepper, _, x, y = _stepper()
    for _ in range(3):
        stepper(x, y)
    assert stepper.captured
    assert fake.log == [("capture", 1), ("replay", 1), ("replay", 1), ("replay", 1)]
    assert fake.current == 0  # the caller's current device is left as it was


def test_an_empty_capture_falls_back_to_eager_steps_with_a_warning(monkeypatch, caplog):
    FakeCuda(empty=True).install(monkeypatch)
    stepper, calls, x, y = _stepper()
    with caplog.at_level("WARNING", logger="bars_zoo.graphstep"):
        first = stepper(x, y)
    assert not stepper.captured and stepper.failed
    assert "CUDA graph capture of the test step failed" in caplog.text
    assert stepper.status.startswith("eager: capture failed (The CUDA Graph is empty.")
    # the step's work ran outside the empty capture: it counts, and is not run a second time
    assert len(calls) == 1 and first.shape == ()
    stepper(x, y)
    assert len(calls) == 2  # then eager steps


def test_other_warnings_of_a_capture_are_passed_on(monkeypatch):
    fake = FakeCuda().install(monkeypatch)
    stepper, _, x, y = _stepper()
    inner = stepper.step_fn

    def warns(*inputs: torch.Tensor) -> torch.Tensor:
        warnings.warn("something else", UserWarning, stacklevel=2)
        return inner(*inputs)

    stepper.step_fn = warns
    with pytest.warns(UserWarning, match="something else"):
        stepper(x, y)
    assert stepper.captured and fake.log[0] == ("capture", 1)


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_a_graphed_step_on_the_second_gpu_replays_real_work():
    dev = torch.device("cuda", 1)
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 2).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=0.1, capturable=True)
    x, y = torch.randn(8, 4, device=dev), torch.randint(0, 2, (8,), device=dev)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    assert torch.cuda.current_device() == 0
    stepper = GraphedStep(step, opt, warmup=2, device=dev)
    losses = [float(stepper(x, y)) for _ in range(6)]
    assert stepper.captured, stepper.status
    assert losses[5] < losses[3]  # the replays train
