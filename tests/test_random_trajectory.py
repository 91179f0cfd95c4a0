"""The random draws of training and search keep their order and values across versions.

A resumed run equals an uninterrupted one only if every version draws the same numbers from the
same generators: the batches (order, crops, flips, cutouts) and the search's Gumbel noise.  The
golden values below were computed by the code before the draws were batched into one device copy
per step (``benchmarks/results/fmnist_zoo.md``'s GPU review); images are ``randint`` (exact on any
CPU), and the batch pipeline's float ops (a division, a subtraction, a multiplication by 0 or 1)
are exact, so the batches' digests are too.  The alphas after a few search steps went through
convolutions: compared with a tolerance, far below what other noise would change.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

from bars_zoo.batches import Augment, BatchLoader
from bars_zoo.data import ImageSet, make_synthetic
from bars_zoo.search.precision import autocast_for
from bars_zoo.search.presets import config_for
from bars_zoo.search.space import SearchSpace
from bars_zoo.search.steps import SearchSteps
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet

PAD_FLIP_CUTOUT = Augment(pad=2, flip=True, cutout=8)
RESIZED = Augment(resized_crop=True, flip=True, cutout=16)


def images(n: int, shape: tuple[int, int, int]) -> ImageSet:
    g = torch.Generator().manual_seed(7)
    pixels = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=g)
    return ImageSet(pixels, labels, make_synthetic("train", size=1, input_shape=shape).info)


def batches(aug: Augment, shape: tuple[int, int, int], world_size: int = 1, rank: int = 0):
    loader = BatchLoader(
        images(40, shape), 16, augment=aug, seed=3, rank=rank, world_size=world_size
    )
    loader.set_epoch(1)
    return list(loader)


def digest(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> str:
    h = hashlib.sha256()
    for x, y in pairs:
        h.update(x.numpy().tobytes())
        h.update(y.numpy().tobytes())
    return h.hexdigest()[:16]


GOLDEN_BATCHES = {
    (1, 0): "26f6139c933d502f",
    (2, 0): "ebb243dacd6e00a4",
    (2, 1): "794931f26b3148df",
}


@pytest.mark.parametrize(("world_size", "rank"), sorted(GOLDEN_BATCHES))
def test_padded_crops_flips_and_cutouts_are_those_of_earlier_versions(world_size, rank):
    got = digest(batches(PAD_FLIP_CUTOUT, (1, 28, 28), world_size, rank))
    assert got == GOLDEN_BATCHES[world_size, rank]


def test_resized_crops_are_those_of_earlier_versions():
    x = torch.cat([x for x, _ in batches(RESIZED, (3, 40, 40))]).double()
    weights = torch.arange(1, x[0].numel() + 1, dtype=torch.float64)
    got = (x.sum().item(), (x.flatten(1) * weights).sum().item())
    assert got == pytest.approx(GOLDEN_RESIZED, rel=1e-6)


@pytest.mark.parametrize("aug", [PAD_FLIP_CUTOUT, RESIZED], ids=["padded", "resized"])
def test_each_rank_gets_its_rows_of_the_one_process_batches(aug):
    whole = batches(aug, (3, 40, 40))
    for rank in (0, 1):
        for (x, y), (xr, yr) in zip(whole, batches(aug, (3, 40, 40), 2, rank), strict=True):
            assert torch.equal(xr, x[rank::2]) and torch.equal(yr, y[rank::2])


GOLDEN_RESIZED = (-48791.25306224823, -112087896.60296059)
GOLDEN_ALPHAS = (-0.05862971273018047, 0.582722446473781, -2.5382068806211464)


def alphas_after_a_few_steps() -> tuple[float, float, float]:
    """Sum, absolute sum and index-weighted sum of the alphas after four weights and four alpha
    steps of the tiny search on CPU."""
    cfg = config_for("tiny", dataset="synthetic")
    shape = (1, 28, 28)
    space = SearchSpace(cfg, shape, 10)
    torch.manual_seed(0)
    net, arch = Supernet(space), ArchParams(space)
    cpu = torch.device("cpu")
    steps = SearchSteps(
        cfg, net, arch, torch.Generator().manual_seed(5), autocast_for(cfg, cpu, bf16=False)
    )
    loader = BatchLoader(
        images(4 * cfg.batch_size, shape),
        cfg.batch_size,
        augment=Augment(pad=2, flip=True),
        drop_last=True,
        seed=1,
    )
    for x, y in loader:
        steps.weights_step(x, y, 1.0)
        steps.arch_step(x, y, 0.9, 1)
    a = torch.cat([p.detach().flatten() for p in arch.parameters()]).double()
    return (a.sum().item(), a.abs().sum().item(), (a * torch.arange(1, a.numel() + 1)).sum().item())


def test_a_few_search_steps_reach_the_alphas_of_earlier_versions():
    assert alphas_after_a_few_steps() == pytest.approx(GOLDEN_ALPHAS, rel=1e-4, abs=1e-7)
