"""Training: the BARS recipe, loss going down, exact resume, outputs, and user errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from tiny_net import two_stage

import bars_zoo
from bars_zoo import checkpoint as ckpt
from bars_zoo.data import FMNIST_DIR, dataset_info
from bars_zoo.errors import CheckpointError, ConfigError, DatasetNotFoundError
from bars_zoo.modelref import load_model
from bars_zoo.recipes import holdout_indices
from bars_zoo.trainer import cosine_lambda, machines
from bars_zoo.training import TrainConfig, hardware, model_from_checkpoint, train
from bars_zoo.trainnet import TrainNet, aux_position

TINY_FMNIST = two_stage("tiny-fmnist", "1x28x28", stem_stride=2)

needs_fmnist = pytest.mark.skipif(
    not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def spec():
    return bars_zoo.parse(TINY_FMNIST)


def small_run(spec, out: Path, **kw):
    """Fashion-MNIST, 384 images (352 train / 32 val), batch 64: 5 steps per epoch."""
    options = dict(
        dataset="fashion-mnist",
        epochs=2,
        out_dir=out,
        subset=384,
        batch_size=64,
        eval_batch_size=256,
        device="cpu",
        progress=False,
    )
    options.update(kw)
    return train(spec, **options)


@pytest.fixture(scope="module")
def finished(spec, tmp_path_factory):
    """One finished 4-epoch run with cutout and the auxiliary tower (shared by several tests).
    The learning rate is raised from the recipe's 2e-3 so that 20 steps visibly learn."""
    out = tmp_path_factory.mktemp("run")
    return small_run(spec, out, epochs=4, cutout=True, aux_weight=0.4, lr=1e-2)


# --------------------------------------------------------------------------- the recipe


def test_recipe_defaults_follow_bars_appendix_a():
    cifar = TrainConfig(dataset="cifar10", epochs=200, out_dir="x").resolved()
    assert (cifar.lr, cifar.aux_weight, cifar.cutout, cifar.batch_size) == (2e-3, 0.4, True, 256)
    assert cifar.weight_decay == 0.0
    imagenet = TrainConfig(dataset="imagenet", epochs=100, out_dir="x").resolved()
    assert (imagenet.lr, imagenet.aux_weight, imagenet.cutout) == (1e-3, 0.0, False)
    fmnist = TrainConfig(dataset="fashion-mnist", epochs=1, out_dir="x", lr=1e-3).resolved()
    assert fmnist.lr == 1e-3  # an explicit value beats the recipe


def test_fashion_mnist_holds_out_5000_of_60000_training_images():
    cfg = TrainConfig(dataset="fashion-mnist", epochs=1, out_dir="x").resolved()
    train_idx, val_idx = holdout_indices(60_000, cfg.val_fraction, seed=0)
    assert (len(train_idx), len(val_idx)) == (55_000, 5_000)
    assert not set(train_idx.tolist()) & set(val_idx.tolist())


def test_cosine_schedule_starts_at_one_and_ends_at_zero():
    f = cosine_lambda(100)
    assert f(0) == 1.0 and f(50) == pytest.approx(0.5) and f(100) == pytest.approx(0.0)
    assert all(f(t) >= f(t + 1) for t in range(100))


def test_aux_tower_reads_the_cell_at_two_thirds_depth(spec):
    assert [aux_position(n) for n in (1, 3, 9, 10)] == [0, 1, 5, 6]
    net = TrainNet(bars_zoo.build(spec), aux_weight=0.4)
    logits, aux = net(torch.randn(4, 1, 28, 28))
    assert logits.shape == aux.shape == (4, 10)
    net.eval()
    assert net(torch.randn(2, 1, 28, 28))[1] is None  # train-time only


# --------------------------------------------------------------------------- training runs


@needs_fmnist
def test_training_on_a_fashion_mnist_subset_lowers_the_loss(finished):
    losses = [h["train_loss"] for h in finished.history]
    assert losses[-1] < losses[0] - 0.2
    assert finished.history[-1]["lr"] == 0.0  # cosine to 0
    assert finished.metrics["test_top1"] > 0.2  # 10 classes: chance is 0.1


@needs_fmnist
def test_finished_run_writes_log_results_and_a_model_folder(finished):
    out = finished.out_dir
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    keys = {"train_loss", "train_top1", "val_loss", "val_top1", "lr", "epoch_time_s"}
    assert keys | {"images_per_s"} <= set(lines[0])
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"]["test_n"] == 384
    assert results["hardware"] and results["wall_time_s"] > 0
    assert results["command"].startswith("bars_zoo.train('tiny-fmnist', dataset='fashion-mnist'")
    assert "lr=0.01" in results["command"] and "aux_weight=0.4" in results["command"]
    config = json.loads((out / "model" / "config.json").read_text())
    cfg = config["pretrained_cfg"]
    assert cfg["dataset"] == "fashion-mnist" and cfg["train_command"] == results["command"]
    assert cfg["top1"] == round(100 * results["metrics"]["test_top1"], 2)
    assert config["packed"] is True


