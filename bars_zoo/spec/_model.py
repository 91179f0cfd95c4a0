"""The spec's vocabulary, hard bounds and frozen pydantic models (see ``bars_zoo.spec``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NoReturn, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    field_validator,
)
from pydantic_core import core_schema

from bars_zoo.errors import SpecError

# --------------------------------------------------------------------------- vocabulary

#: Ops allowed on a cell edge.  ``bconv*`` carry the op-level shortcut when the cell enables it.
EDGE_OPS: tuple[str, ...] = ("bconv3x3", "bconv1x1", "shortcut", "none")
#: Ops allowed as a cell's ``preprocess`` or ``shortcut`` (no op-level shortcut on these).
CELL_OPS: tuple[str, ...] = ("bconv3x3", "bconv1x1", "bfr", "identity", "none", "conv1x1")
#: Full-precision stem convolutions.
STEM_OPS: tuple[str, ...] = ("conv3x3", "conv7x7")
#: Ops whose weights are binary (1-bit) and that count as BOPs.
BINARY_OPS: frozenset[str] = frozenset({"bconv3x3", "bconv1x1", "bfr"})
#: Ops without parameters.
PARAM_FREE_OPS: frozenset[str] = frozenset({"shortcut", "identity", "none"})

EdgeOp = Literal["bconv3x3", "bconv1x1", "shortcut", "none"]
CellOp = Literal["bconv3x3", "bconv1x1", "bfr", "identity", "none", "conv1x1"]
StemOp = Literal["conv3x3", "conv7x7"]

FORMAT_VERSION = 1


class Limits:
    """Hard bounds, so that a hostile file cannot exhaust memory or time."""

    MAX_FILE_BYTES = 256 * 1024
    MAX_NAME_LEN = 64
    MAX_NODES = 16
    MAX_CELLS = 32
    MAX_LAYOUT = 32
    MAX_CHANNELS = 8192
    MAX_DEPTH = 64
    MAX_INPUT_CHANNELS = 64
    MAX_INPUT_SIZE = 4096
    MAX_CLASSES = 100_000
    MAX_META = 64
    MAX_META_LEN = 1024
    #: cell instances in the unrolled network (sum of stage depths plus downsamples)
    MAX_TOTAL_CELLS = 256
    #: statements in one file (a valid file has at most about 140)
    MAX_STATEMENTS = 512
    #: errors reported for one file before giving up
    MAX_ERRORS = 50
    #: words (tokens) in one file: bounds parse time (a valid file has a few hundred)
    MAX_WORDS = 20_000


NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
#: A node's name: ``n1``, ``n2``, ... (that they come in order is a rule of :func:`check_spec`).
NODE_PATTERN = r"^n[1-9][0-9]*$"
#: Where an edge comes from: the preprocessed cell input ``in``, or a node.
SOURCE_PATTERN = r"^(in|n[1-9][0-9]*)$"


def _printable(s: str) -> str:
    if not s.isprintable():
        raise ValueError("must not contain control characters")
    return s


#: Free text that a ``.geno`` file can hold in a ``"string"`` (the network name, meta values).
Text = Annotated[str, AfterValidator(_printable)]
#: A name as the language writes it: cells, stages, meta keys.
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=Limits.MAX_NAME_LEN)]


#: What ``meta`` holds, as pydantic checks it: name keys, printable values, bounded.
_MetaDict = Annotated[
    dict[Name, Annotated[Text, Field(max_length=Limits.MAX_META_LEN)]],
    Field(max_length=Limits.MAX_META),
]


_READ_ONLY = (
    "a spec's meta is read-only: spec.model_copy(update={'meta': {...}}) makes an edited copy"
)


def _read_only(*args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(_READ_ONLY)


class Meta(dict[str, str]):
    """``NetworkSpec.meta``: a read-only, hashable ``str -> str`` dict (insertion order kept).

    A spec is frozen and ``load_genotype`` hands out cached specs, so a plain dict here would let
    ``spec.meta["x"] = "1"`` change the spec's hash and leak into every later load.  A dict whose
    mutators raise ``TypeError``, it reads and serialises as one (``meta["k"]``, ``.get``,
    ``{**meta}``, ``json.dumps(meta)``, ``== {...}``; ``meta | {...}`` and ``meta.copy()`` give
    plain dicts); an edited copy is ``spec.model_copy(update={"meta": {...}})``.  Its hash, like its
    ``==``, ignores the order.  Pydantic validates it from a dict and dumps it as a dict, so JSON,
    the JSON schema, pickle and deepcopy are unchanged."""

    __slots__ = ()

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __hash__(self) -> int:  # type: ignore[override]  # dict's is None
        return hash(frozenset(self.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self) == dict(other.items())
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(_READ_ONLY)

    def __reduce__(self) -> tuple[type[Meta], tuple[dict[str, str]]]:
        return (Meta, (dict(self),))

    def __repr__(self) -> str:
        return f"Meta({dict(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        as_dict = core_schema.dict_schema(core_schema.str_schema(), core_schema.str_schema())
        return core_schema.no_info_after_validator_function(
            cls,
            handler.generate_schema(_MetaDict),
            serialization=core_schema.plain_serializer_function_ser_schema(
                dict, return_schema=as_dict
            ),
        )


def _node_name(s: str) -> str:
    if not re.fullmatch(NODE_PATTERN, s):
        raise ValueError(f"a node is named n1, n2, n3, ... (n and a number from 1), not {s!r}")
    return s


def _source(s: str) -> str:
    if not re.fullmatch(SOURCE_PATTERN, s):
        raise ValueError(f"an edge comes from 'in' or from a node n1, n2, ..., not {s!r}")
    return s


# The pattern goes into the JSON Schema as it is; the validators say what it means.
NodeName = Annotated[
    str,
    Field(max_length=Limits.MAX_NAME_LEN, json_schema_extra={"pattern": NODE_PATTERN}),
    AfterValidator(_node_name),
]
Source = Annotated[
    str,
    Field(max_length=Limits.MAX_NAME_LEN, json_schema_extra={"pattern": SOURCE_PATTERN}),
    AfterValidator(_source),
]

# --------------------------------------------------------------------------- specs


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(_Frozen):
    """Input tensor shape (channels, height, width)."""

    channels: Annotated[int, Field(ge=1, le=Limits.MAX_INPUT_CHANNELS)]
    height: Annotated[int, Field(ge=1, le=Limits.MAX_INPUT_SIZE)]
    width: Annotated[int, Field(ge=1, le=Limits.MAX_INPUT_SIZE)]


class StemSpec(_Frozen):
    """Full-precision stem: conv (padding k//2) -> BN, then an optional 3x3/s2 max pool."""

    op: StemOp
    channels: Annotated[int, Field(ge=1, le=Limits.MAX_CHANNELS)]
    stride: Literal[1, 2]
    pool: Literal["none", "maxpool"]


class EdgeSpec(_Frozen):
    """``source: op`` inside a node; ``source`` is ``in`` or an earlier node ``nK``."""

    source: Source
    op: EdgeOp


class NodeSpec(_Frozen):
    """Node ``nK``: the sum of its edges.  ``none`` edges are never stored (they are dropped here)."""

    name: NodeName
    edges: tuple[EdgeSpec, ...]

    @field_validator("edges")
    @classmethod
    def _drop_none(cls, edges: tuple[EdgeSpec, ...]) -> tuple[EdgeSpec, ...]:
        return tuple(e for e in edges if e.op != "none")


class CellSpec(_Frozen):
    """A named cell topology.  ``stride=2`` makes it a downsample (reduction) cell."""

    name: Name
    stride: Literal[1, 2]
    preprocess: CellOp
    shortcut: CellOp
    op_shortcut: bool
    nodes: Annotated[tuple[NodeSpec, ...], Field(min_length=1, max_length=Limits.MAX_NODES)]


class StageSpec(_Frozen):
    """``depth`` stride-1 cells of one topology at ``channels`` width."""

    kind: Literal["stage"]
    name: Name
    channels: Annotated[int, Field(ge=1, le=Limits.MAX_CHANNELS)]
    depth: Annotated[int, Field(ge=1, le=Limits.MAX_DEPTH)]
    cell: Name


class DownsampleSpec(_Frozen):
    """A stride-2 cell whose output width is the width of the stage that follows it."""

    kind: Literal["downsample"]
    cell: Name


LayoutItem = Annotated[StageSpec | DownsampleSpec, Field(discriminator="kind")]


class HeadSpec(_Frozen):
    """Full-precision head: BN -> global average pool -> linear classifier."""

    pool: Literal["avgpool"]
    classifier: Literal["linear"]


class NetworkSpec(_Frozen):
    """One network: what a ``.geno`` file means.  Build it with :func:`bars_zoo.build`."""

    version: Literal[1]
    name: Annotated[Text, Field(min_length=1, max_length=Limits.MAX_NAME_LEN)]
    input: InputSpec
    num_classes: Annotated[int, Field(ge=1, le=Limits.MAX_CLASSES)]
    stem: StemSpec
    cells: Annotated[tuple[CellSpec, ...], Field(min_length=1, max_length=Limits.MAX_CELLS)]
    layout: Annotated[tuple[LayoutItem, ...], Field(min_length=1, max_length=Limits.MAX_LAYOUT)]
    head: HeadSpec
    # read-only (:class:`Meta`); the schema's patternProperties alone would let editors accept any key
    meta: Annotated[Meta, Field(json_schema_extra={"additionalProperties": False})]

    def __hash__(self) -> int:  # equal specs hash equal, whatever meta's type and order
        return hash((self.model_dump_json(exclude={"meta"}), self.meta))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with ``update`` applied (unchecked, as pydantic's; a ``meta`` dict is frozen)."""
        if update and "meta" in update and not isinstance(update["meta"], Meta):
            update = {**update, "meta": Meta(update["meta"])}
        return super().model_copy(update=update, deep=deep)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input image."""
        return (self.input.channels, self.input.height, self.input.width)

    def cell(self, name: str) -> CellSpec:
        """The cell called ``name`` (raises :class:`SpecError` if there is none)."""
        for c in self.cells:
            if c.name == name:
                return c
        raise SpecError(f"no cell named {name!r}", hint=f"defined cells: {self.cell_names()}")

    def cell_names(self) -> list[str]:
        return [c.name for c in self.cells]

    @property
    def stages(self) -> tuple[StageSpec, ...]:
        return tuple(item for item in self.layout if isinstance(item, StageSpec))
