"""End-to-end searches with the tiny preset: outputs, derive, resume, refusals, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fake_data import write_fashion_mnist

import bars_zoo
from bars_zoo.batches import BatchLoader
from bars_zoo.cli import main
from bars_zoo.complexity import count
from bars_zoo.data import FMNIST_DIR, make_synthetic
from bars_zoo.dsl import check, format_text
from bars_zoo.errors import CheckpointError, ConfigError, DatasetNotFoundError
from bars_zoo.search import SearchConfig, search
from bars_zoo.search.config import format_size, parse_size
from bars_zoo.search.derive import derive, shrink_to_budget
from bars_zoo.search.presets import config_for
from bars_zoo.search.space import Choice, SearchSpace
from bars_zoo.search.strategy import ArchParams
from bars_zoo.search.supernet import Supernet

HAVE_FMNIST = (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
DATASET = "fashion-mnist" if HAVE_FMNIST else "synthetic"


def tiny(**kw: object) -> SearchConfig:
    return config_for("tiny", **kw)


def test_tiny_search_writes_a_checked_canonical_buildable_genotype_within_budget(tmp_path):
    cfg = tiny(dataset=DATASET)
    info_shape = (1, 28, 28) if HAVE_FMNIST else (3, 32, 32)
    lo, hi = SearchSpace(cfg, info_shape, 10).ops_range()
    budget = lo + 0.3 * (hi - lo)
    out = tmp_path / "found.geno"
    result = search(cfg, out=out, budget_ops=budget, progress=False)

    assert result.finished and result.path == out and result.budget_met
    text = out.read_text()
    doc = check(text, str(out))
    assert doc.spec is not None and not doc.errors
    assert format_text(text) == text  # canonical
    assert doc.spec == result.spec
    assert count(doc.spec).ops <= budget
    assert result.ops == pytest.approx(count(doc.spec).ops)
    meta = doc.spec.meta
    assert meta["preset"] == "tiny" and meta["dataset"] == DATASET and meta["seed"] == "0"
    assert len(meta["candidate_losses"].split(",")) == cfg.derive_candidates
    assert meta["budget_met"] == "true" and meta["epochs"] == "2" and meta["overrides"] == "none"
    net = bars_zoo.build(doc.spec)
    assert net(torch.randn(2, *doc.spec.input_shape)).shape == (2, 10)

    run = tmp_path / "found.run"
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["warmup", "search"]
    last = records[-1]
    for key in (
        "train_loss",
        "val_loss",
        "val_acc",
        "temperature",
        "entropy_weight",
        "expected_ops",
    ):
        assert isinstance(last[key], float), key
    assert set(last["dist"]) == {"edges", "width", "depth"}
    assert sum(last["dist"]["width"]["s1"]) == pytest.approx(1, abs=1e-3)
    for png in ("distributions.png", "shortcut.png", "ops.png"):
        assert (run / png).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run / "derive.json").read_text())["budget_met"] is True


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path):
    cfg = tiny(dataset="synthetic", budget_ops=4e5)
    full = search(cfg, out=tmp_path / "a.geno", progress=False, plots=False)
    part = search(cfg, out=tmp_path / "b.geno", progress=False, plots=False, stop_after=1)
    assert not part.finished and part.spec is None and len(part.history) == 1
    resumed = search(cfg, out=tmp_path / "b.geno", progress=False, plots=False, resume=True)

    for k, v in full.alphas.items():
        assert torch.equal(v, resumed.alphas[k]), k
    sa = torch.load(tmp_path / "a.run" / "checkpoint.pt", weights_only=True)
    sb = torch.load(tmp_path / "b.run" / "checkpoint.pt", weights_only=True)
    for k, v in sa["supernet"].items():
        assert torch.equal(v, sb["supernet"][k]), k
    assert sa["epoch"] == sb["epoch"] == 2
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(full.history) == strip(resumed.history)
    assert full.spec is not None and resumed.spec is not None
    assert full.spec.model_copy(update={"meta": {}}) == resumed.spec.model_copy(update={"meta": {}})
    assert full.candidates == resumed.candidates


def test_a_log_line_lost_in_a_crash_after_the_checkpoint_comes_back_on_resume(tmp_path):
    cfg = tiny(dataset="synthetic", budget_ops=4e5)
    out = tmp_path / "x.geno"
    search(cfg, out=out, progress=False, plots=False)
    log_file = tmp_path / "x.run" / "log.jsonl"
    whole = log_file.read_text()
    assert len(whole.splitlines()) == cfg.epochs
    # killed between the last checkpoint.pt and log.jsonl: one line short, no genotype yet
    log_file.write_text(whole.splitlines(keepends=True)[0])
    out.unlink()
    search(cfg, out=out, progress=False, plots=False, resume=True)
    assert log_file.read_text() == whole and out.is_file()


def test_a_resumed_search_removes_the_temporary_files_a_killed_write_left(tmp_path):
    out = tmp_path / "x.geno"
    search(tiny(dataset="synthetic"), out=out, progress=False, plots=False, stop_after=1)
    run = tmp_path / "x.run"
    (run / ".checkpoint.pt.k3j2.tmp").write_bytes(b"half a checkpoint")
    (run / ".log.jsonl.a1.tmp").write_text("{")
    (run / "my-notes.tmp").write_text("mine")
    search(tiny(dataset="synthetic"), out=out, progress=False, plots=False, resume=True)
    assert sorted(p.name for p in run.glob("*.tmp")) == ["my-notes.tmp"]
    assert out.is_file()


def test_resuming_with_different_settings_is_refused(tmp_path):
    out = tmp_path / "x.geno"
    search(tiny(dataset="synthetic"), out=out, progress=False, plots=False, stop_after=1)
    with pytest.raises(CheckpointError, match=r"different settings \(seed\)"):
        search(tiny(dataset="synthetic", seed=3), out=out, resume=True, progress=False)
    with pytest.raises(ConfigError, match="already holds a search checkpoint"):
        search(tiny(dataset="synthetic"), out=out, progress=False)


def test_the_output_is_checked_before_the_search_not_after(tmp_path, monkeypatch):
    from bars_zoo.search import runner

    def no_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("the search started")

    monkeypatch.setattr(runner._Run, "__init__", no_search)
    cfg = tiny(dataset="synthetic")
    (tmp_path / "adir").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        search(cfg, out=tmp_path / "adir", progress=False)
    with pytest.raises(ConfigError, match="also the run directory"):
        search(cfg, out=tmp_path / "x.run", progress=False)
    (tmp_path / "notes.geno").write_text("my notes")
    with pytest.raises(ConfigError, match="exists, and the search would replace it"):
        search(cfg, out=tmp_path / "notes.geno", progress=False)
    assert (tmp_path / "notes.geno").read_text() == "my notes"


@pytest.mark.parametrize("out", [".", "", ".."])
def test_a_folder_given_as_the_output_is_a_usage_error_not_a_traceback(out, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        search(tiny(dataset="synthetic"), out=out, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_resumed_search_replaces_only_the_genotype_it_wrote_itself(tmp_path):
    cfg = tiny(dataset="synthetic")
    out = tmp_path / "found.geno"
    search(cfg, out=out, progress=False, plots=False)
    search(cfg, out=out, resume=True, progress=False, plots=False)  # the same line again: fine
    edited = out.read_text().replace('name "', 'name "my-', 1)
    out.write_text(edited)  # the user edits the result
    with pytest.raises(ConfigError, match="did not write it, or it was changed since"):
        search(cfg, out=out, resume=True, progress=False, plots=False)
    assert out.read_text() == edited
    # another file given as --out for this finished run: never written by it
    mine = tmp_path / "mine.geno"
    mine.write_text("my own genotype")
    with pytest.raises(ConfigError, match="exists, and the search would replace it"):
        search(cfg, out=mine, run_dir=tmp_path / "found.run", resume=True, progress=False)
    assert mine.read_text() == "my own genotype"


def test_a_second_search_in_a_run_directory_in_use_is_refused(tmp_path):
    from bars_zoo._io import folder_lock

    run = tmp_path / "x.run"
    run.mkdir()
    with folder_lock(run) as taken:  # as the first search holds it while it runs
        assert taken
        with pytest.raises(ConfigError, match="another search is running in"):
            search(tiny(dataset="synthetic"), out=tmp_path / "x.geno", progress=False)
        assert sorted(p.name for p in run.iterdir()) == [".lock"]
    assert not list(run.iterdir())  # the holder deletes its .lock when it ends
    assert not (tmp_path / "x.geno").exists()


@pytest.mark.usefixtures("temp_files_refused")
def test_an_output_folder_that_cannot_be_written_is_refused_before_the_search(
    tmp_path, monkeypatch
):
    from bars_zoo.search import runner

    def no_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("the search started")

    monkeypatch.setattr(runner._Run, "__init__", no_search)
    with pytest.raises(ConfigError, match=r"cannot write in .*found \(Permission denied\)"):
        search(tiny(dataset="synthetic"), out=tmp_path / "found" / "x.geno", progress=False)


def test_a_budget_below_the_cheapest_network_is_refused_before_the_search(tmp_path, monkeypatch):
    from bars_zoo.search import runner

    monkeypatch.setattr(runner._Run, "start", lambda *a: pytest.fail("the search started"))
    with pytest.raises(ConfigError, match="below the cheapest network of this search space"):
        search(tiny(dataset="synthetic", budget_ops=1e3), out=tmp_path / "b.geno", progress=False)
    with pytest.raises(ConfigError, match="below the smallest network"):
        search(tiny(dataset="synthetic", budget_params=10), out=tmp_path / "b.geno")


def test_a_corrupt_checkpoint_is_refused(tmp_path):
    run = tmp_path / "x.run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        search(tiny(dataset="synthetic"), out=tmp_path / "x.geno", resume=True, progress=False)


def test_a_missing_data_set_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Fashion-MNIST train files not found"):
        search(tiny(dataset="fashion-mnist"), data_dir=tmp_path, progress=False)


def test_a_subset_smaller_than_two_batches_is_a_config_error():
    with pytest.raises(ConfigError, match="smaller than one batch"):
        search(tiny(dataset="synthetic", subset=20), progress=False)


def test_cuda_without_cuda_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        search(tiny(dataset="synthetic"), device="cuda", progress=False)


def test_bars_zoo_search_is_callable_after_importing_the_subpackage():
    import bars_zoo.search.runner  # binds the attribute bars_zoo.search to the package

    assert callable(bars_zoo.search)
    assert bars_zoo.search.search is search


def _val_loader(shape: tuple[int, int, int]) -> BatchLoader:
    return BatchLoader(make_synthetic("train", size=16, input_shape=shape), 8, shuffle=False)


def test_meta_overrides_lists_the_settings_that_differ_from_the_preset():
    from bars_zoo.search.provenance import overrides as _overrides

    cfg = config_for(
        "fmnist", subset=2000, warmup_epochs=1, budget_ops=2e6, base_channels=(16, 32, 64)
    )
    assert _overrides(cfg) == "subset=2000,base_channels=16/32/64,warmup_epochs=1"
    assert _overrides(config_for("fmnist", seed=4, epochs=30)) == ""


def test_derive_reports_a_budget_no_network_can_meet():
    cfg = tiny(dataset="synthetic", budget_ops=1.0)
    space = SearchSpace(cfg, (3, 32, 32), 10)
    net, arch = Supernet(space), ArchParams(space)
    derived = derive(net, arch, _val_loader((3, 32, 32)), torch.Generator(), _nullcontext)
    assert not derived.budget_met
    assert derived.best.source == derived.derived == "cheapest"
    assert derived.best.ops == pytest.approx(space.ops_range()[0])


def test_derive_keeps_the_lowest_validation_loss_among_candidates_within_budget():
    lo, hi = SearchSpace(tiny(), (3, 32, 32), 10).ops_range()
    cfg = tiny(dataset="synthetic", budget_ops=(lo + hi) / 2)
    space = SearchSpace(cfg, (3, 32, 32), 10)
    net, arch = Supernet(space), ArchParams(space)
    derived = derive(net, arch, _val_loader((3, 32, 32)), torch.Generator(), _nullcontext)
    assert derived.budget_met and len(derived.candidates) == cfg.derive_candidates
    assert all(c.ops <= cfg.budget_ops for c in derived.candidates)  # type: ignore[operator]
    assert derived.best.val_loss == min(c.val_loss for c in derived.candidates)


def test_shrinking_reaches_a_reachable_budget():
    space = SearchSpace(tiny(), (3, 32, 32), 10)
    lo, hi = space.ops_range()
    s, e = space.num_stages, len(space.edges)
    dearest = Choice(((0,) * e,) * len(space.cell_types), (3,) * s, (1,) * s)
    choice, ops = shrink_to_budget(space, dearest, lo + 0.2 * (hi - lo))
    assert ops <= lo + 0.2 * (hi - lo)
    assert ops == count(space.to_spec(choice, name="x")).ops


def test_a_parameter_budget_bounds_every_derived_candidate_and_is_recorded(tmp_path):
    shape = (1, 28, 28) if HAVE_FMNIST else (3, 32, 32)
    space = SearchSpace(tiny(dataset=DATASET), shape, 10)
    p_lo, p_hi = space.params_range()
    limit = p_lo + 0.25 * (p_hi - p_lo)
    out = tmp_path / "small.geno"
    result = search(tiny(dataset=DATASET), out=out, budget_params=limit, progress=False)
    assert result.budget_met and result.spec is not None
    assert count(result.spec).params <= limit
    derive_log = json.loads((tmp_path / "small.run" / "derive.json").read_text())
    assert all(c["params"] <= limit for c in derive_log["candidates"])
    meta = result.spec.meta
    assert meta["budget_ops"] == "none" and meta["budget_params"] == format_size(limit, exact=True)
    assert meta["params"] == format_size(count(result.spec).params)
    assert "under a budget of" in out.read_text().splitlines()[0]
    last = json.loads((tmp_path / "small.run" / "log.jsonl").read_text().splitlines()[-1])
    assert last["budget_params"] == limit and last["expected_binary_params"] > 0


def test_shrinking_meets_a_parameter_budget_as_well():
    space = SearchSpace(tiny(), (3, 32, 32), 10)
    p_lo, p_hi = space.params_range()
    s, e = space.num_stages, len(space.edges)
    dearest = Choice(((0,) * e,) * len(space.cell_types), (3,) * s, (1,) * s)
    limit = p_lo + 0.1 * (p_hi - p_lo)
    choice, ops = shrink_to_budget(space, dearest, None, limit)
    c = count(space.to_spec(choice, name="x"))
    assert c.params <= limit and ops == c.ops


def test_an_unset_parameter_budget_or_input_shape_keeps_the_fingerprints_of_earlier_runs():
    import hashlib

    cfg = tiny()
    old = cfg.model_dump(mode="json")
    del old["budget_params"], old["search_time_s"], old["input_shape"]  # as 0.1.0 wrote it
    blob = json.dumps(old, sort_keys=True).encode()
    assert cfg.fingerprint() == hashlib.sha256(blob).hexdigest()[:16]
    assert tiny(budget_params=1e5).fingerprint() != cfg.fingerprint()


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tiny_search_on_cuda_with_bf16_writes_a_genotype_within_budget(tmp_path):
    cfg = tiny(dataset="synthetic", budget_ops=4e5, amp="bf16")
    result = search(cfg, device="cuda", out=tmp_path / "gpu.geno", progress=False)
    assert result.finished and result.budget_met
    assert result.spec is not None and count(result.spec).ops <= 4e5
    part = search(cfg, device="cuda", out=tmp_path / "r.geno", stop_after=1, progress=False)
    assert not part.finished
    resumed = search(cfg, device="cpu", out=tmp_path / "r.geno", resume=True, progress=False)
    assert resumed.finished and len(resumed.history) == 2  # a CUDA checkpoint resumes on the CPU


# --------------------------------------------------------------------------- CLI


def test_cli_search_writes_the_genotype(tmp_path, capsys):
    out = tmp_path / "cli.geno"
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--budget-ops", "400k"]
    rc = main([*argv, "--out", str(out), "--quiet", "--no-plots", "--device", "cpu"])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["check", str(out)]) == 0


def test_cli_search_under_a_parameter_limit_reports_the_parameters_it_derived(tmp_path, capsys):
    out = tmp_path / "p.geno"
    argv = ["search", "--preset", "tiny", "--budget-ops", "none", "--budget-params", "20k"]
    assert main([*argv, "--out", str(out), "--quiet", "--no-plots", "--device", "cpu"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    params = count(bars_zoo.read(out)).params
    assert f", {format_size(params)} params, budget 20k params" in line


def _fake_fmnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A dry run reads the data set: a small stand-in, and the output in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return ["--data-dir", str(write_fashion_mnist(tmp_path / "fm"))]


def test_cli_dry_run_prints_the_space(capsys, tmp_path, monkeypatch):
    data = _fake_fmnist(tmp_path, monkeypatch)
    assert main(["search", "--preset", "fmnist", "--dry-run", *data]) == 0
    text = capsys.readouterr().out
    assert "14 supernet cells" in text and "16 epochs (3 warm-up) x 2 steps" in text


def test_cli_base_channels_widen_the_space_and_are_recorded_as_overrides(
    tmp_path, capsys, monkeypatch
):
    argv = ["search", "--preset", "fmnist", "--base-channels", "48,96,192", "--stem-channels", "48"]
    assert main([*argv, "--dry-run", *_fake_fmnist(tmp_path, monkeypatch)]) == 0
    text = capsys.readouterr().out
    assert "stage s1: channels (12, 24, 36, 48)" in text
    assert "stage s3: channels (48, 96, 144, 192)" in text
    out = tmp_path / "w.geno"
    tiny = ["search", "--preset", "tiny", "--dataset", "synthetic", "--base-channels", "8,8,16"]
    rc = main([*tiny, "--stem-channels", "4", "--out", str(out), "--quiet", "--no-plots"])
    assert rc == 0
    text = out.read_text()
    assert "base_channels=8/8/16" in text and "stem_channels=4" in text
    assert "stem conv3x3 channels=4 " in text


def test_cli_base_channels_too_narrow_for_the_ratios_is_a_usage_error(capsys):
    assert main(["search", "--preset", "tiny", "--base-channels", "3,5,7", "--dry-run"]) == 2
    assert "gives the widths (2, 2, 2, 4)" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["48,96,", "48;96", "0,8,16", "-8", "wide"])
def test_cli_rejects_unreadable_base_channels(bad, tmp_path, capsys):
    out = tmp_path / "x.geno"
    rc = main(["search", "--preset", "tiny", "--base-channels", bad, "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--base-channels" in err and "hint:" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--threads", "-1", "--threads must be at least 1"),
        ("--threads", "0", "--threads must be at least 1"),
        ("--stop-after", "0", "--stop-after must be at least 1"),
        ("--budget-params", "0", "a size must be positive"),
        ("--budget-ops", "-1", "a size must be positive"),
        ("--budget-ops", "1e400", "is too large"),
    ],
)
def test_cli_rejects_bad_numbers_with_exit_2(flag, value, message, tmp_path, capsys):
    out = tmp_path / "x.geno"
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--out", str(out)]
    assert main([*argv, "--quiet", "--no-plots", flag, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_cli_rejects_an_unreadable_budget(tmp_path, capsys):
    rc = main(["search", "--preset", "tiny", "--budget-ops", "lots", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "cannot read 'lots'" in capsys.readouterr().err
    rc = main(["search", "--preset", "tiny", "--budget-params", "-3", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "hint:" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_dry_run_shows_the_parameter_range_and_refuses_an_unreachable_parameter_budget(
    capsys, tmp_path, monkeypatch
):
    data = _fake_fmnist(tmp_path, monkeypatch)
    assert main(["search", "--preset", "fmnist", "--budget-params", "1k", "--dry-run", *data]) == 2
    shown = capsys.readouterr()
    assert "params of derivable networks: 6.602k .. 10.57M" in shown.out
    assert "parameter budget 1k is below the smallest network" in shown.err


@pytest.mark.parametrize("preset", ["paper", "fmnist", "tiny"])
def test_no_preset_sets_a_budget_so_a_left_out_budget_is_none(preset):
    cfg = config_for(preset)
    assert cfg.budget_ops is None and cfg.budget_params is None
    assert cfg.budget_text() == "none"


@pytest.mark.parametrize("none", ["none", "None", " NONE "])
def test_cli_budget_none_means_no_budget_and_leaves_a_parameter_budget_alone(
    none, capsys, tmp_path, monkeypatch
):
    fmnist = ["search", "--preset", "fmnist", "--dry-run", *_fake_fmnist(tmp_path, monkeypatch)]
    assert main([*fmnist, "--budget-ops", none, "--budget-params", "480k"]) == 0
    assert "budget: 480k params\n" in capsys.readouterr().out
    assert main([*fmnist, "--budget-ops", "2M"]) == 0
    assert "budget: 2M OPs\n" in capsys.readouterr().out
    assert main([*fmnist, "--budget-ops", none]) == 0
    assert "budget: none\n" in capsys.readouterr().out


def test_cli_resume_flag_continues_a_stopped_run(tmp_path):
    out = tmp_path / "r.geno"
    base = ["search", "--preset", "tiny", "--dataset", "synthetic", "--out", str(out), "--quiet"]
    assert main([*base, "--no-plots", "--stop-after", "1"]) == 0
    assert not out.exists() and (tmp_path / "r.run" / "checkpoint.pt").exists()
    assert main([*base, "--no-plots", "--resume"]) == 0
    assert Path(out).exists()


def test_amp_auto_means_bf16_on_cuda_and_on_cpus_with_native_bf16(monkeypatch):
    from bars_zoo.search import precision

    cpu = torch.device("cpu")
    assert precision.use_bf16("bf16", cpu) and not precision.use_bf16("off", cpu)
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: False)
    assert not precision.use_bf16("auto", cpu)
    monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: True)
    assert precision.use_bf16("auto", cpu)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 0))
    assert not precision.use_bf16("auto", torch.device("cuda"))


def test_a_none_override_is_applied_not_ignored(tmp_path):
    # docs/search.md: grad_clip=None turns clipping off
    cfg = config_for("fmnist", grad_clip=None, anneal_over=None, subset=None, budget_ops=None)
    assert (cfg.grad_clip, cfg.anneal_over, cfg.subset, cfg.budget_ops) == (None, None, None, None)
    from bars_zoo.search.presets import with_overrides

    assert with_overrides(config_for("tiny", budget_ops=1e6), budget_ops=None).budget_ops is None


def test_a_search_config_made_with_a_preset_name_takes_the_presets_values():
    assert SearchConfig(preset="tiny", epochs=3) == config_for("tiny", epochs=3)
    assert SearchConfig(preset="tiny").dataset == "synthetic"
    assert SearchConfig().preset == "custom" and SearchConfig().epochs == 50


def test_the_cli_keeps_preset_values_for_options_left_out_and_none_for_budget_none():
    from bars_zoo.cli import build_parser
    from bars_zoo.commands.search import _overrides

    args = build_parser().parse_args(["search", "--preset", "fmnist", "--budget-ops", "none"])
    assert _overrides(args) == {"budget_ops": None}
    args = build_parser().parse_args(["search", "--preset", "fmnist", "--budget-params", "480k"])
    assert _overrides(args) == {"budget_params": 480_000.0}


@pytest.mark.parametrize("limit", [-1.0, 0.0])
def test_a_time_limit_that_is_not_positive_is_refused(limit, tmp_path):
    with pytest.raises(ConfigError, match="time_limit_s must be positive"):
        search(tiny(dataset="synthetic"), out=tmp_path / "x.geno", time_limit_s=limit)
    assert list(tmp_path.iterdir()) == []


def test_plots_left_by_an_earlier_call_go_when_a_resumed_call_draws_none(tmp_path):
    cfg = tiny(dataset="synthetic", epochs=2)
    out = tmp_path / "p.geno"
    search(cfg, out=out, stop_after=1, progress=False)
    run = tmp_path / "p.run"
    assert (run / "ops.png").is_file()  # one epoch: drawn with markers, not empty lines
    search(cfg, out=out, resume=True, plots=False, progress=False)
    assert not any(run.glob("*.png"))  # they showed epoch 1 of a 2-epoch log


def test_an_exact_budget_is_written_exactly_and_the_floor_is_never_rounded_down(tmp_path, capsys):
    cfg = tiny(dataset="synthetic")
    lo, _ = SearchSpace(cfg, (3, 32, 32), 10).ops_range()
    budget = lo + 1234.0
    result = search(cfg, out=tmp_path / "b.geno", budget_ops=budget, progress=False, plots=False)
    assert float(parse_size(result.spec.meta["budget_ops"])) == budget
    assert main(["search", "--preset", "tiny", "--dry-run", "--out", str(tmp_path / "d.geno")]) == 0
    shown = capsys.readouterr().out.split("OPs of derivable networks: ")[1].split(" ..")[0]
    assert parse_size(shown) == lo


@pytest.mark.parametrize("seed", [-1, 2**40])
def test_a_seed_out_of_range_is_a_usage_error_not_an_overflow(seed, tmp_path):
    with pytest.raises(ConfigError, match="invalid search setting seed"):
        search(tiny(dataset="synthetic", seed=seed), out=tmp_path / "s.geno", progress=False)


def test_theta_under_without_a_budget_is_warned_about(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="bars_zoo.search"):
        search(tiny(dataset="synthetic", theta_under=-0.2), progress=False)
    assert "theta_under=-0.2 has no effect without a budget" in caplog.text


def test_each_epoch_logs_the_temperature_and_entropy_weight_its_steps_used(
    tmp_path, monkeypatch, caplog
):
    from bars_zoo.search import steps as steps_mod
    from bars_zoo.search import strategy

    used: list[tuple[str, float]] = []
    real_w, real_a = steps_mod.SearchSteps.weights_step, steps_mod.SearchSteps.arch_step
    real_lam = strategy.entropy_weight

    def weights_step(self, x, y, tau):
        used.append(("tau", tau))
        return real_w(self, x, y, tau)

    def arch_step(self, x, y, tau, epoch):
        used.append(("tau", tau))
        return real_a(self, x, y, tau, epoch)

    def entropy_weight(cfg, epoch):  # called by arch_loss, the alpha step's loss
        used.append(("lambda", real_lam(cfg, epoch)))
        return used[-1][1]

    monkeypatch.setattr(steps_mod.SearchSteps, "weights_step", weights_step)
    monkeypatch.setattr(steps_mod.SearchSteps, "arch_step", arch_step)
    monkeypatch.setattr(strategy, "entropy_weight", entropy_weight)
    with caplog.at_level("INFO", logger="bars_zoo.search"):
        result = search(tiny(dataset="synthetic", epochs=4), progress=False, plots=False)

    start = 0
    for r in result.history:  # warm-up: a weights step per batch; then weights, alpha, its loss
        n = r["steps"] * (1 if r["phase"] == "warmup" else 3)
        epoch_used = used[start : start + n]
        start += n
        assert {v for k, v in epoch_used if k == "tau"} == {r["temperature"]}, r["epoch"]
        lams = {v for k, v in epoch_used if k == "lambda"}
        assert lams == (set() if r["phase"] == "warmup" else {r["entropy_weight"]}), r["epoch"]
    assert start == len(used)
    # the schedule's start, middle and end over the three architecture epochs
    assert [r["temperature"] for r in result.history] == pytest.approx([1, 1, 0.9**24.5, 0.9**49])
    assert "epoch 3/4 [search]" in caplog.text and f"tau {0.9**24.5:.3f}" in caplog.text


def test_resuming_a_search_in_a_training_run_folder_refuses_without_a_delete_hint(tmp_path, capsys):
    from bars_zoo import checkpoint as train_ckpt
    from bars_zoo.training import CHECKPOINT_FORMAT

    run = tmp_path / "trained"
    run.mkdir()
    train_ckpt.save({"format": CHECKPOINT_FORMAT, "epoch": 2}, run / "checkpoint.pt")
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--run-dir", str(run)]
    assert main([*argv, "--resume", "-o", str(tmp_path / "x.geno")]) == 2
    err = capsys.readouterr().err
    assert f"{run} is the run directory of a `bars-zoo train`, not of a search" in err
    assert "delete" not in err
    assert (run / "checkpoint.pt").is_file()


def test_searching_in_a_training_run_folder_without_resume_refuses_without_a_delete_hint(
    tmp_path, capsys
):
    from bars_zoo import checkpoint as train_ckpt
    from bars_zoo.training import CHECKPOINT_FORMAT

    run = tmp_path / "trained"
    run.mkdir()
    train_ckpt.save({"format": CHECKPOINT_FORMAT, "epoch": 2}, run / "checkpoint.pt")
    argv = ["search", "--preset", "tiny", "--dataset", "synthetic", "--run-dir", str(run)]
    for dry in ([], ["--dry-run"]):  # the dry run's preflight is the search's
        assert main([*argv, *dry, "-o", str(tmp_path / "x.geno")]) == 2
        err = capsys.readouterr().err
        assert f"{run} is the run directory of a `bars-zoo train`, not of a search" in err
        assert "delete" not in err and "already holds a search checkpoint" not in err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt"]
    assert not (tmp_path / "x.geno").exists()