@needs_fmnist
def test_a_subset_run_records_that_its_top1_is_on_part_of_the_test_split(finished):
    results = json.loads((finished.out_dir / "results.json").read_text())
    assert results["test_split_images"] == 10_000
    model = bars_zoo.load(f"local-dir:{finished.out_dir / 'model'}")
    assert model.pretrained_cfg.top1_images == 384
    assert model.pretrained_cfg.top1_split() == "384 images of the fashion-mnist test split"
    card = (finished.out_dir / "model" / "README.md").read_text()
    assert "on 384 images of the fashion-mnist test split" in card
    assert "model-index" not in card  # no benchmark entry for part of the split


def test_a_run_on_the_whole_test_split_records_no_image_count(tmp_path):
    synthetic = bars_zoo.parse(two_stage("tiny-synthetic", "3x8x8"))
    kw = dict(dataset="synthetic", epochs=1, batch_size=64, device="cpu", progress=False)
    whole = train(synthetic, out_dir=tmp_path / "whole", **kw)
    assert whole.metrics["test_n"] == 512
    assert whole.model.pretrained_cfg.top1_images is None
    assert whole.model.pretrained_cfg.top1_split() == "the full synthetic test split"
    # a --subset at least as large as the test split keeps all of it
    large = train(synthetic, out_dir=tmp_path / "large", subset=4096, **kw)
    assert large.model.pretrained_cfg.top1_images is None


@needs_fmnist
def test_published_model_reproduces_the_recorded_test_accuracy(finished):
    model = bars_zoo.load(f"local-dir:{finished.out_dir / 'model'}")
    again = bars_zoo.evaluate(model, "fashion-mnist", subset=384, device="cpu")
    assert again["top1"] == finished.metrics["test_top1"]
    assert not any(k.startswith("aux") for k in model.state_dict())  # the tower is not published


@needs_fmnist
def test_best_validation_epoch_is_the_one_published(finished):
    best_epoch = finished.metrics["selected_epoch"]
    best_val = max(h["val_top1"] for h in finished.history)
    assert finished.history[best_epoch - 1]["val_top1"] == best_val
    assert finished.metrics["val_top1"] == best_val


@needs_fmnist
def test_resume_reaches_the_weights_of_an_uninterrupted_run(spec, tmp_path):
    opts = dict(cutout=True, aux_weight=0.4)
    whole = small_run(spec, tmp_path / "whole", **opts)
    part = small_run(spec, tmp_path / "part", stop_after=1, **opts)
    assert not part.finished and part.epochs_done == 1
    assert not (tmp_path / "part" / "model").exists()
    resumed = small_run(spec, tmp_path / "part", resume=True, **opts)
    assert resumed.finished
    a = ckpt.load(tmp_path / "whole" / "checkpoint.pt")
    b = ckpt.load(tmp_path / "part" / "checkpoint.pt")
    for part_name in ("model", "aux"):
        assert a[part_name].keys() == b[part_name].keys()
        for k in a[part_name]:
            assert torch.equal(a[part_name][k], b[part_name][k]), k
    for i, s in a["optimizer"]["state"].items():
        assert torch.equal(s["exp_avg"], b["optimizer"]["state"][i]["exp_avg"])
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert whole.metrics["test_top1"] == resumed.metrics["test_top1"]


TINY_IMAGENET = """
bars 1
name "tiny-imagenet"
input 3x224x224 classes=1000
stem conv7x7 channels=8 stride=2 pool=maxpool
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
}
stage s1: channels=8 depth=1 cell=normal
head avgpool linear
"""


# how a model is fed: every model a run yields must agree on these
FEEDING = {"architecture", "dataset", "input_size", "mean", "std", "num_classes", "labels"}


