"""bars-zoo: binary neural networks found by BARS architecture search.

Zhao et al., "BARS: Joint Search of Cell Topology and Layout for Accurate and Efficient Binary
ARchitectures" (2021).  ::

    import bars_zoo
    model = bars_zoo.load("bars-fmnist-m")      # pretrained, offline, eval mode
    spec = bars_zoo.load_genotype("bars-b")     # the architecture, from genotypes/bars-b.geno
    net = bars_zoo.build(spec)                  # untrained nn.Module
    print(bars_zoo.complexity(spec))            # BOPs / FLOPs / OPs / params / packed size
    x = bars_zoo.preprocess(["shoe.png"], model)  # image files -> the normalised batch

Importing ``bars_zoo`` (and ``bars_zoo.dsl``/``bars_zoo.spec``) does not import torch: the
torch-backed parts of the API are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# complexity is torch-free and imported eagerly: imported lazily, the submodule bars_zoo.complexity
# would replace the function of that name as soon as anything imported the submodule.
from bars_zoo.complexity import Complexity as Complexity
from bars_zoo.complexity import complexity as complexity
from bars_zoo.dsl import check, format, format_text, parse, read, schema
from bars_zoo.errors import BarsError, GenotypeError
from bars_zoo.spec import NetworkSpec

__version__ = "0.1.0"

# name -> module that defines it; imported lazily so that torch loads only when needed.
_LAZY: dict[str, str] = {
    "build": "bars_zoo.builder",
    "list_models": "bars_zoo.zoo",
    "load_genotype": "bars_zoo.zoo",
    "load": "bars_zoo.hub",
    "save_pretrained": "bars_zoo.folder",
    "push_to_hub": "bars_zoo.publish",
    "search": "bars_zoo.search",
    "SearchConfig": "bars_zoo.search",
    "train": "bars_zoo.training",
    "evaluate": "bars_zoo.training",
    "deploy": "bars_zoo.deploy",
    "load_deployed": "bars_zoo.deploy",
    "preprocess": "bars_zoo.images",
}

_CALLABLE_MODULES = frozenset({"deploy", "search"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bars_zoo' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    # `bars_zoo.deploy` and `bars_zoo.search` are callable modules (so that both
    # `bars_zoo.deploy(model)` and `bars_zoo.deploy.DeployedNet`, `bars_zoo.search(...)` and
    # `bars_zoo.search.SearchConfig` work, whatever was imported first)
    value = loaded if name in _CALLABLE_MODULES else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BarsError",
    "Complexity",
    "GenotypeError",
    "NetworkSpec",
    "__version__",
    "check",
    "complexity",
    "format",
    "format_text",
    "parse",
    "read",
    "schema",
    *_LAZY,
]
