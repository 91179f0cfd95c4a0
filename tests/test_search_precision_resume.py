"""A search run keeps the precision it began with: ``--amp auto`` on a resume is the recorded mode,
not what ``auto`` would choose on the new machine."""

from __future__ import annotations

import contextlib

import pytest
import torch

from bars_zoo.errors import ConfigError
from bars_zoo.search import precision, search
from bars_zoo.search.presets import config_for


def _amp_of(run_dir) -> str:
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["amp"]


@pytest.mark.parametrize("began, resumed_on", [(True, False), (False, True)])
def test_a_resumed_auto_search_keeps_the_precision_it_began_with(
    began, resumed_on, tmp_path, monkeypatch
):
    cfg = config_for("tiny", dataset="synthetic", epochs=2)  # amp="auto"
    out = tmp_path / "p.geno"
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: began)
    search(cfg, out=out, progress=False, plots=False, stop_after=1)
    mode = "bf16" if began else "off"
    assert _amp_of(tmp_path / "p.run") == mode
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: resumed_on)  # another machine
    result = search(cfg, out=out, resume=True, progress=False, plots=False, stop_after=1)
    assert result.epochs_run == 2 and _amp_of(tmp_path / "p.run") == mode


def _fake_cuda(monkeypatch, capability, bf16):
    """CUDA devices by index: their compute capability and whether they run bf16 at all
    (``torch.cuda.is_bf16_supported()``, which asks the current device)."""
    current: list[int] = [0]

    @contextlib.contextmanager
    def device(d):
        before, current[0] = current[0], torch.device(d).index or 0
        yield
        current[0] = before

    def cap(d=None):
        return capability[torch.device(d).index or 0]

    monkeypatch.setattr(torch.cuda, "get_device_capability", cap)
    monkeypatch.setattr(torch.cuda, "device", device)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16[current[0]])


def test_a_bf16_search_refuses_to_resume_on_a_cuda_device_without_bf16(monkeypatch):
    _fake_cuda(monkeypatch, {0: (5, 2)}, {0: False})  # no bf16, not even emulated
    cuda = torch.device("cuda")
    with pytest.raises(ConfigError, match=r"began in bf16 .* has no bf16"):
        precision.run_precision("auto", cuda, recorded=True)
    assert precision.run_precision("auto", cuda, recorded=False) is False
    assert precision.run_precision("auto", cuda, recorded=None) is False  # a new run: as before


def test_amp_auto_refuses_bf16_on_a_gpu_that_only_emulates_it(monkeypatch):
    # torch.cuda.is_bf16_supported() says yes on a V100 or T4 (emulated bf16: slower than fp32)
    # and asks the current device; the run's own device's compute capability decides
    asked: list[object] = []
    capability = {0: (8, 0), 1: (7, 0)}  # cuda:0 an A100, cuda:1 a V100

    def get_device_capability(device=None):
        asked.append(device)
        return capability[torch.device(device).index]

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    assert precision.use_bf16("auto", torch.device("cuda", 0)) is True
    assert precision.use_bf16("auto", torch.device("cuda", 1)) is False
    assert asked == [torch.device("cuda", 0), torch.device("cuda", 1)]


def test_a_bf16_search_resumes_on_a_gpu_that_emulates_bf16(monkeypatch):
    # native bf16 (capability >= 8.0) chooses the mode of a new run only: a bf16 run begun on a
    # V100 or T4 (as --amp auto chose before it looked at the capability) goes on there
    _fake_cuda(monkeypatch, {0: (8, 0), 1: (7, 0)}, {0: True, 1: True})
    v100 = torch.device("cuda", 1)
    assert precision.run_precision("auto", v100, recorded=True) is True
    assert precision.run_precision("auto", v100, recorded=None) is False  # a new run: fp32
    _fake_cuda(monkeypatch, {0: (8, 0), 1: (7, 0)}, {0: True, 1: False})  # asks cuda:1, not 0
    with pytest.raises(ConfigError, match="has no bf16"):
        precision.run_precision("auto", v100, recorded=True)
