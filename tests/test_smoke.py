import subprocess
import sys

import pytest

import bars_zoo


def test_package_parses_its_own_example_genotype():
    from bars_zoo._resources import resource_dir

    spec = bars_zoo.read(resource_dir("genotypes") / "example.geno")
    assert spec.input_shape == (3, 32, 32)
    assert spec.num_classes == 10


@pytest.mark.parametrize(
    ("module", "attribute"), [("deploy", "DeployedNet"), ("search", "SearchConfig")]
)
def test_callable_modules_are_both_function_and_module_whatever_was_imported_first(
    module, attribute
):
    # `bars_zoo.deploy(...)` / `bars_zoo.search(...)` and `bars_zoo.deploy.DeployedNet` /
    # `bars_zoo.search.SearchConfig` (docs/deploy.md, docs/search.md), before and after
    # `import bars_zoo.<module>` binds the submodule on the package
    name = f"bars_zoo.{module}"
    code = (
        "import bars_zoo\n"
        f"assert {name}.{attribute} is not None\n"
        f"assert callable({name})\n"
        f"import {name}\n"
        f"assert callable({name}) and {name}.{attribute}\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
