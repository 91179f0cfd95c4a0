"""Hypothesis strategies for genotypes, for any test that wants random *valid* networks.

``network_specs()`` draws a :class:`~bars_zoo.spec.NetworkSpec` that passes ``check_spec`` with no
error (warnings such as dead nodes or unused cells are allowed, on purpose): random cells (nodes
``n1..nK``, edges from ``in`` or earlier nodes, every edge op including ``none``), a layout of stages
and stride-2 downsamples, an input large enough for its downsamples, names that collide with
keywords and ops, and printable free text in the name and meta.  Sizes stay small so that a
drawn spec can also be built and run on a CPU::

    from strategies import network_specs  # tests/ is on sys.path under pytest

    @given(network_specs())
    def test_something(spec): ...
"""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from bars_zoo.spec import (
    CELL_OPS,
    EDGE_OPS,
    STEM_OPS,
    CellSpec,
    DownsampleSpec,
    EdgeSpec,
    HeadSpec,
    InputSpec,
    Limits,
    NetworkSpec,
    NodeSpec,
    StageSpec,
    StemSpec,
    check_spec,
)

#: Words that a name may legally be, although they mean something elsewhere in the language.
TRICKY_NAMES = (
    "in",
    "none",
    "cell",
    "stage",
    "stem",
    "name",
    "meta",
    "head",
    "bars",
    "input",
    "downsample",
    "bconv3x3",
    "true",
    "n1",
)

names = st.one_of(
    st.sampled_from(TRICKY_NAMES),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,11}", fullmatch=True),
)

#: Free text as a ``"string"`` may hold it: printable, any script, quotes and backslashes included.
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    max_size=40,
).filter(str.isprintable)


@st.composite
def cell_specs(draw: st.DrawFn, name: str | None = None, stride: int | None = None) -> CellSpec:
    """A cell with 1..6 nodes; ``none`` edges are drawn too (the spec drops them)."""
    stride = stride if stride is not None else draw(st.sampled_from((1, 2)))
    k = draw(st.integers(1, 6))
    nodes = []
    for i in range(1, k + 1):
        sources = ["in"] + [f"n{j}" for j in range(1, i)]
        chosen = draw(st.lists(st.sampled_from(sources), unique=True, max_size=len(sources)))
        edges = tuple(EdgeSpec(source=s, op=draw(st.sampled_from(EDGE_OPS))) for s in chosen)
        nodes.append(NodeSpec(name=f"n{i}", edges=edges))
    ops = CELL_OPS if stride == 2 else tuple(o for o in CELL_OPS if o != "bfr")
    return CellSpec(
        name=name if name is not None else draw(names),
        stride=stride,  # type: ignore[arg-type]
        preprocess=draw(st.sampled_from(ops)),
        shortcut=draw(st.sampled_from(ops)),
        op_shortcut=draw(st.booleans()),
        nodes=tuple(nodes),
    )


@st.composite
def network_specs(draw: st.DrawFn, max_stages: int = 4, max_depth: int = 3) -> NetworkSpec:
    """A valid network (``check_spec`` finds no error); see the module docstring."""
    cell_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    n_normal = draw(st.integers(1, len(cell_names)))
    normal = [draw(cell_specs(n, 1)) for n in cell_names[:n_normal]]
    reduce = [draw(cell_specs(n, 2)) for n in cell_names[n_normal:]]
    cells = normal + reduce
    draw(st.randoms()).shuffle(cells)

    n_stages = draw(st.integers(1, max_stages))
    stage_names = draw(st.lists(names, min_size=n_stages, max_size=n_stages, unique=True))
    layout: list[StageSpec | DownsampleSpec] = []
    bfr_before = False
    for i, sname in enumerate(stage_names):
        if reduce and draw(st.booleans()) and (i > 0 or draw(st.booleans())):
            down = draw(st.sampled_from(reduce))
            layout.append(DownsampleSpec(kind="downsample", cell=down.name))
            bfr_before = "bfr" in (down.preprocess, down.shortcut)
        channels = draw(st.integers(1, 96))
        if bfr_before:
            channels += channels % 2
            bfr_before = False
        layout.append(
            StageSpec(
                kind="stage",
                name=sname,
                channels=channels,
                depth=draw(st.integers(1, max_depth)),
                cell=draw(st.sampled_from(normal)).name,
            )
        )

    stem = StemSpec(
        op=draw(st.sampled_from(STEM_OPS)),
        channels=draw(st.integers(1, 64)),
        stride=draw(st.sampled_from((1, 2))),
        pool=draw(st.sampled_from(("none", "maxpool"))),
    )
    downs = sum(isinstance(item, DownsampleSpec) for item in layout)
    smallest = 2 ** (downs + (stem.stride == 2) + (stem.pool == "maxpool"))
    spec = NetworkSpec(
        version=1,
        name=draw(texts.filter(bool).map(lambda s: s[: Limits.MAX_NAME_LEN])),
        input=InputSpec(
            channels=draw(st.integers(1, 4)),
            height=draw(st.integers(smallest, 2 * smallest + 8)),
            width=draw(st.integers(smallest, 2 * smallest + 8)),
        ),
        num_classes=draw(st.integers(1, 1000)),
        stem=stem,
        cells=tuple(cells),
        layout=tuple(layout),
        head=HeadSpec(pool="avgpool", classifier="linear"),
        meta=draw(st.dictionaries(names, texts, max_size=3)),
    )
    assume(not [p for p in check_spec(spec) if p.severity == "error"])
    return spec
