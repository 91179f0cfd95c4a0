"""The wheel ships the grammar, the zoo genotypes and every subpackage, and an installed copy finds them.

The build runs on a copy of the sources in a temporary folder, so that it leaves nothing (``build/``,
``*.egg-info``) in the working tree, and offline (``--no-build-isolation --no-deps``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.slow  # builds and installs a wheel: about 10-20 s


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "build", "*.egg-info")
    for name in ("bars_zoo", "grammars", "genotypes"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(src),
            "-w",
            str(dist),
        ],
        check=True,
        capture_output=True,
    )
    (whl,) = dist.glob("bars_zoo-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return target


def test_the_wheel_holds_the_grammar_the_genotypes_and_every_subpackage(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bars_zoo/grammars/genotype.lark" in names
    zoo = {f"bars_zoo/genotypes/{p.name}" for p in (ROOT / "genotypes").glob("*.geno")}
    assert zoo and zoo <= names
    packages = {
        f"{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "bars_zoo").rglob("__init__.py")
    }
    assert packages <= names, f"add to [tool.setuptools] packages: {sorted(packages - names)}"
    assert "bars_zoo/py.typed" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def _run(installed: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python from an unrelated folder with only the installed copy importable."""
    env = {"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )


def test_an_installed_wheel_finds_its_grammar_and_genotypes(
    installed: Path, tmp_path: Path
) -> None:
    code = (
        "import bars_zoo, sys\n"
        "from bars_zoo._resources import resource_dir\n"
        "print(bars_zoo.__file__)\n"
        "print(resource_dir('grammars'))\n"
        "for p in sorted(resource_dir('genotypes').glob('*.geno')):\n"
        "    bars_zoo.read(p)\n"
        "    print(p.name)\n"
        "print('torch' in sys.modules)\n"
    )
    run = _run(installed, tmp_path, "-c", code)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(str(installed))
    assert lines[1] == str(installed / "bars_zoo" / "grammars")
    assert set(lines[2:-1]) == {p.name for p in (ROOT / "genotypes").glob("*.geno")}
    assert lines[-1] == "False"


def test_the_installed_command_checks_the_bundled_zoo(installed: Path, tmp_path: Path) -> None:
    zoo = sorted(str(p) for p in (installed / "bars_zoo" / "genotypes").glob("*.geno"))
    run = _run(installed, tmp_path, "-m", "bars_zoo", "check", *zoo)
    assert run.returncode == 0, run.stderr
    assert f"checked {len(zoo)} file(s): 0 with errors" in run.stderr
