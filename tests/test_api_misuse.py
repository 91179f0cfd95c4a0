"""The public API answers a wrong argument type with a TypeError that says what it takes, not an
AttributeError from deep inside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bars_zoo
from bars_zoo.errors import ConfigError

GENOTYPES = Path(__file__).resolve().parent.parent / "genotypes"


def test_complexity_takes_a_path_as_well_as_a_name():
    path = GENOTYPES / "example.geno"
    assert bars_zoo.complexity(path) == bars_zoo.complexity(str(path))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda spec: bars_zoo.format("bars 1"), r"bars_zoo\.format_text\(text\)"),
        (lambda spec: bars_zoo.load(None), "load takes a model name or a path, got NoneType"),
        (lambda spec: bars_zoo.load(spec), r"bars_zoo\.build\(spec\) makes its model"),
        (lambda spec: bars_zoo.search("tiny"), r"search\(preset='tiny', \.\.\.\)"),
        (lambda spec: bars_zoo.evaluate(spec, "synthetic"), "a spec has no weights"),
        (lambda spec: bars_zoo.complexity(None), "expected a NetworkSpec, got NoneType"),
        (
            lambda spec: bars_zoo.push_to_hub(bars_zoo.build(spec), Path("me/x")),
            "repo_id is a string 'ORG/NAME', got PosixPath",
        ),
    ],
    ids=[
        "format-text",
        "load-none",
        "load-spec",
        "search-str",
        "evaluate-spec",
        "complexity-none",
        "push-path",
    ],
)
def test_a_wrong_argument_type_is_a_type_error_that_says_what_to_pass(call, match):
    spec = bars_zoo.load_genotype("example")
    with pytest.raises(TypeError, match=match):
        call(spec)


def test_build_checks_its_device():
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        bars_zoo.build(bars_zoo.load_genotype("example"), device="gpu")


def test_a_model_cast_to_another_dtype_is_refused_by_deploy_and_evaluate_with_a_hint():
    from bars_zoo.errors import DeployError

    model = bars_zoo.build(bars_zoo.load_genotype("example")).eval().double()
    with pytest.raises(DeployError, match=r"needs a float32 model, this one holds torch\.float64"):
        bars_zoo.deploy(model)
    with pytest.raises(ConfigError, match=r"evaluate model\.float\(\)"):
        bars_zoo.evaluate(model, "synthetic", subset=8, device="cpu")
    assert bars_zoo.evaluate(model.float(), "synthetic", subset=8, device="cpu")["n"] == 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pattern": 3}, "pattern must be a string, got int 3"),
        ({"pattern": None}, "pattern must be a string, got NoneType"),
        ({"pretrained": "yes"}, "pretrained must be True or False, got str 'yes'"),
        ({"untrained": "no"}, "untrained must be True or False, got str 'no'"),
        ({"warn": 0}, "warn must be True or False, got int 0"),
        ({"pattern": 3, "pretrained": "yes"}, "pattern must be"),  # signature order
    ],
    ids=["pattern-int", "pattern-none", "pretrained-str", "untrained-str", "warn-int", "order"],
)
def test_list_models_refuses_a_wrong_argument_type_with_a_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match) as e:
        bars_zoo.list_models(**kwargs)
    assert e.value.hint


def test_untrained_weights_is_none_for_a_name_without_weights_as_list_json_says(
    monkeypatch, capsys
):
    from bars_zoo import weightsdir
    from bars_zoo.cli import main
    from bars_zoo.lookup import untrained_weights

    monkeypatch.delenv(weightsdir.WEIGHTS_DIR_ENV, raising=False)
    assert untrained_weights("nope") is None  # unknown
    assert untrained_weights("example") is None  # a genotype, no weights
    assert untrained_weights("bars-fmnist-m") is False  # bundled, trained
    for name in ("example", "bars-fmnist-m"):
        assert main(["list", "--json", name]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["untrained"] is untrained_weights(name)
