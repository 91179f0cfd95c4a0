"""The BARS architecture search (Zhao et al., "BARS: Joint Search of Cell Topology and Layout for
Accurate and Efficient Binary ARchitectures", 2021): supernet, strategy, derive, runner.

    import bars_zoo
    result = bars_zoo.search(preset="fmnist", budget_ops=2e6, out="found.geno")
    print(result.path, result.ops)

Modules, in dependency order: ``config`` (:class:`SearchConfig`), ``presets``, ``space`` (the search
space, derived specs, expected OPs), ``strategy`` (alphas, Gumbel-softmax, schedules, losses),
``supernet``, ``derive``, ``provenance`` (the genotype file: meta, the header's command),
``checkpoint``, ``records`` (log.jsonl), ``plots``, ``preflight`` (every check before the first epoch, shared with
``--dry-run``), ``precision`` (bf16 autocast), ``result`` (:class:`SearchResult`), ``runner`` (:func:`search`).  See docs/search.md.

``bars_zoo.search`` is this package, made callable so that it is both the function
:func:`search` (``bars_zoo.search(...)``) and the package (``bars_zoo.search.SearchConfig``),
whatever was imported first (``bars_zoo``'s lazy API binds the package, as for ``bars_zoo.deploy``).
"""

from __future__ import annotations

from bars_zoo._callable import make_callable
from bars_zoo.search.config import SearchConfig, format_size, parse_size
from bars_zoo.search.presets import PRESETS, config_for
from bars_zoo.search.result import SearchResult
from bars_zoo.search.runner import search
from bars_zoo.search.space import SearchSpace

# ``bars_zoo.search(...)`` calls :func:`search` even when it resolves to this package, and
# ``inspect.signature``/``help`` show the function's parameters and docstring
make_callable(__name__, search)

__all__ = [
    "PRESETS",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "config_for",
    "format_size",
    "parse_size",
    "search",
]
