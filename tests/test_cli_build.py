"""``bars-zoo build NAME|FILE [-o DIR] [--seed N] [--json]``: build, check with a zero batch, save.

Exit statuses and one-line errors for missing, unreadable and broken inputs are in
``tests/test_cli_exit_codes.py`` with every other command's.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from pathlib import Path

import pytest
import torch
from tiny_net import TINY, tiny_model

import bars_zoo
from bars_zoo.cli import COMMANDS, main
from bars_zoo.commands import build as build_command
from bars_zoo.complexity import complexity, format_bytes, format_count
from bars_zoo.folder import save_pretrained
from bars_zoo.registry import read_config

ROOT = Path(__file__).resolve().parents[1]
# the modules themselves: `bars_zoo.complexity` is also the name of a function
COMPLEXITY = importlib.import_module("bars_zoo.complexity")
BUILDER = importlib.import_module("bars_zoo.builder")


@pytest.fixture
def tiny_geno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.geno"
    path.write_text(TINY)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = main(argv)
    except SystemExit as e:  # argparse's usage errors
        status = int(e.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_build_prints_the_counters_parameters_by_precision_and_the_output_shape(tiny_geno, capsys):
    status, out, err = _run(["build", "tiny.geno"], capsys)
    assert status == 0, err
    c = complexity(bars_zoo.read(tiny_geno))
    assert "built tiny (seed 0)" in out
    assert "output (1, 4)" in out
    assert f"params {format_count(c.params)}: binary {format_count(c.binary_params)}" in out
    assert f"full precision {format_count(c.fp_params)}" in out
    assert f"{format_bytes(c.packed_bytes)} packed" in out
    assert f"BOPs {format_count(c.bops)}" in out
    assert "wrote" not in out  # no -o, no folder


def test_build_json_gives_the_complexity_counters_numbers_and_no_folder(tiny_geno, capsys):
    status, out, _ = _run(["build", "tiny.geno", "--json", "--seed", "7"], capsys)
    assert status == 0
    data = json.loads(out)
    c = complexity(bars_zoo.read(tiny_geno))
    assert data["model"] == "tiny" and data["seed"] == 7
    assert data["input_shape"] == [1, 10, 10] and data["output_shape"] == [1, 4]
    for key in ("params", "binary_params", "fp_params", "bn_params", "packed_bytes", "bops"):
        assert data[key] == getattr(c, key), key
    assert data["float32_bytes"] == 4 * c.params
    assert data["folder"] is None


def test_build_output_folder_loads_with_local_dir_and_holds_the_seeded_weights(tiny_geno, capsys):
    status, out, _ = _run(["build", "tiny.geno", "-o", "net", "--seed", "3"], capsys)
    assert status == 0
    assert "wrote net (untrained, latent float weights)" in out
    assert "bars_zoo.load('local-dir:net')" in out
    model = bars_zoo.load("local-dir:net")
    torch.manual_seed(3)
    want = bars_zoo.build(bars_zoo.read(tiny_geno))
    got, expected = model.state_dict(), want.state_dict()
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in got)  # latent floats, not sign bits


def test_build_output_folder_claims_no_accuracy_and_keeps_trainable_weights(tiny_geno, capsys):
    assert _run(["build", "tiny.geno", "-o", "net"], capsys)[0] == 0
    config = read_config(tiny_geno.parent / "net")
    assert config.packed is False
    cfg = config.pretrained_cfg
    assert (cfg.top1, cfg.top1_images, cfg.train_command, cfg.hardware, cfg.hub_repo) == (None,) * 5
    card = (tiny_geno.parent / "net" / "README.md").read_text()
    assert "| top-1 accuracy | not measured |" in card
    assert "model-index" not in card


def test_build_of_a_registry_name_keeps_how_to_feed_the_model_and_drops_its_accuracy(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert _run(["build", "bars-fmnist-s", "-o", "s"], capsys)[0] == 0
    cfg = bars_zoo.load("local-dir:s").pretrained_cfg
    entry = bars_zoo.registry.get("bars-fmnist-s")
    assert entry is not None and entry.top1 is not None
    assert (cfg.dataset, cfg.mean, cfg.std, cfg.labels) == (
        entry.dataset,
        entry.mean,
        entry.std,
        entry.labels,
    )
    assert cfg.top1 is None and cfg.train_command is None and cfg.hardware is None
    assert cfg.sha256 == read_config(tmp_path / "s").weights_sha256 != entry.sha256


def test_build_is_reproducible_by_seed(tiny_geno, capsys):
    def weights_sha(folder: str, seed: str) -> str:
        assert _run(["build", "tiny.geno", "-o", folder, "--seed", seed], capsys)[0] == 0
        return hashlib.sha256(
            (tiny_geno.parent / folder / "model.safetensors").read_bytes()
        ).hexdigest()

    assert weights_sha("a", "5") == weights_sha("b", "5")
    assert weights_sha("c", "6") != weights_sha("a", "5")


def test_build_leaves_the_callers_random_state_alone(tiny_geno, capsys):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    assert _run(["build", "tiny.geno", "--seed", "9"], capsys)[0] == 0
    assert torch.equal(torch.get_rng_state(), before)


def test_build_output_replaces_the_same_build_and_refuses_other_latent_weights(tiny_geno, capsys):
    assert _run(["build", "tiny.geno", "-o", "net", "--seed", "1"], capsys)[0] == 0
    first = _files(tiny_geno.parent / "net")
    assert _run(["build", "tiny.geno", "-o", "net", "--seed", "1"], capsys)[0] == 0  # run again
    assert _files(tiny_geno.parent / "net") == first
    status, _, err = _run(["build", "tiny.geno", "-o", "net", "--seed", "2"], capsys)
    assert status == 2 and "latent weights of tiny that this build did not write" in err
    assert _files(tiny_geno.parent / "net") == first


def test_build_output_refuses_latent_weights_a_users_own_training_loop_saved(tiny_geno, capsys):
    model = tiny_model()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.125)  # "trained" outside bars-zoo train: config.json records no training
    folder = save_pretrained(model, tiny_geno.parent / "mine", packed=False)
    assert read_config(folder).pretrained_cfg.train_command is None
    before = _files(folder)
    status, out, err = _run(["build", "tiny.geno", "-o", "mine"], capsys)
    assert status == 2 and out == "" and "did not write" in err
    assert "hint: choose a new folder" in err
    assert _files(folder) == before


def test_build_output_refuses_to_replace_a_trained_model_folder(tiny_geno, capsys):
    folder = save_pretrained(
        tiny_model(), tiny_geno.parent / "trained", pretrained_cfg={"top1": 91.0}
    )
    before = _files(folder)
    status, out, err = _run(["build", "tiny.geno", "-o", "trained"], capsys)
    assert status == 2 and out == ""
    assert re.match(r"error: -o trained holds the model folder of tiny \(trained weights\)", err)
    assert "hint: choose a new folder" in err
    assert _files(folder) == before


def test_build_output_refuses_to_replace_unpacked_weights_that_record_training(tiny_geno, capsys):
    cfg = {"train_command": "bars-zoo train tiny.geno ..."}
    folder = save_pretrained(tiny_model(), tiny_geno.parent / "m", packed=False, pretrained_cfg=cfg)
    before = _files(folder)
    assert _run(["build", "tiny.geno", "-o", "m"], capsys)[0] == 2
    assert _files(folder) == before


def test_build_output_refuses_to_replace_a_folder_of_another_architecture(tiny_geno, capsys):
    assert _run(["build", "example", "-o", "net"], capsys)[0] == 0
    before = _files(tiny_geno.parent / "net")
    status, _, err = _run(["build", "tiny.geno", "-o", "net"], capsys)
    assert status == 2
    assert "holds the model folder of example (another architecture than tiny)" in err
    assert _files(tiny_geno.parent / "net") == before


def test_build_output_refuses_a_folder_of_other_files_before_building(
    tiny_geno, capsys, monkeypatch
):
    (tiny_geno.parent / "mine").mkdir()
    (tiny_geno.parent / "mine" / "notes.txt").write_text("keep me")

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("built before refusing -o")

    monkeypatch.setattr(BUILDER, "build", no_build)
    status, _, err = _run(["build", "tiny.geno", "-o", "mine"], capsys)
    assert status == 2
    assert "refusing to replace mine: it holds files bars-zoo did not write (notes.txt)" in err
    assert (tiny_geno.parent / "mine" / "notes.txt").read_text() == "keep me"


def test_build_output_under_a_file_is_a_usage_error(tiny_geno, capsys):
    (tiny_geno.parent / "afile").write_text("x")
    status, _, err = _run(["build", "tiny.geno", "-o", "afile/net"], capsys)
    assert status == 2 and "afile" in err


def test_build_refuses_a_network_this_machine_has_no_memory_for_before_allocating(
    tiny_geno, capsys, monkeypatch
):
    monkeypatch.setattr(build_command, "_available_memory", lambda: 1000)
    monkeypatch.setattr(BUILDER, "build", lambda *a, **k: pytest.fail("allocated"))
    status, out, err = _run(["build", "tiny.geno"], capsys)
    assert status == 1 and out == ""
    assert re.match(r"error: tiny needs about .* of memory .*; 1000 B is available", err)
    assert "hint: `bars-zoo show tiny.geno`" in err  # the argument given, which show takes


def test_memory_estimate_covers_the_weights_and_the_largest_feature_maps():
    spec = bars_zoo.load_genotype("example")
    c = complexity(spec)
    need = build_command.needed_memory(spec, c)
    assert need >= 4 * (c.params + c.bn_params) + 4 * 64 * 32 * 32 * 5  # stem map, 4 nodes + in


def test_build_reports_a_model_that_disagrees_with_the_counter_as_a_bug(
    tiny_geno, capsys, monkeypatch
):
    real = complexity(bars_zoo.read(tiny_geno))
    wrong = real.model_copy(update={"binary_params": real.binary_params + 1})
    monkeypatch.setattr(COMPLEXITY, "complexity", lambda *a, **k: wrong)
    status, out, err = _run(["build", "tiny.geno", "-o", "net"], capsys)
    assert status == 1 and out == ""
    assert "fails its check" in err and "a bug in bars-zoo" in err
    assert not (tiny_geno.parent / "net").exists()


@pytest.mark.parametrize("seed", ["-1", "x", str(2**64)])
def test_build_seed_that_torch_cannot_take_is_a_usage_error(seed, tiny_geno, capsys):
    status, _, err = _run(["build", "tiny.geno", "--seed", seed], capsys)
    assert status == 2 and "--seed" in err


def test_the_designs_commands_exist_and_each_command_has_a_row_in_the_readme():
    promised = ["check", "fmt", "show", "build", "search", "train", "eval", "push", "pull", "list"]
    assert set(promised) <= set(COMMANDS)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert re.search(rf"^\| `bars-zoo {name}\b|, `{name}\b", readme, re.M), name


@pytest.mark.parametrize("name", ["bars-fmnist-s", "example"])
def test_build_of_a_file_writes_the_same_config_as_a_build_of_its_zoo_name(
    name, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert _run(["build", name, "-o", "by-name"], capsys)[0] == 0
    geno = ROOT / "genotypes" / f"{name}.geno"
    assert _run(["build", str(geno), "-o", "by-file"], capsys)[0] == 0
    by_name, by_file = read_config(tmp_path / "by-name"), read_config(tmp_path / "by-file")
    assert by_file == by_name
    assert by_file.pretrained_cfg.labels[:2] in (
        ("T-shirt/top", "Trouser"),
        ("airplane", "automobile"),
    )


def test_build_output_replacing_its_own_folder_serialises_the_weights_once(
    tiny_geno, capsys, monkeypatch
):
    from bars_zoo import folder, packing

    assert _run(["build", "tiny.geno", "-o", "net"], capsys)[0] == 0
    calls = []
    real = packing.weights_bytes

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(packing, "weights_bytes", counted)
    monkeypatch.setattr(folder, "weights_bytes", counted)
    assert _run(["build", "tiny.geno", "-o", "net"], capsys)[0] == 0  # replaces its own folder
    assert len(calls) == 1


def _example_with_meta(tmp_path: Path, **update: object) -> Path:
    spec = bars_zoo.load_genotype("example")  # 3x32x32, 10 classes: the shape of CIFAR-10
    meta = update.pop("meta", {})
    spec = spec.model_copy(update={"meta": {**spec.meta, **meta}, **update})  # type: ignore[dict-item]
    path = tmp_path / "net.geno"
    path.write_text(bars_zoo.format(spec))
    return path


@pytest.mark.parametrize(
    ("meta", "classes", "recorded"),
    [
        ({"dataset": "svhn"}, 10, "svhn"),
        ({"dataset": "cifar100"}, 100, "cifar100"),
        ({}, 100, None),  # the shape of CIFAR-10, not its classes
    ],
)
def test_build_output_records_a_data_set_bars_zoo_does_not_know_without_cifar10s_claims(
    meta, classes, recorded, tmp_path, capsys
):
    geno = _example_with_meta(tmp_path, meta=meta, num_classes=classes)
    status, _, _ = _run(["build", str(geno), "-o", str(tmp_path / "out")], capsys)
    assert status == 0
    cfg = read_config(tmp_path / "out").pretrained_cfg
    assert (cfg.dataset, cfg.mean, cfg.std, cfg.labels) == (recorded, (0.0,) * 3, (1.0,) * 3, ())
    card = (tmp_path / "out" / "README.md").read_text()
    assert "datasets:" not in card and "uoft-cs" not in card and "airplane" not in card


@pytest.mark.parametrize(
    ("dataset", "classes", "why"),
    [
        ("fashion-mnist", 10, "fashion-mnist has 1x28x28 images"),
        ("imagenet", 10, "imagenet has 3x224x224 images and 1000 classes"),
        ("cifar10", 5, "input is 3x32x32 with 5 classes"),
    ],
)
def test_build_output_refuses_a_meta_data_set_that_contradicts_the_input_with_a_warning(
    dataset, classes, why, tmp_path, capsys, caplog
):
    geno = _example_with_meta(tmp_path, meta={"dataset": dataset}, num_classes=classes)
    status, _, _ = _run(["build", str(geno), "-o", str(tmp_path / "out")], capsys)
    assert status == 0
    assert f"meta dataset={dataset!r} is not trusted" in caplog.text and why in caplog.text
    cfg = read_config(tmp_path / "out").pretrained_cfg
    assert (cfg.dataset, cfg.mean, cfg.std, cfg.labels) == (None, (0.0,) * 3, (1.0,) * 3, ())
    assert "datasets:" not in (tmp_path / "out" / "README.md").read_text()
