"""Training with the whole step captured as a CUDA graph (``--cuda-graph``)."""

from __future__ import annotations

import pytest
import torch
from tiny_net import two_stage

import bars_zoo
from bars_zoo.cli import main
from bars_zoo.graphstep import GraphedStep, make_capturable, make_eager
from bars_zoo.training import train

GENOTYPE = two_stage("tiny-graph", "3x8x8")


def test_cuda_graph_on_a_cpu_is_a_config_error_with_a_hint(tmp_path, capsys):
    path = tmp_path / "tiny.geno"
    path.write_text(GENOTYPE)
    args = ["train", str(path), "--dataset", "synthetic", "--subset", "96", "--epochs", "1"]
    code = main(
        [
            *args,
            "--batch-size",
            "32",
            "--device",
            "cpu",
            "--cuda-graph",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2  # a configuration error, like any other bad option
    assert not (tmp_path / "r").exists()  # refused before anything was written
    assert "--cuda-graph needs a CUDA device" in err and "hint:" in err
    assert "Traceback" not in err


def test_make_capturable_moves_lr_and_step_counters_to_tensors():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=2e-3)
    p.grad = torch.ones(3)
    opt.step()  # an eager step: float lr, CPU step counter (as in an eager run's checkpoint)
    make_capturable(opt, torch.device("cpu"))
    group = opt.param_groups[0]
    assert group["capturable"] is True
    assert isinstance(group["lr"], torch.Tensor) and float(group["lr"]) == pytest.approx(2e-3)
    step = opt.state[p]["step"]
    assert isinstance(step, torch.Tensor) and step.dtype == torch.float32 and float(step) == 1.0


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_make_capturable_puts_a_checkpointed_tensor_lr_on_the_device(tmp_path):
    # a --cuda-graph run resumed with --cuda-graph: its checkpoint holds the capturable tensor lr,
    # which loading maps to the CPU; left there, the graph bakes it in and the lr stays frozen
    from bars_zoo import checkpoint as ckpt

    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=0.1)
    opt.param_groups[0]["capturable"] = True
    opt.param_groups[0]["lr"] = torch.tensor(0.1)  # what a graphed run's optimiser holds
    ckpt.save({"optimizer": opt.state_dict()}, tmp_path / "checkpoint.pt")
    q = torch.nn.Parameter(torch.zeros(3))
    resumed = torch.optim.Adam([q], lr=0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(resumed, lambda t: 0.5**t)  # the trainer's order
    resumed.load_state_dict(ckpt.load(tmp_path / "checkpoint.pt")["optimizer"])
    assert resumed.param_groups[0]["lr"].device.type == "cpu"  # as loaded
    meta = torch.device("meta")
    make_capturable(resumed, meta)
    lr_t = resumed.param_groups[0]["lr"]
    assert isinstance(lr_t, torch.Tensor) and lr_t.device == meta
    stepper = GraphedStep(lambda x: x, resumed)
    sched.step()  # the scheduler's update lands in the tensor the graph reads
    stepper.refresh_lr()
    assert resumed.param_groups[0]["lr"] is lr_t


def test_a_capturable_optimizer_made_eager_steps_on_a_cpu():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=2e-3)
    p.grad = torch.ones(3)
    opt.step()
    make_capturable(opt, torch.device("cpu"))  # as restored from a graphed CUDA run's checkpoint
    with pytest.raises(AssertionError, match="capturable=True"):
        opt.step()  # Adam has no capturable mode on a CPU
    make_eager(opt)
    opt.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-3)
    assert float(opt.state[p]["step"]) == 2.0
    assert p.data.lt(1.0).all()


def test_a_failed_capture_keeps_stepping_eagerly_with_a_warning(caplog):
    # on a machine without CUDA the capture itself fails: the fallback path, for real
    if torch.cuda.is_available():
        pytest.skip("the capture would succeed here")
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))

    def step(x, y):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    stepper = GraphedStep(step, opt, warmup=0, name="test step")
    assert stepper.status == "pending"
    before = net.weight.detach().clone()
    with caplog.at_level("WARNING", logger="bars_zoo.graphstep"):
        losses = [float(stepper(x, y)) for _ in range(3)]
    assert stepper.failed and not stepper.captured
    assert "CUDA graph capture of the test step failed" in caplog.text
    assert "continues without it" in caplog.text
    # the run's log says so, with the first line of the error
    assert stepper.status.startswith("eager: capture failed (") and "\n" not in stepper.status
    assert stepper.error and stepper.error in caplog.text
    assert losses[2] < losses[0]  # three real steps were taken
    assert not torch.equal(net.weight, before)


class _InvalidatedCapture:
    """``torch.cuda.graph`` after an illegal call in its block: leaving the block ends the capture,
    which fails and hides the block's own error as the new error's ``__context__``."""

    capturing = False

    def __init__(self, graph):
        pass

    def __enter__(self):
        _InvalidatedCapture.capturing = True

    def __exit__(self, *exc):
        _InvalidatedCapture.capturing = False
        raise RuntimeError(
            "CUDA error: operation failed due to a previous error during capture\nSearch for ..."
        )


