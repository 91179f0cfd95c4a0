"""Evaluation: agrees with an independent loop, resolves models, refuses what does not fit."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import bars_zoo
from bars_zoo.cli import main
from bars_zoo.data import FMNIST_DIR, load_images, make_synthetic, normalize
from bars_zoo.errors import ConfigError, UnknownModelError
from bars_zoo.evaluation import evaluate, split_images

TINY = """
bars 1
name "tiny-eval"
input {shape} classes=10
stem conv3x3 channels=8 stride=2 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {{
  n1 <- in: bconv3x3
}}
stage s1: channels=8 depth=1 cell=normal
head avgpool linear
"""

needs_fmnist = pytest.mark.skipif(
    not (FMNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


def tiny_model(shape: str = "1x28x28", seed: int = 0):
    torch.manual_seed(seed)
    model = bars_zoo.build(bars_zoo.parse(TINY.format(shape=shape)))
    # a few training-mode forwards give the BN layers non-trivial running statistics
    with torch.no_grad():
        c = int(shape.split("x")[0])
        for _ in range(3):
            model(torch.randn(32, c, *map(int, shape.split("x")[1:])))
    return model.eval()


def manual_metrics(model, images_uint8, labels, info):
    """The oracle: one plain loop, argmax accuracy, top-5 by sorting, mean cross-entropy."""
    correct1 = correct5 = 0
    loss = 0.0
    with torch.no_grad():
        for i in range(len(labels)):
            x = normalize(images_uint8[i : i + 1], info)
            logits = model(x)[0]
            order = torch.argsort(logits, descending=True)
            correct1 += int(order[0] == labels[i])
            correct5 += int(labels[i] in order[:5])
            loss += float(F.cross_entropy(logits[None], labels[i : i + 1]))
    n = len(labels)
    return correct1 / n, correct5 / n, loss / n


@needs_fmnist
def test_evaluate_matches_an_independent_loop_over_the_test_set():
    model = tiny_model()
    got = evaluate(model, "fashion-mnist", subset=300, batch_size=64, device="cpu")
    test = load_images("fashion-mnist", "test", subset=300)
    top1, top5, loss = manual_metrics(model, test.images, test.labels, test.info)
    assert got["n"] == 300
    assert got["top1"] == pytest.approx(top1, abs=1e-12)
    assert got["top5"] == pytest.approx(top5, abs=1e-12)
    assert got["loss"] == pytest.approx(loss, rel=1e-5)


def test_evaluate_matches_an_independent_loop_on_synthetic_images():
    model = tiny_model("3x8x8", seed=1)
    got = evaluate(model, "synthetic", subset=128, batch_size=50, device="cpu")
    split = make_synthetic("test", size=512, input_shape=(3, 8, 8))  # the fixed test split
    keep = torch.randperm(512, generator=torch.Generator().manual_seed(0))[:128].sort().values
    top1, top5, loss = manual_metrics(model, split.images[keep], split.labels[keep], split.info)
    assert (got["n"], got["top1"], got["top5"]) == (128, top1, top5)
    assert got["loss"] == pytest.approx(loss, rel=1e-5)


def test_evaluate_shows_progress_on_a_terminal_and_only_there(capsys, monkeypatch):
    model = tiny_model("3x8x8", seed=1)
    plain = evaluate(model, "synthetic", subset=128, batch_size=50, device="cpu", progress=True)
    assert "eval test" in capsys.readouterr().err  # a bar of the 3 batches
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert evaluate(model, "synthetic", subset=128, batch_size=50, device="cpu") == plain
    assert capsys.readouterr().err == ""


def test_a_synthetic_subset_samples_the_fixed_split_and_never_generates_more():
    model = tiny_model("3x8x8", seed=1)
    whole = evaluate(model, "synthetic", device="cpu")
    assert whole["n"] == 512
    assert evaluate(model, "synthetic", subset=1_000_000, device="cpu") == whole


def test_top5_is_reported_only_with_at_least_ten_classes():
    spec = bars_zoo.parse(TINY.format(shape="3x8x8").replace("classes=10", "classes=5"))
    model = bars_zoo.build(spec).eval()
    from bars_zoo.batches import BatchLoader
    from bars_zoo.evaluation import accumulate, summarize

    data = make_synthetic("test", size=20, input_shape=(3, 8, 8), num_classes=5)
    metrics = summarize(accumulate(model, BatchLoader(data, 8, shuffle=False)), 5)
    assert "top5" not in metrics and metrics["n"] == 20


@needs_fmnist
def test_validation_split_is_held_out_of_the_training_images():
    train = split_images("fashion-mnist", "train")
    val = split_images("fashion-mnist", "val")
    assert (len(train), len(val)) == (55_000, 5_000)
    rows = {bytes(x.numpy()) for x in train.images}
    assert not any(bytes(x.numpy()) in rows for x in val.images)


def test_a_subset_of_a_split_is_sampled_from_that_split_not_before_the_hold_out():
    full = split_images("synthetic", "val", input_shape=(1, 8, 8))
    part = split_images("synthetic", "val", subset=50, input_shape=(1, 8, 8))
    assert len(part) == 50
    rows = {bytes(x.numpy()) for x in full.images}
    assert all(bytes(x.numpy()) in rows for x in part.images)  # held-out images only
    again = split_images("synthetic", "val", subset=50, input_shape=(1, 8, 8))
    assert torch.equal(part.images, again.images)  # seeded
    with pytest.raises(ConfigError, match="subset must be positive"):
        split_images("synthetic", "val", subset=0)


def test_eval_cli_reads_a_model_folder(tmp_path, capsys):
    model = tiny_model("3x8x8", seed=2)
    bars_zoo.save_pretrained(model, tmp_path / "m", pretrained_cfg={"dataset": None})
    folder = f"local-dir:{tmp_path / 'm'}"
    code = main(
        ["eval", folder, "--dataset", "synthetic", "--subset", "64", "--device", "cpu", "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    expected = evaluate(
        bars_zoo.load(f"local-dir:{tmp_path / 'm'}"), "synthetic", subset=64, device="cpu"
    )
    assert out["top1"] == expected["top1"] and out["n"] == 64
    assert out["architecture"] == "tiny-eval"


def test_eval_cli_needs_a_data_set_when_the_model_names_none(tmp_path, capsys):
    bars_zoo.save_pretrained(tiny_model("3x8x8"), tmp_path / "m", pretrained_cfg={"dataset": None})
    assert main(["eval", str(tmp_path / "m"), "--device", "cpu"]) == 2
    assert "does not record the data set" in capsys.readouterr().err


def test_eval_refuses_a_data_set_the_model_was_not_built_for():
    with pytest.raises(ConfigError, match=r"takes 3x8x8 images .* fashion-mnist has 1x28x28"):
        evaluate(tiny_model("3x8x8"), "fashion-mnist", device="cpu")


def test_a_wrapped_model_is_checked_and_fed_as_the_model_inside():
    model = bars_zoo.load("bars-fmnist-s")
    wrapped = torch.nn.DataParallel(model)
    with pytest.raises(ConfigError, match="takes 1x28x28 images"):
        evaluate(wrapped, "cifar10", device="cpu")
    plain = evaluate(model, "synthetic", subset=64, device="cpu")  # 1x28x28 stand-ins
    assert evaluate(wrapped, "synthetic", subset=64, device="cpu") == plain


def test_eval_of_a_search_run_directory_says_what_it_is(tmp_path):
    from bars_zoo.search.presets import config_for

    run = tmp_path / "found.run"
    run.mkdir()
    (run / "config.json").write_text(config_for("tiny").model_dump_json())
    (run / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(UnknownModelError, match="search` run directory, not a trained model"):
        evaluate(str(run), "synthetic", device="cpu")


def test_eval_of_a_folder_that_holds_no_model_is_an_error(tmp_path):
    with pytest.raises(UnknownModelError, match="neither a model folder nor a training output"):
        evaluate(str(tmp_path), "synthetic", device="cpu")


def test_unknown_split_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        split_images("synthetic", "dev")


@needs_fmnist
def test_a_data_dir_with_a_tilde_is_expanded(tmp_path, monkeypatch):
    from bars_zoo.data import FMNIST_DIR, load_images

    home = tmp_path / "home"
    home.mkdir()
    (home / "fm").symlink_to(FMNIST_DIR)
    monkeypatch.setenv("HOME", str(home))
    assert len(load_images("fashion-mnist", "test", data_dir="~/fm")) == 10_000


@needs_fmnist
def test_the_hold_out_of_a_run_on_another_data_set_does_not_shape_this_one():
    synthetic_run = {"dataset": "synthetic", "val_fraction": 0.1, "split_seed": 0, "subset": 256}
    fmnist_run = {**synthetic_run, "dataset": "fashion-mnist"}
    model = tiny_model()
    other = evaluate(model, "fashion-mnist", "val", device="cpu", holdout_from=synthetic_run)
    assert other["n"] == 5_000  # the recipe's hold-out, not 10 % of the other run's 256 images
    same = evaluate(model, "fashion-mnist", "val", device="cpu", holdout_from=fmnist_run)
    assert same["n"] == 26


def _saved(tmp_path, shape: str = "3x8x8") -> str:
    bars_zoo.save_pretrained(tiny_model(shape), tmp_path / "m", pretrained_cfg={"dataset": None})
    return str(tmp_path / "m")


def test_eval_cli_refuses_a_negative_worker_count(tmp_path, capsys):
    argv = ["eval", _saved(tmp_path), "--dataset", "synthetic", "--device", "cpu"]
    assert main([*argv, "--workers", "-1"]) == 2
    assert "error: --workers must be at least 0, got -1" in capsys.readouterr().err
    assert main([*argv, "--workers", "0", "--subset", "16"]) == 0


def test_eval_cli_takes_threads_as_train_and_search_do(tmp_path, capsys, monkeypatch):
    argv = ["eval", _saved(tmp_path), "--dataset", "synthetic", "--device", "cpu"]
    assert main([*argv, "--threads", "0"]) == 2
    assert "error: --threads must be at least 1, got 0" in capsys.readouterr().err
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    assert main([*argv, "--threads", "1", "--subset", "16"]) == 0
    assert calls == [1]


@pytest.mark.parametrize(
    ("argv", "amp"), [([], None), (["--amp"], "bf16"), (["--amp", "off"], "off")]
)
def test_eval_cli_amp_takes_the_spellings_of_train(argv, amp):
    from bars_zoo.cli import build_parser

    assert build_parser().parse_args(["eval", "m", *argv]).amp == amp


def test_eval_cli_bare_amp_before_the_model_evaluates_in_bf16(tmp_path, capsys, monkeypatch):
    seen: list[bool] = []
    real = bars_zoo.evaluation.evaluate
    monkeypatch.setattr(
        bars_zoo.evaluation, "evaluate", lambda *a, **kw: seen.append(kw["amp"]) or real(*a, **kw)
    )
    path = _saved(tmp_path)
    assert main(["eval", "--amp", path, "--dataset", "synthetic", "--subset", "16"]) == 0
    assert main(["eval", path, "--amp", "off", "--dataset", "synthetic", "--subset", "16"]) == 0
    assert seen == [True, False]


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet"])
def test_eval_cli_without_data_dir_for_a_data_set_without_default_location_is_usage(
    dataset, tmp_path, capsys
):
    assert main(["eval", _saved(tmp_path), "--dataset", dataset, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "needs --data-dir: it has no default location" in err and "hint: pass --data-dir" in err


def test_eval_cli_refuses_a_data_set_the_models_config_names_as_the_configs_not_the_users(
    tmp_path, capsys
):
    model = tiny_model("3x8x8")
    bars_zoo.save_pretrained(model, tmp_path / "m", pretrained_cfg={"dataset": "my-data"})
    assert main(["eval", str(tmp_path / "m"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "the model's config names data set 'my-data', which bars-zoo cannot load" in err
    assert "pass --dataset" in err and "unknown data set" not in err


def test_eval_cli_of_a_new_classifier_asks_for_its_data_set_not_the_backbones(tmp_path, capsys):
    model = bars_zoo.load("bars-fmnist-s", num_classes=5)
    bars_zoo.save_pretrained(model, tmp_path / "ft5")
    assert main(["eval", str(tmp_path / "ft5"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "does not record the data set" in err and "bars-fmnist-s backbone" in err
    assert "fashion-mnist has" not in err
