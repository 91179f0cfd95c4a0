"""Data parallel training: two gloo processes on CPU equal one process on the same global batch."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from tiny_net import two_stage
from torch import nn

from bars_zoo import checkpoint as ckpt
from bars_zoo.cli import main
from bars_zoo.distributed import (
    GlobalBatchNorm2d,
    convert_sync_batchnorm,
    env_from_environ,
    revert_batchnorm,
)
from bars_zoo.errors import ConfigError

GENOTYPE = two_stage("tiny-ddp", "3x8x8")


def test_environment_without_torchrun_is_one_process():
    env = env_from_environ({})
    assert (env.rank, env.world_size, env.distributed, env.is_main) == (0, 1, False, True)
    env = env_from_environ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (env.rank, env.local_rank, env.world_size) == (3, 1, 4)


def test_inconsistent_distributed_environment_is_a_config_error():
    with pytest.raises(ConfigError, match="RANK=4 is not in range for WORLD_SIZE=4"):
        env_from_environ({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ConfigError, match="malformed distributed environment"):
        env_from_environ({"WORLD_SIZE": "two"})


@pytest.fixture
def gloo_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_global_batch_norm_equals_batch_norm_in_value_gradient_and_running_stats(gloo_group):
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(5)
    nn.init.uniform_(ref.weight)
    nn.init.uniform_(ref.bias)
    ours = convert_sync_batchnorm(nn.Sequential(ref), torch.device("cpu"))[0]
    assert isinstance(ours, GlobalBatchNorm2d)
    ref = nn.BatchNorm2d(5)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(6, 5, 4, 3) * 3 + 1
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn(6, 5, 4, 3)
    for _ in range(2):
        ya, yb = ref(xa), ours(xb)
        torch.testing.assert_close(ya, yb, atol=1e-5, rtol=1e-5)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    torch.testing.assert_close(xa.grad / 2, xb.grad / 2, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ref.weight.grad, ours.weight.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ref.running_var, ours.running_var)
    torch.testing.assert_close(ref.running_mean, ours.running_mean)
    assert int(ours.num_batches_tracked) == 2


def test_reverting_global_batch_norm_keeps_parameters_and_buffers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model(torch.randn(2, 3, 5, 5))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    back = revert_batchnorm(convert_sync_batchnorm(model, torch.device("cpu")))
    assert type(back[1]) is nn.BatchNorm2d
    assert all(torch.equal(state[k], v) for k, v in back.state_dict().items())


def _train(tmp: Path, out: str, nproc: int) -> None:
    geno = tmp / "tiny.geno"
    geno.write_text(GENOTYPE)
    args = [str(geno), "--dataset", "synthetic", "--epochs", "1", "--out", str(tmp / out)]
    args += ["--subset", "72", "--batch-size", "64", "--device", "cpu", "--aux-weight", "0.4"]
    if nproc == 1:  # in this process, through the CLI
        assert main(["train", *args]) == 0
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc_per_node", str(nproc), "-m", "bars_zoo", "train", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_process_on_the_same_global_batch(tmp_path):
    """One step on a global batch of 64 (synthetic, auxiliary tower on): gradients, BN statistics
    and the loss of 2 processes x 32 images equal those of 1 process x 64 images.

    Gradients are read back from Adam's first moment (``exp_avg = 0.1 * grad`` after one step).
    Weights are compared where the gradient is not at rounding level: Adam's first update is
    ``lr * g / (|g| + eps)``, so a parameter whose true gradient is exactly zero (a BN bias that
    feeds straight into another BN) moves by a rounding-noise-dependent amount in either run.
    """
    _train(tmp_path, "one", 1)
    _train(tmp_path, "two", 2)
    a = ckpt.load(tmp_path / "one" / "checkpoint.pt")
    b = ckpt.load(tmp_path / "two" / "checkpoint.pt")
    ga, gb = a["optimizer"]["state"], b["optimizer"]["state"]
    scale = max(float(s["exp_avg"].abs().max()) for s in ga.values())
    assert scale > 1e-4
    for i in ga:
        torch.testing.assert_close(gb[i]["exp_avg"], ga[i]["exp_avg"], atol=1e-5 * scale, rtol=0)
    weights = [k for k in a["model"] if "running" not in k and "num_batches" not in k]
    grads = [ga[i]["exp_avg"] for i in range(len(weights))]  # model parameters come first
    for name, g in zip(weights, grads, strict=True):
        sure = g.abs() > 1e-3 * scale
        diff = (a["model"][name] - b["model"][name]).abs()
        assert bool((diff[sure] < 1e-6).all()), name
    for k in a["model"]:
        if "running" in k:
            torch.testing.assert_close(b["model"][k], a["model"][k], atol=1e-6, rtol=1e-5)
    ha, hb = a["history"][0], b["history"][0]
    assert hb["train_loss"] == pytest.approx(ha["train_loss"], rel=1e-6)
    assert hb["train_top1"] == ha["train_top1"]
    # rank 0 alone wrote the outputs, and the recorded command is the torchrun one
    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert results["world_size"] == 2
    assert results["command"].startswith("torchrun --nproc_per_node 2 -m bars_zoo train")
    lines = (tmp_path / "two" / "log.jsonl").read_text().splitlines()
    assert len(lines) == 1


# bars_zoo.train under torchrun, stopped after 1 of 2 epochs; then the model, on its own
_STOPPED_RUN = """
import json, os, sys
from pathlib import Path
import torch
import torch.distributed as dist
import bars_zoo

geno, out = sys.argv[1:3]
result = bars_zoo.train(geno, dataset="synthetic", epochs=2, stop_after=1, out_dir=out, subset=72,
                        batch_size=64, device="cpu", channels_last=True)
model = result.model
report = {"finished": result.finished, "group": dist.is_initialized(), "training": model.training,
          "norms": sorted({type(m).__name__ for m in model.modules() if "Norm" in str(type(m))}),
          "channels_last": [n for n, p in model.named_parameters() if not p.is_contiguous()]}
model.train()
report["train_forward"] = list(model(torch.randn(4, 3, 8, 8)).shape)
Path(out, f"report{os.environ['RANK']}.json").write_text(json.dumps(report))
"""


@pytest.mark.slow
def test_a_stopped_torchrun_run_returns_a_plain_model_that_trains_without_the_group(tmp_path):
    geno, script = tmp_path / "tiny.geno", tmp_path / "stopped.py"
    geno.write_text(GENOTYPE)
    script.write_text(_STOPPED_RUN)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(script), str(geno), str(tmp_path / "run")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        report = json.loads((tmp_path / "run" / f"report{rank}.json").read_text())
        assert report == {
            "finished": False,
            "group": False,
            "training": False,
            "norms": ["BatchNorm2d"],
            "channels_last": [],
            "train_forward": [4, 10],
        }


def test_under_torchrun_other_ranks_print_only_their_own_fatal_error(monkeypatch, capsys, caplog):
    from bars_zoo.cli import main

    monkeypatch.setenv("RANK", "1")
    assert main(["eval", "no-such-model", "--dataset", "synthetic"]) == 2
    # what ends a rank may be what explains the job (a data folder only that rank lacks)
    assert capsys.readouterr().err.startswith("[rank 1] error: unknown model 'no-such-model'")
    assert main(["-v", "eval", "no-such-model", "--dataset", "synthetic"]) == 2
    assert "[rank 1] error: unknown model 'no-such-model'" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "0")
    assert main(["eval", "no-such-model", "--dataset", "synthetic"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown model 'no-such-model'")
    logging.getLogger("bars_zoo.test").warning("after the run")  # the filter is off again
    assert "after the run" in caplog.text
