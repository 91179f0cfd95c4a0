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


@pytest.mark.parametrize(
    ("call", "match", "hint"),
    [
        (
            lambda: bars_zoo.load_genotype(1),
            "load_genotype takes a zoo name or a .geno path, got int",
            "list_models",
        ),
        (lambda: bars_zoo.load(3), "load takes a model name or a path, got int", "list_models"),
        (lambda: bars_zoo.complexity(None), "expected a NetworkSpec, got NoneType", "model.spec"),
    ],
    ids=["load_genotype-int", "load-int", "complexity-none"],
)
def test_a_wrong_argument_type_is_a_typed_bars_error_that_is_still_a_type_error(call, match, hint):
    # load_genotype(1) was os.fspath's TypeError; load(3) a bare TypeError without a hint
    from bars_zoo.errors import ArgumentTypeError

    with pytest.raises(ArgumentTypeError, match=match) as e:
        call()
    assert isinstance(e.value, TypeError) and isinstance(e.value, ConfigError)
    assert hint in (e.value.hint or "")


def test_complexity_of_a_model_is_the_complexity_of_its_spec():
    # complexity(model) was "expected a NetworkSpec, got BarsNet"
    spec = bars_zoo.load_genotype("example")
    assert bars_zoo.complexity(bars_zoo.build(spec)) == bars_zoo.complexity(spec)


@pytest.mark.parametrize("x2", ["no", 0, 1, None])
def test_complexity_refuses_an_x2_that_is_not_a_bool(x2):
    # x2="no" counted by truthiness (doubled) while the result said x2=False
    with pytest.raises(ConfigError, match=r"x2 must be True or False"):
        bars_zoo.complexity("example", x2=x2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"amp": "no"}, "amp must be True or False, got str 'no'"),
        ({"progress": "no"}, "progress must be True, False or None, got str 'no'"),
    ],
)
def test_evaluate_refuses_a_flag_that_is_not_a_bool(kwargs, match):
    # amp="no" was torch's TypeError from autocast; progress="no" drew a bar
    with pytest.raises(ConfigError, match=match):
        bars_zoo.evaluate("bars-fmnist-s", "synthetic", subset=8, device="cpu", **kwargs)


@pytest.mark.parametrize("name", ["bars-fmnist-s", Path("some/folder")])
def test_deploy_refuses_a_name_with_a_hint_to_load_it_first(name):
    # deploy("bars-fmnist-s") was an AttributeError from deep inside
    from bars_zoo.errors import DeployError

    with pytest.raises(DeployError, match="deploy\\(\\) takes a model, got the") as e:
        bars_zoo.deploy(name)
    assert "load_deployed(" in (e.value.hint or "") and "deploy(bars_zoo.load(" in (
        e.value.hint or ""
    )


def test_train_refuses_a_model_with_a_hint_to_pass_its_spec_and_init(tmp_path):
    # train(model, ...) was os.fspath's TypeError
    model = bars_zoo.build(bars_zoo.load_genotype("example"))
    with pytest.raises(
        ConfigError, match=r"train takes a genotype .* got a model \(BarsNet\)"
    ) as e:
        bars_zoo.train(model, dataset="synthetic", epochs=1, out_dir=tmp_path / "run")
    assert "model.spec" in (e.value.hint or "") and 'init="pretrained"' in (e.value.hint or "")
    assert not (tmp_path / "run").exists()


def test_search_config_refuses_a_bad_value_with_a_bars_error_that_is_still_a_value_error():
    # SearchConfig(epochs=0) was pydantic's raw ValidationError
    from bars_zoo.errors import SettingError

    with pytest.raises(SettingError, match="invalid search setting epochs: ") as e:
        bars_zoo.SearchConfig(epochs=0)
    assert isinstance(e.value, ValueError) and isinstance(e.value, ConfigError) and e.value.hint
    with pytest.raises(ConfigError, match=r"budget_ops: cannot read 'four' as a size"):
        bars_zoo.SearchConfig(budget_ops="four")


@pytest.mark.parametrize(
    "make",
    [
        lambda: bars_zoo.SearchConfig.model_validate({"epochs": 0}),
        lambda: bars_zoo.SearchConfig.model_validate_json('{"epochs": 0}'),
        lambda: bars_zoo.SearchConfig.model_validate_strings({"epochs": "0"}),
    ],
    ids=["model_validate", "model_validate_json", "model_validate_strings"],
)
def test_search_config_validate_refuses_a_bad_value_with_the_same_error_as_its_constructor(make):
    # only SearchConfig(...) gave SettingError; model_validate(...) raised pydantic's raw error
    from bars_zoo.errors import SettingError

    with pytest.raises(SettingError, match="invalid search setting epochs: ") as e:
        make()
    assert isinstance(e.value, ValueError) and e.value.hint
    good = bars_zoo.SearchConfig.model_validate({"preset": "tiny", "epochs": 3})
    assert good == bars_zoo.SearchConfig(preset="tiny", epochs=3)


def test_search_config_reads_budgets_written_as_the_command_line_writes_them():
    # budget_ops="4M" was refused in Python although the CLI and docs spell budgets so
    cfg = bars_zoo.SearchConfig(budget_ops="4M", budget_params="1.5k")
    assert cfg.budget_ops == 4e6 and cfg.budget_params == 1500.0
    assert (
        cfg.fingerprint() == bars_zoo.SearchConfig(budget_ops=4e6, budget_params=1500).fingerprint()
    )
    from bars_zoo.search.presets import config_for

    assert config_for("fmnist", budget_ops="2M").budget_ops == 2e6


@pytest.mark.parametrize("name", ["search", "deploy"])
def test_a_callable_module_shows_its_functions_signature_and_docstring(name):
    # inspect.signature(bars_zoo.search) was (*args, **kwargs) and help() showed the package doc
    import importlib
    import inspect
    import pydoc

    module = importlib.import_module(f"bars_zoo.{name}")
    func = getattr(module, name)
    assert inspect.signature(getattr(bars_zoo, name)) == inspect.signature(func)
    doc = pydoc.render_doc(getattr(bars_zoo, name), renderer=pydoc.plaintext)
    assert f"{name}{inspect.signature(func)}" in doc
    assert inspect.cleandoc(func.__doc__).splitlines()[0] in doc
