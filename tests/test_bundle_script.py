"""scripts/bundle_fmnist_zoo.py: the hardware phrase of the genotype header it writes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bundle_fmnist_zoo.py"


@pytest.fixture(scope="module")
def bundle():
    spec = importlib.util.spec_from_file_location("bundle_fmnist_zoo", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_with(tmp_path: Path, hardware: list[str | None]) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    records = [{"epoch": i + 1} | ({"hardware": h} if h else {}) for i, h in enumerate(hardware)]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def test_a_run_on_one_machine_says_one(bundle, tmp_path):
    run = run_with(tmp_path, ["NVIDIA H200"] * 3)
    assert bundle.on_machines(run, "NVIDIA H200") == "one NVIDIA H200"


def test_a_run_of_one_epoch_per_machine_lists_its_machines(bundle, tmp_path):
    line = "NVIDIA H200 (epoch 1), AMD EPYC CPU (2 threads) (epoch 2)"
    run = run_with(tmp_path, ["NVIDIA H200", "AMD EPYC CPU (2 threads)"])
    assert bundle.on_machines(run, line) == line


def test_a_log_from_before_hardware_was_recorded_per_epoch_is_one_machine(bundle, tmp_path):
    run = run_with(tmp_path, [None, None])
    assert bundle.on_machines(run, "NVIDIA H100") == "one NVIDIA H100"
