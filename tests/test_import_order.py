"""The package's modules import in one direction (README, "Layout"; the design's data flow):

``errors -> spec -> dsl -> binary/ops -> cells -> builder -> complexity -> zoo/hub ->
data/train -> search -> cli``: a module imports only modules of its own layer or to its left, at
the top of the file and inside functions alike.  Read from the source (no import runs), so that
a new upward import fails here whatever it would cost at run time.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bars_zoo"

#: layer -> module prefixes; modules the design's chain does not name sit where they belong
LAYERS: list[tuple[str, ...]] = [
    # the base: errors, argument checks, and file / resource helpers every layer may use
    ("errors", "_args", "_callable", "_io", "_read", "_resources", "checkpoint"),
    ("spec",),
    ("dsl",),
    ("binary", "ops", "devices"),
    ("cells",),
    ("builder", "trainedness"),
    ("complexity", "metacheck"),
    # zoo/hub: names, registry, model folders, cards, publishing, packed inference, drawings
    (
        "zoo",
        "registry",
        "pretrainedcfg",
        "classnames",
        "knowndata",
        "backbone",
        "lookup",
        "weightsdir",
        "hub",
        "hubclient",
        "folder",
        "foldercard",
        "packing",
        "card",
        "publish",
        "deploy",
        "deploylayers",
        "kernels",
        "draw",
        "drawstyle",
        "drawtable",
        "_dot",
    ),
    # data/train
    (
        "data",
        "images",
        "imagefolder",
        "imagefiles",
        "traindata",
        "batches",
        "recipes",
        "training",
        "trainer",
        "trainfolder",
        "modelref",
        "runmodel",
        "traincheckpoint",
        "traininit",
        "trainepoch",
        "trainnet",
        "distributed",
        "evaluation",
        "graphstep",
    ),
    ("search",),
    ("cli", "commands", "__main__", "interrupts"),
]

#: (importer, imported) edges against the direction, each kept on purpose (README, "Layout")
ALLOWED_UPWARD = {
    # complexity("bars-b") resolves a zoo name; inside the function, so the counter itself
    # stays torch-free and independent of the zoo
    ("complexity", "zoo"),
}


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"bars_zoo.{module} is in no layer of {__name__}.LAYERS: add it")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:  # the package itself is the public facade, above every layer
            out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> set[str]:
    """The bars_zoo modules ``module`` imports (``from bars_zoo import x`` counts as the
    submodule ``x`` when there is one; ``__version__`` of the package itself is not a module)."""
    known = _modules()
    found: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                origin = ".".join(["bars_zoo", *base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            names = [f"{origin}.{a.name}" for a in node.names] + [origin]
        else:
            continue
        for name in names:
            if not name.startswith("bars_zoo."):
                continue
            name = name.removeprefix("bars_zoo.")
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.split(".")[0] != module.split(".")[0]:
                found.add(name)
    return found


EDGES = sorted(
    (module, imported) for module, path in _modules().items() for imported in _imports(module, path)
)


def test_every_module_is_in_a_layer():
    for module in _modules():
        _layer(module)


def test_a_module_imports_only_its_own_layer_or_layers_to_its_left():
    upward = [
        f"bars_zoo.{module} imports bars_zoo.{imported}"
        for module, imported in EDGES
        if _layer(imported) > _layer(module)
        and (module.split(".")[0], imported.split(".")[0]) not in ALLOWED_UPWARD
    ]
    assert not upward


def test_the_allowed_upward_imports_are_still_needed():
    pairs = {(a.split(".")[0], b.split(".")[0]) for a, b in EDGES}
    assert pairs >= ALLOWED_UPWARD


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ("bars_zoo.folder", "bars_zoo.foldercard", "write_card folder_card hand_written_card"),
        (
            "bars_zoo.evaluation",
            "bars_zoo.modelref",
            "model_source unfinished_run load_model looks_like_path sibling_hint is_search_run "
            "run_holdout",
        ),
        ("bars_zoo.training", "bars_zoo.runmodel", "model_from_checkpoint run_cfg RUN_PROGRESS"),
    ],
)
def test_names_a_module_split_moved_still_import_from_their_old_module(old, new, names):
    # splits meant to change nothing removed bars_zoo.folder.write_card, ...evaluation.model_source
    moved_to = importlib.import_module(new)
    for name in names.split():
        assert getattr(importlib.import_module(old), name) is getattr(moved_to, name), name


def test_the_eval_command_does_not_import_the_training_module():
    # it imported bars_zoo.training (and all training needs) for one constant of runmodel
    tree = ast.parse((PACKAGE / "commands" / "eval.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "bars_zoo.runmodel" in imported and "bars_zoo.training" not in imported