def test_a_failed_capture_reports_the_error_that_broke_it_not_the_invalidated_capture(
    monkeypatch, caplog
):
    monkeypatch.setattr(torch.cuda, "CUDAGraph", object)
    monkeypatch.setattr(torch.cuda, "graph", _InvalidatedCapture)
    net = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step(x):
        if _InvalidatedCapture.capturing:  # as .item() fails inside a capture
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        loss = net(x).sum()
        loss.backward()
        opt.step()
        return loss.detach()

    stepper = GraphedStep(step, opt, warmup=0, name="test step")
    with caplog.at_level("WARNING", logger="bars_zoo.graphstep"):
        stepper(torch.randn(8, 4))
    assert stepper.failed
    assert stepper.error is not None
    assert stepper.error.startswith("CUDA error: operation not permitted when stream is capturing")
    assert "reported as: CUDA error: operation failed due to a previous error" in stepper.error
    # the warning names the innermost line of the package that raised (here: the step's call)
    assert "test step failed at bars_zoo/graphstep.py:" in caplog.text
    assert "operation not permitted when stream is capturing" in caplog.text


def test_make_capturable_refuses_an_optimizer_without_that_mode():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    with pytest.raises(TypeError, match="SGD has no capturable mode"):
        make_capturable(opt, torch.device("cpu"))


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_scheduler_values_reach_the_tensor_the_graph_reads():
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([p], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5**t)  # the trainer's order
    make_capturable(opt, torch.device("cpu"))
    lr_t = opt.param_groups[0]["lr"]
    stepper = GraphedStep(lambda x, y: x, opt)
    for expected in (0.5, 0.25):
        sched.step()  # fills the tensor in place (or, on older torch, assigns a float)
        stepper.refresh_lr()
        assert opt.param_groups[0]["lr"] is lr_t and float(lr_t) == pytest.approx(expected)
    opt.param_groups[0]["lr"] = 0.125  # whatever assigns a float, the graph's tensor follows
    stepper.refresh_lr()
    assert opt.param_groups[0]["lr"] is lr_t and float(lr_t) == 0.125


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_graphed_training_follows_the_eager_trajectory(tmp_path):
    spec = bars_zoo.parse(GENOTYPE)
    common = dict(
        dataset="synthetic",
        epochs=2,
        subset=512,
        batch_size=64,
        device="cuda",
        progress=False,
        select="last",
    )
    eager = train(spec, out_dir=tmp_path / "eager", **common)
    graphed = train(spec, out_dir=tmp_path / "graph", cuda_graph=True, **common)
    for a, b in zip(eager.history, graphed.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
    assert "cuda_graph" not in eager.history[-1]
    assert graphed.history[-1]["cuda_graph"] == "captured"  # not an eager fallback
    # cuDNN may pick other algorithms in the two runs, and a sign() that flips on a last-bit
    # difference moves a binary net a little: on an H100 the weights differed by <= 3.7e-4 after
    # two epochs.  A stale input, learning rate or gradient would differ by orders more.
    w_e = eager.model.state_dict()
    w_g = graphed.model.state_dict()
    for k, v in w_e.items():
        if v.is_floating_point():
            torch.testing.assert_close(w_g[k], v, rtol=1e-2, atol=5e-3)


def test_search_with_cuda_graph_on_a_cpu_is_a_config_error(tmp_path):
    from bars_zoo.errors import ConfigError
    from bars_zoo.search import search

    with pytest.raises(ConfigError, match="cuda_graph needs a CUDA device"):
        search(preset="tiny", device="cpu", out=tmp_path / "x.geno", cuda_graph=True)
    assert not (tmp_path / "x.run").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_graphed_search_follows_the_eager_search(tmp_path):
    from bars_zoo.search import search

    common = dict(preset="tiny", device="cuda", epochs=3, warmup_epochs=1, plots=False)
    eager = search(out=tmp_path / "e.geno", **common)
    graphed = search(out=tmp_path / "g.geno", cuda_graph=True, **common)
    for a, b in zip(eager.history, graphed.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-2)
        assert b["expected_ops"] == pytest.approx(a["expected_ops"], rel=1e-2)
    assert "cuda_graph" not in eager.history[-1]
    # both steps really replayed graphs (session 6 saw a silent eager fallback on an H200)
    assert graphed.history[-1]["cuda_graph"] == {"weights": "captured", "alpha": "captured"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_graphed_params_only_search_in_the_paper_space_captures_both_steps(tmp_path):
    # the configuration whose capture fell back to eager on an H200 in session 6
    # (benchmarks/results/fmnist_zoo.md): no OPs budget, a parameter limit, widths 48/96/192, bf16
    from bars_zoo.search import search

    result = search(
        preset="fmnist",
        dataset="synthetic",
        device="cuda",
        out=tmp_path / "p.geno",
        epochs=2,
        warmup_epochs=1,
        subset=1024,
        budget_ops=None,
        budget_params=480_000,
        theta_under=-0.2,
        base_channels=(48, 96, 192),
        stem_channels=48,
        cuda_graph=True,
        plots=False,
        progress=False,
    )
    assert result.history[-1]["cuda_graph"] == {"weights": "captured", "alpha": "captured"}
