"""A torchrun job whose process fails: the failing rank says why, rank 0 says it in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist
from fake_data import write_fashion_mnist

from bars_zoo.cli import main
from bars_zoo.commands import train as train_command

GLOO_GONE = "[../third_party/gloo/gloo/transport/tcp/pair.cc:561] Connection closed by peer"


def test_a_failing_rank_other_than_0_prints_its_own_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    args = ["train", "bars-fmnist-s", "--dataset", "fashion-mnist", "--epochs", "1"]
    args += ["--out", str(tmp_path / "r")]
    assert main([*args, "--data-dir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"[rank 1] error: --data-dir {tmp_path / 'missing'}: no such folder")


def _peer_gone(args):
    raise dist.DistBackendError(GLOO_GONE)


@pytest.mark.parametrize("saved", [False, True])
def test_a_collective_failing_on_rank_0_refuses_with_one_line_not_a_gloo_traceback(
    monkeypatch, capsys, tmp_path, saved
):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(train_command, "run", _peer_gone)
    out = tmp_path / "run"
    if saved:
        out.mkdir()
        (out / "checkpoint.pt").write_bytes(b"")
    assert (
        main(
            ["train", "bars-fmnist-s", "--dataset", "synthetic", "--epochs", "1", "--out", str(out)]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gloo" not in err
    assert err.startswith("error: another process of this job failed (see its [rank N] line)")
    if saved:
        assert "finished epochs are saved: run the same command with --resume to go on" in err
    else:
        assert "no epoch was saved" in err and "--resume" not in err


def test_a_collective_failing_on_another_rank_leaves_the_words_to_rank_0(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(train_command, "run", _peer_gone)
    assert (
        main(["train", "bars-fmnist-s", "--dataset", "synthetic", "--epochs", "1", "--out", "x"])
        == 1
    )
    assert capsys.readouterr().err == ""


def test_a_runtime_error_of_one_process_is_not_taken_for_a_failed_peer(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(train_command, "run", _peer_gone)
    with pytest.raises(RuntimeError, match="Connection closed by peer"):
        main(["train", "bars-fmnist-s", "--dataset", "synthetic", "--epochs", "1", "--out", "x"])


_RANK1_EMPTY = """
import os, sys
from bars_zoo.cli import main
argv = sys.argv[1:]
if os.environ["RANK"] == "1":
    argv = [os.environ["EMPTY_DIR"] if a == os.environ["DATA_DIR"] else a for a in argv]
raise SystemExit(main(argv))
"""


def _torchrun_with_rank_1_on(
    tmp_path: Path, data: Path, rank1_data: Path, options: list[str], timeout: int
) -> subprocess.CompletedProcess[str]:
    """A two-process `bars-zoo train` job on ``data`` whose rank 1 reads ``rank1_data`` instead."""
    script = tmp_path / "rank1.py"
    script.write_text(_RANK1_EMPTY)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.update(DATA_DIR=str(data), EMPTY_DIR=str(rank1_data))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(script), "train", "bars-fmnist-s", "--dataset", "fashion-mnist", "--epochs", "1"]
    cmd += ["--data-dir", str(data), "--out", str(tmp_path / "run"), *options]
    cmd += ["--batch-size", "32", "--device", "cpu", "--threads", "1"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_torchrun_job_whose_rank_1_lacks_the_data_says_so_on_both_ranks(tmp_path):
    data, empty = write_fashion_mnist(tmp_path / "fm"), tmp_path / "empty"
    write_fashion_mnist(data, n=64, split="test")
    empty.mkdir()
    done = _torchrun_with_rank_1_on(tmp_path, data, empty, ["--subset", "64"], timeout=120)
    assert done.returncode != 0
    assert f"[rank 1] error: Fashion-MNIST train files not found in {empty}" in done.stderr
    assert "Connection closed by peer" not in done.stderr, done.stderr[-3000:]
    assert "error: another process of this job failed (see its [rank N] line)" in done.stderr


def test_torchrun_job_whose_ranks_read_different_data_is_refused_on_every_rank(tmp_path):
    """Nodes that each read their own --data-dir with other contents used to hang in a collective
    until the process group's 30-minute timeout (another number of steps per epoch)."""
    data, other = write_fashion_mnist(tmp_path / "fm", n=64), tmp_path / "fm2"
    write_fashion_mnist(data, n=32, split="test")
    write_fashion_mnist(other, n=96)
    write_fashion_mnist(other, n=32, split="test")
    done = _torchrun_with_rank_1_on(tmp_path, data, other, ["--val-fraction", "0"], timeout=150)
    assert done.returncode != 0
    assert "the processes of this job read different data" in done.stderr, done.stderr[-3000:]
    assert "[rank 1] error: the processes of this job read different data" in done.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
