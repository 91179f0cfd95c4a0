"""One training step (forward, loss, backward, Adam) captured once as a CUDA graph and replayed.

A training step of a small binary network issues hundreds of short kernels; where the CPU that
launches them is the bottleneck, a CUDA graph (``torch.cuda.CUDAGraph``) that records the whole step
once and replays it with a single launch lets the GPU run them back to back.  How much that gains
depends on the network: on an H100 the smallest Fashion-MNIST networks gained most, wide ones at full
resolution are bound by the GPU's own work and gain little (``docs/training.md``).

What the capture needs, and how it is met here:

* static shapes: training batches all have ``batch_size`` rows (the loaders drop the last partial
  batch), copied into fixed input buffers before each replay;
* no host synchronisation inside the step: the loss and accuracy tallies stay on the device;
* an optimiser that keeps its state on the device: Adam with ``capturable=True`` and a tensor
  learning rate, which the LR scheduler refreshes in place between replays;
* warm-up: the first ``warmup`` steps run eagerly on a side stream (cuDNN picks its algorithms,
  Adam creates its state); they are real training steps, so the trajectory is the eager one.

* the device: capture and replays run under ``torch.cuda.device`` of the step's device, since
  ``torch.cuda.graph`` records on the *current* device's stream: a run on ``cuda:1`` captured
  while ``cuda:0`` is current records nothing (PyTorch warns "The CUDA Graph is empty") and its
  replays would do nothing.

If the capture fails (an op that cannot be captured, a driver without graph support, an empty
graph), training goes on eagerly with a warning rather than losing the run.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)

StepFn = Callable[..., Tensor]


def make_capturable(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """Switch ``opt`` (Adam/AdamW) to device-resident state: ``capturable``, tensor lr, device steps.

    Safe to call after ``load_state_dict``: a checkpoint written by an eager run has a float lr and
    CPU step counters, one written by a graphed run a tensor lr that loading put on the CPU
    (checkpoints are read with ``map_location="cpu"``).  Either lr becomes a new float32 tensor on
    ``device``: a CPU tensor would be baked into the graph as a constant, and the scheduler's
    updates (made in place on the group's tensor, or copied in by :meth:`GraphedStep.refresh_lr`)
    would never reach the replays.  Make the :class:`GraphedStep` after this call: it keeps the
    group's tensor as the one the graph reads.
    """
    for group in opt.param_groups:
        if "capturable" not in group:
            raise TypeError(f"{type(opt).__name__} has no capturable mode")
        group["capturable"] = True
        lr = group["lr"]
        if not isinstance(lr, Tensor) or lr.device != device or lr.dtype != torch.float32:
            group["lr"] = torch.tensor(float(lr), dtype=torch.float32, device=device)
        for p in group["params"]:
            state = opt.state.get(p)
            if state and "step" in state:
                step = state["step"]
                state["step"] = torch.as_tensor(step, dtype=torch.float32).to(device).reshape(())


def make_eager(opt: torch.optim.Optimizer) -> None:
    """Undo :func:`make_capturable` (a checkpoint of a graphed run resumed without graphs, perhaps
    on a CPU, where Adam has no capturable mode): float lr, host step counters."""
    for group in opt.param_groups:
        if not group.get("capturable"):
            continue
        group["capturable"] = False
        if isinstance(group["lr"], Tensor):
            group["lr"] = float(group["lr"])
        for p in group["params"]:
            state = opt.state.get(p)
            if state and isinstance(state.get("step"), Tensor):
                state["step"] = state["step"].detach().to("cpu", torch.float32)


class EmptyGraphError(RuntimeError):
    """The capture recorded no work (PyTorch's "The CUDA Graph is empty" warning): the step ran
    on another device or stream than the one captured, and replaying it would do nothing."""


def on_device(device: torch.device) -> Any:
    """``torch.cuda.device(device)`` for a CUDA device (its streams become the current ones), else
    nothing."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def first_error(err: BaseException) -> BaseException:
    """The error that broke a capture, not the one that reports it.

    When the step raises inside ``torch.cuda.graph`` (a synchronisation, a copy from pageable host
    memory), leaving the block still ends the capture, which then fails with "operation failed due
    to a previous error during capture" and keeps the step's own error only as its ``__context__``.
    """
    seen = {id(err)}
    while err.__context__ is not None and id(err.__context__) not in seen:
        err = err.__context__
        seen.add(id(err))
    return err


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _where(err: BaseException) -> str:
    """`` at bars_zoo/FILE:LINE`` of the innermost frame of ``err`` in this package (the line of the
    step that raised, e.g. a ``loss.backward()`` whose backward synchronised), or ``""``."""
    tb, found = err.__traceback__, ""
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if "/bars_zoo/" in path:
            found = f" at bars_zoo/{path.rsplit('/bars_zoo/', 1)[1]}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


class GraphedStep:
    """Call ``step_fn(*inputs) -> tensor`` eagerly ``warmup`` times, then capture it and replay it.

    ``inputs`` are device tensors of fixed shapes (a batch, its labels, per-step noise, 0-d
    schedule values); each call copies them into the graph's static buffers.  ``device``: where
    the step runs (default: the first input's); capture and replays run with it current.  ``step_fn`` must zero
    nothing itself, run forward and backward, call ``opt.step()`` and return one small tensor (a
    tally); gradients are set to ``None`` before each eager call and before the capture, so that
    backward writes fresh gradients (into the graph's memory pool once captured).
    """

    def __init__(
        self,
        step_fn: StepFn,
        opt: torch.optim.Optimizer,
        *,
        warmup: int = 3,
        name: str = "step",
        device: torch.device | None = None,
    ) -> None:
        self.step_fn, self.opt, self.warmup, self.name = step_fn, opt, warmup, name
        self.device = device
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.error: str | None = None  # the first line of the capture's error, once it failed
        self.static_in: tuple[Tensor, ...] | None = None
        self.static_out: Tensor | None = None
        self._lrs = [g["lr"] for g in opt.param_groups]

    @property
    def captured(self) -> bool:
        return self.graph is not None

    @property
    def status(self) -> str:
        """``"captured"``, ``"pending"`` (warm-up calls, not captured yet) or ``"eager: capture
        failed (...)"``: the run's log says whether its graphs were really used."""
        if self.graph is not None:
            return "captured"
        if self.failed:
            return f"eager: capture failed ({self.error})"
        return "pending"

    def refresh_lr(self) -> None:
        """Copy the scheduler's current lr into the tensors the graph reads (no-op when it did)."""
        for group, lr_t in zip(self.opt.param_groups, self._lrs, strict=True):
            lr = group["lr"]
            if lr is not lr_t:
                if isinstance(lr, Tensor):
                    lr_t.copy_(lr)
                else:
                    lr_t.fill_(float(lr))
                group["lr"] = lr_t

    def __call__(self, *inputs: Tensor) -> Tensor:
        self.calls += 1
        if self.graph is not None:
            assert self.static_in is not None and self.static_out is not None
            if any(a.shape != b.shape for a, b in zip(inputs, self.static_in, strict=True)):
                return self._eager(inputs)  # a batch of another size: correct, just not graphed
            with on_device(self._device(inputs)):
                for static, value in zip(self.static_in, inputs, strict=True):
                    static.copy_(value)
                self.graph.replay()
                return self.static_out.clone()
        if self.failed or self.calls <= self.warmup:
            return self._eager(inputs, side_stream=not self.failed)
        return self._capture(inputs)

    def _device(self, inputs: tuple[Tensor, ...]) -> torch.device:
        return self.device if self.device is not None else inputs[0].device

    def _eager(self, inputs: tuple[Tensor, ...], side_stream: bool = False) -> Tensor:
        self.opt.zero_grad(set_to_none=True)
        if not side_stream:
            return self.step_fn(*inputs)
        dev = self._device(inputs)
        stream = torch.cuda.Stream(device=dev)
        stream.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(stream):
            out = self.step_fn(*inputs)
        torch.cuda.current_stream(dev).wait_stream(stream)
        return out

    def _capture(self, inputs: tuple[Tensor, ...]) -> Tensor:
        self.static_in = tuple(a.clone() for a in inputs)
        self.opt.zero_grad(set_to_none=True)
        dev = self._device(inputs)
        try:
            with on_device(dev), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    self.static_out = self.step_fn(*self.static_in)
            _reissue(caught)
        except Exception as err:  # any capture failure: keep training eagerly
            first = first_error(err)
            self.error = _first_line(first)
            if first is not err:
                self.error += f" [reported as: {_first_line(err)}]"
            log.warning(
                "CUDA graph capture of the %s failed%s (%s); training continues without it",
                self.name,
                _where(first),
                self.error,
            )
            log.info("the failed capture of the %s", self.name, exc_info=first)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            self.failed = True
            # an empty capture recorded nothing because the step's work ran eagerly, outside it:
            # its output is this step's, and running the step again would train the batch twice
            ran = self.static_out if isinstance(first, EmptyGraphError) else None
            self.static_in = self.static_out = None
            return ran.clone() if ran is not None else self._eager(inputs)
        self.graph = graph
        with on_device(dev):
            graph.replay()  # the capture recorded the step; this runs it on these inputs
            assert self.static_out is not None
            return self.static_out.clone()


def _reissue(caught: list[warnings.WarningMessage]) -> None:
    """Warn again what the capture warned (recorded to look for one), and fail an empty capture."""
    empty = None
    for w in caught:
        if "CUDA Graph is empty" in str(w.message):
            empty = str(w.message).strip().splitlines()[0]
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if empty is not None:
        raise EmptyGraphError(empty)


__all__ = [
    "EmptyGraphError",
    "GraphedStep",
    "StepFn",
    "first_error",
    "make_capturable",
    "make_eager",
]
