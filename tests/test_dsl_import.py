"""Checking a genotype is instant: the DSL, the spec and the ``check``/``fmt`` commands never import torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
GENO = sorted((ROOT / "genotypes").glob("*.geno"))[0]
HEAVY = ("torch", "torchvision", "numpy", "safetensors", "huggingface_hub", "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import bars_zoo",
        "import bars_zoo.dsl",
        "import bars_zoo.spec",
        f"import bars_zoo; bars_zoo.format(bars_zoo.read({str(GENO)!r}))",
        f"from bars_zoo.dsl import check; check(open({str(GENO)!r}).read())",
        f"from bars_zoo.cli import main; main(['check', {str(GENO)!r}])",
        f"from bars_zoo.cli import main; main(['fmt', '--check', {str(GENO)!r}])",
        "from bars_zoo.cli import main; main(['schema', '--compact'])",
    ],
    ids=["bars_zoo", "dsl", "spec", "read+format", "check", "cli-check", "cli-fmt", "cli-schema"],
)
def test_genotype_work_does_not_import_torch(code: str) -> None:
    loaded = _modules_after(code)
    assert not [m for m in HEAVY if m in loaded]
