"""``--device``: parsed and checked once for every command, a mistake is a usage error."""

from __future__ import annotations

import pytest
import torch

from bars_zoo.cli import main
from bars_zoo.devices import resolve_device
from bars_zoo.errors import ConfigError


def test_no_device_means_cuda_when_there_is_one_else_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == torch.device("cuda")


def test_a_device_string_torch_does_not_know_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown device 'gpu'") as err:
        resolve_device("gpu")
    assert "cuda:1" in (err.value.hint or "")


def test_cuda_without_cuda_and_a_missing_cuda_index_are_config_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match="has 1 CUDA device"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("device", ["mps", "meta"])
def test_devices_bars_zoo_does_not_run_on_are_refused(device):
    with pytest.raises(ConfigError, match="not supported"):
        resolve_device(device)
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("command", [["eval", "example"], ["train", "example", "--epochs", "1"]])
def test_the_commands_answer_a_bad_device_with_exit_2(command, tmp_path, capsys):
    argv = [*command, "--dataset", "synthetic", "--device", "gpu"]
    if command[0] == "train":
        argv += ["--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown device 'gpu'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("device", "message"), [("gpu", "unknown device"), ("mps", "not supported")]
)
def test_load_answers_a_bad_device_with_a_config_error(device, message):
    import bars_zoo

    with pytest.raises(ConfigError, match=message):
        bars_zoo.load("bars-fmnist-s", device=device)


def test_load_on_cuda_without_cuda_is_a_config_error(monkeypatch):
    import bars_zoo

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="'cuda' was asked for but CUDA is not available"):
        bars_zoo.load("bars-fmnist-s", pretrained=False, device="cuda")
