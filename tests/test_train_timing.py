"""An epoch's training time is read once the device has done the epoch's work.

CUDA kernels run asynchronously: without a synchronisation, ``train_s`` and ``images_per_s`` in
``log.jsonl`` would time the launches of the epoch's steps, not the steps.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import torch
from tiny_net import two_stage

import bars_zoo
from bars_zoo import trainer
from bars_zoo.trainepoch import wait_for
from bars_zoo.training import train


def test_waiting_for_a_cuda_device_synchronizes_that_device(monkeypatch):
    synced: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    wait_for(torch.device("cuda", 1))
    wait_for(torch.device("cpu"))  # nothing to wait for
    assert synced == [torch.device("cuda", 1)]


def test_each_epoch_waits_for_the_device_before_reading_its_training_time(tmp_path, monkeypatch):
    events: list[object] = []
    monkeypatch.setattr(trainer, "wait_for", lambda device: events.append(device))

    def clock() -> float:
        events.append("clock")
        return time.perf_counter()

    monkeypatch.setattr(trainer, "time", SimpleNamespace(perf_counter=clock))
    spec = bars_zoo.parse(two_stage("tiny-timing", "3x8x8"))
    train(
        spec,
        out_dir=tmp_path / "r",
        dataset="synthetic",
        subset=128,
        epochs=2,
        batch_size=64,
        device="cpu",
        progress=False,
    )
    waits = [i for i, e in enumerate(events) if isinstance(e, torch.device)]
    assert [events[i] for i in waits] == [torch.device("cpu")] * 2  # once per epoch, the run's
    assert all(events[i + 1] == "clock" for i in waits)  # then the clock
