"""One training step (forward, loss, backward, Adam) captured once as a CUDA graph and replayed.

Small binary networks on small images are bound by kernel *launches*, not arithmetic: a step of
``bars-fmnist-m`` at batch 256 issues several hundred short kernels, and on an H100 the CPU that
launches them is the bottleneck.  A CUDA graph (``torch.cuda.CUDAGraph``) records the whole step
once and replays it with a single launch, so the GPU runs the kernels back to back.

What the capture needs, and how it is met here:

* static shapes: training batches all have ``batch_size`` rows (the loaders drop the last partial
  batch), copied into fixed input buffers before each replay;
* no host synchronisation inside the step: the loss and accuracy tallies stay on the device;
* an optimiser that keeps its state on the device: Adam with ``capturable=True`` and a tensor
  learning rate, which the LR scheduler refreshes in place between replays;
* warm-up: the first ``warmup`` steps run eagerly on a side stream (cuDNN picks its algorithms,
  Adam creates its state); they are real training steps, so the trajectory is the eager one.

If the capture fails (an op that cannot be captured, a driver without graph support), training
goes on eagerly with a warning rather than losing the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor

log = logging.getLogger(__name__)

StepFn = Callable[[Tensor, Tensor], Tensor]


def make_capturable(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """Switch ``opt`` (Adam/AdamW) to device-resident state: ``capturable``, tensor lr, device steps.

    Safe to call after ``load_state_dict`` (a checkpoint written by an eager run has a float lr and
    CPU step counters).
    """
    for group in opt.param_groups:
        if "capturable" not in group:
            raise TypeError(f"{type(opt).__name__} has no capturable mode")
        group["capturable"] = True
        lr = group["lr"]
        if not isinstance(lr, Tensor):
            group["lr"] = torch.tensor(float(lr), dtype=torch.float32, device=device)
        for p in group["params"]:
            state = opt.state.get(p)
            if state and "step" in state:
                step = state["step"]
                state["step"] = torch.as_tensor(step, dtype=torch.float32).to(device).reshape(())


class GraphedStep:
    """Call ``step_fn(x, y) -> tally`` eagerly ``warmup`` times, then capture it and replay it.

    ``step_fn`` must zero nothing itself, run forward and backward, call ``opt.step()`` and return a
    small tally tensor; gradients are set to ``None`` before each eager call and before the capture,
    so that backward writes fresh gradients (into the graph's memory pool once captured).
    """

    def __init__(
        self,
        step_fn: StepFn,
        opt: torch.optim.Optimizer,
        *,
        warmup: int = 3,
    ) -> None:
        self.step_fn, self.opt, self.warmup = step_fn, opt, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.static_x: Tensor | None = None
        self.static_y: Tensor | None = None
        self.static_out: Tensor | None = None
        self._lrs = [g["lr"] for g in opt.param_groups]

    @property
    def captured(self) -> bool:
        return self.graph is not None

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

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        if self.graph is not None:
            assert self.static_x is not None and self.static_y is not None
            assert self.static_out is not None
            if x.shape != self.static_x.shape or y.shape != self.static_y.shape:
                return self._eager(x, y)  # a batch of another size: correct, just not graphed
            self.static_x.copy_(x)
            self.static_y.copy_(y)
            self.graph.replay()
            return self.static_out.clone()
        if self.failed or self.calls <= self.warmup:
            return self._eager(x, y, side_stream=not self.failed)
        return self._capture(x, y)

    def _eager(self, x: Tensor, y: Tensor, side_stream: bool = False) -> Tensor:
        self.opt.zero_grad(set_to_none=True)
        if not side_stream:
            return self.step_fn(x, y)
        stream = torch.cuda.Stream(device=x.device)
        stream.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(stream):
            out = self.step_fn(x, y)
        torch.cuda.current_stream(x.device).wait_stream(stream)
        return out

    def _capture(self, x: Tensor, y: Tensor) -> Tensor:
        self.static_x, self.static_y = x.clone(), y.clone()
        self.opt.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.static_out = self.step_fn(self.static_x, self.static_y)
        except Exception as err:  # any capture failure: keep training eagerly
            log.warning("CUDA graph capture failed (%s); training continues without it", err)
            torch.cuda.synchronize(x.device)
            self.failed = True
            self.static_x = self.static_y = self.static_out = None
            return self._eager(x, y)
        self.graph = graph
        graph.replay()  # the capture recorded the step; this runs it on this batch
        assert self.static_out is not None
        return self.static_out.clone()


__all__ = ["GraphedStep", "make_capturable"]
