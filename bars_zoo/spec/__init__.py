"""The architecture as data: frozen pydantic specs of a BARS network, and the rules they obey.

A :class:`NetworkSpec` is what a ``.geno`` file means (see ``docs/genotype-language.md``):
a full-precision stem, a layout of stages (``depth`` normal cells at ``channels`` width) and stride-2
downsample cells, and a full-precision head.  Cells follow BARS Fig. 2 (Zhao et al., "BARS: Joint
Search of Cell Topology and Layout for Accurate and Efficient Binary ARchitectures", 2021): one input
``x`` -> ``preprocess`` -> node ``in``; node ``nK`` = sum over its edges of ``op(source)``; cell output =
last node + cell ``shortcut(x)``.

This package is torch-free.  It owns the op vocabulary (names and kinds; the torch modules live in
``bars_zoo.ops``), the hard size bounds, the shape bookkeeping (:func:`placements`) and the liveness
analysis (:func:`live_edges`) that the builder, the complexity counter and the search all share, and
the semantic checks (:func:`check_spec`) whose findings the DSL turns into located diagnostics.

The package: ``_model`` (vocabulary, :class:`Limits`, the frozen models), ``_shapes``
(:func:`placements`, :func:`live_edges`) and ``_checks`` (:func:`check_spec`).
"""

from __future__ import annotations

from bars_zoo.spec._checks import (
    STALE_WITH_CLASSIFIER,
    Problem,
    check_spec,
    ensure_valid,
    validate_fields,
    with_new_classifier,
)
from bars_zoo.spec._model import (
    BINARY_OPS,
    CELL_OPS,
    EDGE_OPS,
    FORMAT_VERSION,
    NAME_PATTERN,
    NODE_PATTERN,
    PARAM_FREE_OPS,
    SOURCE_PATTERN,
    STEM_OPS,
    CellOp,
    CellSpec,
    DownsampleSpec,
    EdgeOp,
    EdgeSpec,
    HeadSpec,
    InputSpec,
    LayoutItem,
    Limits,
    Meta,
    Name,
    NetworkSpec,
    NodeSpec,
    StageSpec,
    StemOp,
    StemSpec,
    Text,
)
from bars_zoo.spec._shapes import (
    CellPlacement,
    conv_out,
    feature_channels,
    halve,
    live_edges,
    placements,
    stem_output,
    uses_input,
)

__all__ = [
    "BINARY_OPS",
    "CELL_OPS",
    "EDGE_OPS",
    "FORMAT_VERSION",
    "NAME_PATTERN",
    "NODE_PATTERN",
    "PARAM_FREE_OPS",
    "SOURCE_PATTERN",
    "STALE_WITH_CLASSIFIER",
    "STEM_OPS",
    "CellOp",
    "CellPlacement",
    "CellSpec",
    "DownsampleSpec",
    "EdgeOp",
    "EdgeSpec",
    "HeadSpec",
    "InputSpec",
    "LayoutItem",
    "Limits",
    "Meta",
    "Name",
    "NetworkSpec",
    "NodeSpec",
    "Problem",
    "StageSpec",
    "StemOp",
    "StemSpec",
    "Text",
    "check_spec",
    "conv_out",
    "ensure_valid",
    "feature_channels",
    "halve",
    "live_edges",
    "placements",
    "stem_output",
    "uses_input",
    "validate_fields",
    "with_new_classifier",
]