@pytest.mark.parametrize(
    ("dataset", "shape"),
    [
        ("synthetic", "3x32x32"),  # the input size of CIFAR-10, but not its normalisation
        ("synthetic", "1x28x28"),  # nor Fashion-MNIST's
        pytest.param("fashion-mnist", "1x28x28", marks=needs_fmnist),
    ],
)
def test_every_model_of_a_run_carries_the_normalisation_the_run_trained_with(
    dataset, shape, tmp_path
):
    spec = bars_zoo.parse(two_stage("feed", shape, stem_stride=2))
    info = dataset_info(dataset, spec.input_shape)
    out = tmp_path / "run"
    kw = dict(dataset=dataset, epochs=2, out_dir=out, subset=128, batch_size=64, progress=False)
    part = train(spec, stop_after=1, device="cpu", **kw)
    assert not part.finished
    assert part.model.pretrained_cfg == model_from_checkpoint(out).pretrained_cfg
    # trained weights, finished or not (bars_zoo.trainedness)
    assert part.model.trained_weights is True and model_from_checkpoint(out).trained_weights
    done = train(spec, resume=True, device="cpu", **kw)
    cfgs = {
        "train()": done.model.pretrained_cfg,
        "model/": bars_zoo.load(f"local-dir:{done.model_dir}").pretrained_cfg,
        "checkpoint": model_from_checkpoint(out).pretrained_cfg,
        "unfinished train()": part.model.pretrained_cfg,
    }
    feeding = {k: c.model_dump(include=FEEDING) for k, c in cfgs.items()}
    assert feeding["train()"] == {
        "architecture": "feed",
        "dataset": dataset,
        "input_size": spec.input_shape,
        "mean": info.mean,
        "std": info.std,
        "num_classes": 10,
        "labels": info.classes,
    }
    assert all(f == feeding["train()"] for f in feeding.values()), feeding
    assert load_model(out).pretrained_cfg == cfgs["model/"]  # `bars-zoo eval` of the folder


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_imagenet_folders_train_and_evaluate(tmp_path):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            folder = tmp_path / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for i in range(4):
                pixels = torch.randint(0, 256, (40, 48, 3), generator=g, dtype=torch.uint8)
                Image.fromarray(pixels.numpy()).save(folder / f"{i}.png")
    spec = bars_zoo.parse(TINY_IMAGENET)
    data = tmp_path / "imagenet"
    result = train(
        spec,
        dataset="imagenet",
        data_dir=data,
        epochs=2,
        out_dir=tmp_path / "run",
        batch_size=4,
        eval_batch_size=3,
        workers=0,
        device="cpu",
    )
    assert result.finished and len(result.history) == 2
    assert "val_top1" not in result.history[0]  # ImageNet holds nothing out
    assert result.metrics["test_n"] == 8 and result.metrics["selected_epoch"] == 2
    again = bars_zoo.evaluate(result.model, "imagenet", data_dir=data, batch_size=5, workers=0)
    assert again["top1"] == result.metrics["test_top1"] and again["n"] == 8
    with pytest.raises(ConfigError, match="holds out no validation split"):
        train(
            spec,
            dataset="imagenet",
            data_dir=data,
            epochs=1,
            out_dir=tmp_path / "r2",
            val_fraction=0.1,
            workers=0,
            device="cpu",
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_runs_on_cuda_with_bf16_autocast_and_channels_last(spec, tmp_path):
    fast = dict(amp=True, channels_last=True, aux_weight=0.4, lr=1e-2, epochs=3)
    result = small_run(spec, tmp_path, dataset="synthetic", device="cuda", **fast)
    assert result.finished and result.metrics["test_top1"] > 0.3  # synthetic classes are easy
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["hardware"] == torch.cuda.get_device_name(0)
    model = bars_zoo.load(f"local-dir:{tmp_path / 'model'}")
    again = bars_zoo.evaluate(model, "synthetic", subset=384, device="cuda")
    # the run evaluated under bf16 autocast, this in float32: a few images may flip
    assert again["top1"] == pytest.approx(result.metrics["test_top1"], abs=0.05)


# --------------------------------------------------------------------------- errors


@needs_fmnist
def test_resume_refuses_a_run_with_different_settings(spec, tmp_path):
    small_run(spec, tmp_path, stop_after=1, epochs=3)
    with pytest.raises(CheckpointError, match=r"different run: .*lr: 0\.002 -> 0\.001"):
        small_run(spec, tmp_path, epochs=3, lr=1e-3, resume=True)
    with pytest.raises(CheckpointError, match="different run: epochs: 3 -> 4"):
        small_run(spec, tmp_path, epochs=4, resume=True)


@needs_fmnist
def test_training_into_a_folder_with_a_run_needs_resume(spec, tmp_path):
    small_run(spec, tmp_path, stop_after=1)
    with pytest.raises(ConfigError, match=r"(?s)already holds a training run.*resume=True"):
        small_run(spec, tmp_path)


def test_training_a_finished_run_again_says_resume_returns_its_result(spec, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not read")
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(ConfigError) as err:
        train(spec, dataset="synthetic", epochs=1, out_dir=tmp_path)
    assert "already holds a finished training run (results.json)" in str(err.value)
    assert "pass resume=True to get its recorded result" in str(err.value.hint)


@pytest.mark.parametrize("resume", [False, True])
def test_an_out_that_is_a_file_is_refused_in_one_line(spec, tmp_path, caplog, resume):
    out = tmp_path / "g.geno"
    out.write_text("bars 1\n")
    with pytest.raises(ConfigError, match=r"out_dir=\".*g\.geno\" is a file, not a folder"):
        train(spec, dataset="synthetic", epochs=1, out_dir=out, resume=resume)
    assert not caplog.records  # no "no checkpoint ...: starting from scratch" first
    assert out.read_text() == "bars 1\n"


def test_unknown_training_option_is_a_config_error(spec, tmp_path):
    with pytest.raises(ConfigError, match="invalid training option warmup"):
        train(spec, dataset="synthetic", epochs=1, out_dir=tmp_path, warmup=5)


def test_nonpositive_epochs_are_a_config_error(spec, tmp_path):
    with pytest.raises(ConfigError, match="invalid training option epochs"):
        train(spec, dataset="synthetic", epochs=0, out_dir=tmp_path)


def test_data_set_that_does_not_fit_the_genotype_is_refused(spec, tmp_path):
    with pytest.raises(ConfigError, match=r"takes 1x28x28 images .* cifar10 has 3x32x32"):
        train(spec, dataset="cifar10", epochs=1, out_dir=tmp_path, device="cpu")


def test_missing_cifar10_says_how_to_get_it(tmp_path):
    cifar = bars_zoo.parse(TINY_FMNIST.replace("input 1x28x28", "input 3x32x32"))
    with pytest.raises(DatasetNotFoundError, match="CIFAR-10 needs data_dir"):
        train(cifar, dataset="cifar10", epochs=1, out_dir=tmp_path, device="cpu")
    with pytest.raises(DatasetNotFoundError, match="not found under"):
        train(cifar, dataset="cifar10", epochs=1, out_dir=tmp_path, data_dir=tmp_path)


def test_batch_larger_than_the_training_set_is_refused(spec, tmp_path):
    synthetic = bars_zoo.parse(TINY_FMNIST.replace("input 1x28x28", "input 1x8x8"))
    with pytest.raises(ConfigError, match="larger than the 90 training images"):
        train(synthetic, dataset="synthetic", epochs=1, out_dir=tmp_path, subset=100, device="cpu")


def test_corrupt_checkpoint_is_a_checkpoint_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        ckpt.load(tmp_path / "checkpoint.pt")


def test_an_empty_checkpoint_left_by_a_crash_is_a_checkpoint_error_not_a_traceback(tmp_path):
    # torch.load of a 0-byte file raises EOFError with an empty message
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*\(EOFError\)"):
        ckpt.load(tmp_path / "checkpoint.pt")


def test_checkpoints_refuse_pickled_objects(tmp_path):
    torch.save({"x": argparse.Namespace(a=1)}, tmp_path / "evil.pt")  # an object, not plain data
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        ckpt.load(tmp_path / "evil.pt")


@pytest.mark.parametrize(("threads", "words"), [(1, "(1 thread)"), (2, "(2 threads)")])
def test_the_hardware_line_counts_cpu_threads_in_good_english(threads, words):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        line = hardware(torch.device("cpu"), 1)
    finally:
        torch.set_num_threads(before)
    assert line.endswith(f" CPU {words}")


@needs_fmnist
def test_a_run_resumed_on_another_machine_records_both_with_their_epochs(
    spec, tmp_path, monkeypatch
):
    here = hardware(torch.device("cpu"), 1)
    small_run(spec, tmp_path, stop_after=1)
    monkeypatch.setattr("bars_zoo.trainer.hardware", lambda device, world_size: "Machine B")
    small_run(spec, tmp_path, resume=True)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["hardware"] == f"{here} (epoch 1), Machine B (epoch 2)"
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [h["hardware"] for h in log] == [here, "Machine B"]
    card = (tmp_path / "model" / "README.md").read_text()
    assert f"{here} (epoch 1), Machine B (epoch 2)" in card


@pytest.mark.parametrize(
    ("history", "line"),
    [
        ([], "X"),
        ([{"epoch": 1}, {"epoch": 2}], "X"),  # logged before the hardware was, one machine
        ([{"epoch": 1, "hardware": "A"}, {"epoch": 2, "hardware": "A"}], "A"),
        (
            [{"epoch": 1}, {"epoch": 2, "hardware": "X"}],
            "unrecorded hardware (epoch 1), X (epoch 2)",
        ),
    ],
)
def test_the_hardware_line_of_a_history(history, line):
    assert machines(history, "X") == line


@needs_fmnist
def test_a_log_line_lost_in_a_crash_after_the_last_checkpoint_comes_back_on_resume(spec, tmp_path):
    small_run(spec, tmp_path)
    log_file = tmp_path / "log.jsonl"
    whole = log_file.read_text()
    log_file.write_text(whole.splitlines(keepends=True)[0])  # killed before the last line
    (tmp_path / "results.json").unlink()  # ... and so before the end of the run
    small_run(spec, tmp_path, resume=True)
    assert log_file.read_text() == whole
