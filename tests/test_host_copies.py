"""A step copies its host-drawn random values to the device once, not once per tensor.

The random draws of a step (the search's Gumbel noise, the batches' crops, flips and cutouts) come
from CPU generators, so that runs are reproducible on any device; each copy of a pageable host
tensor to a GPU blocks the host until it is done.  Counted here on the ``meta`` device: the copies
from the CPU to it of one search step (the graphed path's inputs and the eager steps) and of one
training batch.  A batch's images and labels are two more copies (one each, as before).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from bars_zoo.batches import Augment, BatchLoader
from bars_zoo.data import make_synthetic
from bars_zoo.devices import to_device_at_once
from bars_zoo.search.presets import config_for
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.steps import SearchSteps
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet

META = torch.device("meta")
COPIES = {"aten::_to_copy", "aten::copy_", "aten::copy"}


class HostToDevice(TorchDispatchMode):
    """Counts the ops that copy a CPU tensor to the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        if func._schema.name in COPIES and any(t.device.type == "cpu" for t in tensors):
            self.count += any(
                isinstance(t, torch.Tensor) and t.device == META for t in tree_leaves(out)
            )
        return out


@contextlib.contextmanager
def host_to_device() -> Iterator[HostToDevice]:
    with HostToDevice() as mode:
        yield mode


def _steps() -> SearchSteps:
    cfg = config_for("tiny", dataset="synthetic")
    space = SearchSpace(cfg, (1, 28, 28), 10)
    net, arch = Supernet(space).to(META), ArchParams(space).to(META)
    return SearchSteps(cfg, net, arch, torch.Generator().manual_seed(0), contextlib.nullcontext)


def test_the_graphed_search_steps_copy_their_noise_in_once():
    steps = _steps()
    with host_to_device() as weights:
        steps._device_inputs(1.0)  # the weights step's graph inputs: noise and temperature
    with host_to_device() as alpha:
        steps._device_inputs(1.0, -0.01)  # the alpha step's: noise, temperature and lambda
    assert (weights.count, alpha.count) == (1, 1)  # was 3 and 3


def test_the_eager_search_steps_copy_their_noise_in_once():
    steps = _steps()
    x = torch.randn(4, 1, 28, 28, device=META)
    y = torch.randint(0, 10, (4,), device=META)
    steps.weights_step(x, y, 1.0)  # a first call makes the supernet's constants
    steps.arch_step(x, y, 1.0, 0)
    with host_to_device() as weights:
        steps.weights_step(x, y, 1.0)
    with host_to_device() as alpha:
        steps.arch_step(x, y, 1.0, 0)
    assert (weights.count, alpha.count) == (1, 1)  # was 3 and 3


@pytest.mark.parametrize(
    "aug",
    [Augment(pad=2, flip=True, cutout=8), Augment(resized_crop=True, flip=True, cutout=8)],
    ids=["padded", "resized"],
)
@pytest.mark.parametrize("world_size", [1, 2])
def test_a_training_batch_copies_its_random_draws_in_once(aug, world_size):
    data = make_synthetic("train", size=32, input_shape=(1, 28, 28))
    batches = iter(BatchLoader(data, 16, augment=aug, device=META, world_size=world_size))
    with host_to_device() as mode:
        x, y = next(batches)
    assert x.shape == (16 // world_size, 1, 28, 28) and y.shape == (16 // world_size,)
    assert mode.count == 3  # images, labels, the draws (was 2 + 5 with pad, flip and cutout)


def test_an_evaluation_batch_tally_copies_nothing_from_the_host():
    from torch.overrides import TorchFunctionMode

    from bars_zoo.evaluation import batch_tally

    made: list[str] = []

    class FromData(TorchFunctionMode):  # torch.tensor(data, device=...) is below the dispatcher
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None):
            out = func(*args, **(kwargs or {}))
            if func is torch.tensor and isinstance(out, torch.Tensor) and out.device == META:
                made.append(func.__name__)
            return out

    logits = torch.randn(8, 10, device=META)
    y = torch.randint(0, 10, (8,), device=META)
    with FromData(), host_to_device() as mode:
        assert batch_tally(logits, y).shape == (4,)
    assert (mode.count, made) == (0, [])


def test_to_device_at_once_keeps_shapes_and_leaves_cpu_tensors_alone():
    a, b = torch.arange(6.0).view(2, 3), torch.ones(4)
    with host_to_device() as mode:
        on_meta = to_device_at_once([a, b], META)
    assert mode.count == 1
    assert [t.shape for t in on_meta] == [(2, 3), (4,)] and on_meta[0].device == META
    same = to_device_at_once([a, b], torch.device("cpu"))
    assert same[0] is a and same[1] is b


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_the_training_progress_bar_reads_values_back_only_when_it_redraws(monkeypatch):
    # a float() of a device tensor waits for the GPU: once per redraw of the bar, not per step
    from types import SimpleNamespace

    from bars_zoo import trainepoch
    from bars_zoo.distributed import DistEnv

    postfixes: list[dict[str, Any]] = []

    class Bar:
        def __init__(self, **kwargs: Any) -> None:
            self.n = 0

        def update(self) -> bool:
            self.n += 1
            return self.n % 7 == 0  # the bar redraws now and then

        def set_postfix(self, **kwargs: Any) -> None:
            postfixes.append(kwargs)

        def close(self) -> None:
            pass

    class Batches(list):
        def set_epoch(self, epoch: int) -> None:
            pass

    monkeypatch.setattr(trainepoch, "tqdm", Bar)
    p = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.Adam([p], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)
    cfg = SimpleNamespace(progress=True, epochs=1, channels_last=False)
    data = SimpleNamespace(train=Batches([(torch.zeros(2), torch.zeros(2))] * 30))
    tally = torch.tensor([1.0, 1.0, 2.0])
    env = DistEnv()
    trainepoch.train_epoch(
        cfg, env, lambda x, y: tally, None, torch.nn.Linear(1, 1), opt, sched, data, 0
    )  # type: ignore[arg-type]
    assert len(postfixes) == 4  # redraws at steps 7, 14, 21, 28
    assert all(kw.get("refresh") is False for kw in postfixes)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_and_noise_copied_at_once_to_a_gpu_equal_the_cpu_ones():
    aug = Augment(pad=2, flip=True, cutout=8)
    data = make_synthetic("train", size=48, input_shape=(1, 28, 28))
    cuda = torch.device("cuda")
    for (x, y), (xc, yc) in zip(
        BatchLoader(data, 16, augment=aug, seed=2),
        BatchLoader(data, 16, augment=aug, seed=2, device=cuda),
        strict=True,
    ):
        assert torch.equal(xc.cpu(), x) and torch.equal(yc.cpu(), y)
    noise = [torch.randn(3, 4), torch.randn(5)]
    on_gpu = to_device_at_once(noise, cuda)
    assert all(torch.equal(a, b.cpu()) for a, b in zip(noise, on_gpu, strict=True))
