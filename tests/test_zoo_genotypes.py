"""The bundled zoo: every genotype file is clean, canonical, documented and builds; ``list_models``,
``load_genotype`` and ``bars-zoo show``.  Registry-driven: a new ``genotypes/*.geno`` needs no new
test code."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import bars_zoo
from bars_zoo.cli import main
from bars_zoo.complexity import complexity
from bars_zoo.dsl import check, format_text
from bars_zoo.errors import GenotypeError, UnknownModelError
from bars_zoo.zoo import genotype_dir, list_models, load_genotype

FILES = sorted(genotype_dir().glob("*.geno"))
NAMES = [p.stem for p in FILES]
PAPER = ["bars-a", "bars-b", "bars-c", "bars-d", "bars-e", "bars-f"]
BASELINES = ["xnor-resnet18-cifar10", "bireal-resnet18-imagenet", "xnor-resnet18-fmnist"]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors run faster on one thread than on an oversubscribed shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- the files


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_genotype_file_is_clean_and_canonical(path: Path) -> None:
    text = path.read_text()
    doc = check(text, str(path))
    # A searched genotype may keep a node whose inputs are all `none`: BARS derives `none` on
    # purpose (DESIGN.md 3.1: warn, don't fail).  Hand-written files carry no warning at all.
    searched = doc.spec is not None and "searched_by" in doc.spec.meta
    allowed = {"dead-node"} if searched else set()
    unexpected = [d for d in doc.warnings if d.code not in allowed]
    assert doc.errors == [] and unexpected == [], [d.render() for d in doc.errors + unexpected]
    assert format_text(text, str(path)) == text, "run `bars-zoo fmt` on it"


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_genotype_name_is_its_file_name_and_it_has_a_header(path: Path) -> None:
    spec = load_genotype(path.stem)
    assert spec.name == path.stem
    assert path.read_text().startswith("# "), "say what the network is in a header comment"


def test_zoo_holds_the_papers_networks_and_baselines() -> None:
    assert set(PAPER + BASELINES) <= set(NAMES)


@pytest.mark.parametrize("name", PAPER)
def test_paper_networks_say_they_are_reconstructions_and_give_their_targets(name: str) -> None:
    text = (genotype_dir() / f"{name}.geno").read_text()
    header = text.split("\nbars 1\n")[0]
    assert "RECONSTRUCTION" in header and "Table 2" in header
    spec = load_genotype(name)
    assert spec.meta["reconstruction"] == "true"
    for key in ("target_flops", "target_bops", "target_params", "width_ratios", "width_expansion"):
        assert key in spec.meta
    c = complexity(spec)
    assert spec.meta["target_bops"] in header
    assert f"BOPs {c.bops / 1e9:.3f}G" in header or f"BOPs {c.bops / 1e6:.2f}M" in header


@pytest.mark.parametrize("name", PAPER)
def test_paper_networks_use_the_bars_search_space(name: str) -> None:
    """Edges from {bconv3x3, shortcut, none}; preprocess bconv3x3; identity / bfr cell shortcuts."""
    spec = load_genotype(name)
    for cell in spec.cells:
        assert cell.op_shortcut and cell.preprocess == "bconv3x3"
        assert cell.shortcut == ("identity" if cell.stride == 1 else "bfr")
        assert {e.op for n in cell.nodes for e in n.edges} <= {"bconv3x3", "shortcut"}
        assert 3 <= len(cell.nodes) <= 5
    assert len(spec.stages) == 3
    assert all(s.depth <= 4 for s in spec.stages)


@pytest.mark.parametrize("name", NAMES)
def test_genotype_builds_and_trains_one_step_on_cpu(name: str, one_thread: None) -> None:
    """Forward and backward through every module, on the smallest input that leaves the last cell
    2x2 (the nets end in a global pool, so the input size is free; this keeps the CPU suite fast)."""
    spec = load_genotype(name)
    torch.manual_seed(0)
    model = bars_zoo.build(spec)
    reduction = spec.stem.stride * (2 if spec.stem.pool == "maxpool" else 1)
    reduction *= 2 ** sum(1 for item in spec.layout if item.kind == "downsample")
    x = torch.randn(2, spec.input.channels, 2 * reduction, 2 * reduction)
    out = model(x)
    assert out.shape == (2, spec.num_classes)
    assert model.forward_features(x).shape[-2:] == (2, 2)
    out.logsumexp(dim=1).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


# --------------------------------------------------------------------------- list_models


def test_list_models_lists_every_bundled_genotype_sorted() -> None:
    assert list_models() == sorted(NAMES)
    assert bars_zoo.list_models() == list_models()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("bars-?", PAPER),
        ("xnor-*", ["xnor-resnet18-cifar10", "xnor-resnet18-fmnist"]),
        ("*imagenet", ["bireal-resnet18-imagenet"]),
        ("bars-[ab]", ["bars-a", "bars-b"]),
        ("no-such-*", []),
        ("bars-b", ["bars-b"]),
    ],
)
def test_list_models_filters_with_wildcards(pattern: str, expected: list[str]) -> None:
    assert list_models(pattern) == expected


def test_list_models_pretrained_keeps_only_names_with_weights() -> None:
    registry = pytest.importorskip("bars_zoo.registry")
    have = set(registry.pretrained_names())
    got = list_models(pretrained=True)
    assert set(got) == have & set(list_models())
    assert set(list_models("bars-?", pretrained=True)) <= set(PAPER) & have


# --------------------------------------------------------------------------- load_genotype


def test_load_genotype_by_name_and_by_path_agree(tmp_path: Path) -> None:
    spec = load_genotype("bars-b")
    assert load_genotype(genotype_dir() / "bars-b.geno") == spec
    assert load_genotype(str(genotype_dir() / "bars-b.geno")) == spec
    assert bars_zoo.load_genotype("bars-b") is spec  # cached


def test_load_genotype_rereads_an_edited_file(tmp_path: Path) -> None:
    path = tmp_path / "net.geno"
    text = (genotype_dir() / "bars-a.geno").read_text()
    path.write_text(text)
    assert load_genotype(path).stages[0].depth == 3
    path.write_text(text.replace("depth=3", "depth=2"))
    os.utime(path, ns=(1, 1))  # a new mtime even on coarse clocks
    assert load_genotype(path).stages[0].depth == 2


def test_load_genotype_unknown_name_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'bars-bb'") as err:
        load_genotype("bars-bb")
    assert err.value.hint is not None and "'bars-b'" in err.value.hint


@pytest.mark.parametrize("name", ["", "  "])
def test_load_genotype_of_an_empty_name_says_it_is_empty(name: str) -> None:
    with pytest.raises(UnknownModelError, match="the name is empty"):
        load_genotype(name)


def test_load_genotype_unknown_name_without_close_match_lists_the_zoo() -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'zzzz'") as err:
        load_genotype("zzzz")
    assert err.value.hint is not None and "known models" in err.value.hint


def test_load_genotype_missing_file_is_an_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="no genotype file"):
        load_genotype(tmp_path / "missing.geno")


def test_load_genotype_bad_file_reports_located_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.geno"
    path.write_text(
        (genotype_dir() / "bars-a.geno").read_text().replace("n1: bconv3x3", "n1: bconv33")
    )
    with pytest.raises(GenotypeError, match=r"bad\.geno:\d+:\d+: error\[unknown-op\]"):
        load_genotype(path)


@pytest.mark.parametrize("prefix", ["", "local-dir:"])
def test_a_model_folder_given_for_a_genotype_is_refused_naming_its_genotype_file(
    prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "genotype.geno").write_text((genotype_dir() / "bars-a.geno").read_text())
    with pytest.raises(UnknownModelError) as err:
        load_genotype(f"{prefix}{tmp_path}")
    assert f"{tmp_path / 'genotype.geno'}" in (err.value.hint or "")
    assert main(["show", f"{prefix}{tmp_path}"]) == 2
    assert f"{tmp_path / 'genotype.geno'}" in capsys.readouterr().err


def test_a_hub_model_given_for_a_genotype_says_how_to_get_its_genotype_file() -> None:
    with pytest.raises(UnknownModelError, match="is a model, and a genotype") as err:
        load_genotype("hf-hub:org/net")
    assert "`bars-zoo pull hf-hub:org/net` prints the FOLDER" in (err.value.hint or "")


def test_load_genotype_reads_a_file_of_any_suffix_and_refuses_a_folder(tmp_path: Path) -> None:
    text = (genotype_dir() / "bars-a.geno").read_text()
    (tmp_path / "mynet.txt").write_text(text)
    assert load_genotype(tmp_path / "mynet.txt") == load_genotype("bars-a")
    (tmp_path / "adir.geno").mkdir()
    with pytest.raises(UnknownModelError, match="is a folder, not a genotype file"):
        load_genotype(tmp_path / "adir.geno")


def test_show_names_a_broken_file_as_given_with_one_error_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.geno").write_text(
        (genotype_dir() / "bars-a.geno").read_text().replace("n1: bconv3x3", "n1: bconv33")
    )
    assert main(["show", "bad.geno"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bad.geno:") and "error: bad.geno" not in err and str(tmp_path) not in err


# --------------------------------------------------------------------------- bars-zoo show


def test_show_prints_stage_and_layer_tables_with_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "bars-b"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bars-b  input 3x32x32  (MAC convention)")
    for needle in ("total", "[s1]", "[ds1]", "cells.0.preprocess.conv", "head.fc", "subtotal s3"):
        assert needle in out


def test_show_summary_has_no_layer_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "bars-b", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "cells.0.preprocess.conv" not in out


def test_show_json_prints_the_headline_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "bars-b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    c = complexity("bars-b")
    for key in ("bops", "flops", "ops", "params", "binary_params", "fp_params", "packed_bytes"):
        assert data[key] == getattr(c, key)
    assert [s["group"] for s in data["stages"]] == ["stem", "s1", "ds1", "s2", "ds2", "s3", "head"]
    assert "layers" not in data


def test_show_json_x2_doubles_bops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "bars-a", "--json", "--x2", "--layers"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["x2"] is True and data["bops"] == 2 * complexity("bars-a").bops
    assert len(data["layers"]) == len(complexity("bars-a").layers)


def test_show_accepts_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(genotype_dir() / "bars-a.geno"), "--summary"]) == 0
    assert capsys.readouterr().out.startswith("bars-a  input")


def test_show_unknown_model_fails_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "bars-bb"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'bars-bb'" in err and "did you mean" in err


def test_a_name_like_no_zoo_model_gets_no_far_fetched_suggestion(capsys):
    assert main(["show", "nonexist"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nonexist'" in err and "did you mean" not in err
    assert "known models: bars-a" in err


def test_show_and_eval_give_an_unknown_name_the_same_hint(capsys):
    assert main(["show", "nonexist"]) == 2
    shown = capsys.readouterr().err
    assert main(["eval", "nonexist"]) == 2
    evaluated = capsys.readouterr().err
    listing = "hint: known models: bars-a, bars-b"
    assert listing in shown and listing in evaluated
    # the same list of names, up to what else each command accepts
    assert (
        shown.split("`bars-zoo list` describes them")[0]
        == (evaluated.split("`bars-zoo list` describes them")[0])
    )


def test_readme_genotype_example_is_the_zoo_example_file() -> None:
    """`bars-zoo show example` shows the network the README's genotype-language section prints."""
    import re

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The genotype language", 1)[1]
    block = re.search(r"```\n(.*?)```\n", section, re.S)
    assert block is not None
    assert block.group(1) == (root / "genotypes" / "example.geno").read_text(encoding="utf-8")
