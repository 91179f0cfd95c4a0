"""The spec layer on its own (specs built in Python, as the search builds them): rules, shapes, liveness."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError
from strategies import network_specs

from bars_zoo.dsl import parse
from bars_zoo.errors import SpecError
from bars_zoo.spec import (
    CellSpec,
    DownsampleSpec,
    EdgeSpec,
    Limits,
    Meta,
    NetworkSpec,
    NodeSpec,
    StageSpec,
    check_spec,
    ensure_valid,
    feature_channels,
    halve,
    live_edges,
    placements,
    stem_output,
    uses_input,
)

TEXT = """\
bars 1
name "t"
input 3x31x31 classes=10
stem conv3x3 channels=16 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv3x3
}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=true {
  n1 <- in: bconv3x3
}
stage s1: channels=16 depth=2 cell=normal
downsample cell=reduce
stage s2: channels=32 depth=3 cell=normal
head avgpool linear
"""
SPEC = parse(TEXT)


def _cell(
    *nodes: list[tuple[str, str]], preprocess: str = "bconv3x3", shortcut: str = "identity"
) -> CellSpec:
    return CellSpec(
        name="c",
        stride=1,
        preprocess=preprocess,  # type: ignore[arg-type]
        shortcut=shortcut,  # type: ignore[arg-type]
        op_shortcut=True,
        nodes=tuple(
            NodeSpec(name=f"n{i + 1}", edges=tuple(EdgeSpec(source=s, op=o) for s, o in edges))  # type: ignore[arg-type]
            for i, edges in enumerate(nodes)
        ),
    )


def _codes(spec: NetworkSpec) -> list[str]:
    return [p.code for p in check_spec(spec)]


# --------------------------------------------------------------------------- shapes


def test_placements_unroll_the_layout_with_the_downsample_taking_the_next_stage_width() -> None:
    got = [(p.stage, p.c_in, p.c_out, p.stride, p.in_hw, p.out_hw) for p in placements(SPEC)]
    assert got == [
        ("s1", 16, 16, 1, (31, 31), (31, 31)),
        ("s1", 16, 16, 1, (31, 31), (31, 31)),
        (None, 16, 32, 2, (31, 31), (16, 16)),  # ceil(31 / 2) = 16
        ("s2", 32, 32, 1, (16, 16), (16, 16)),
        ("s2", 32, 32, 1, (16, 16), (16, 16)),
        ("s2", 32, 32, 1, (16, 16), (16, 16)),
    ]
    assert feature_channels(SPEC) == 32


def test_stem_output_applies_conv_stride_then_max_pool() -> None:
    spec = SPEC.model_copy(
        update={"stem": SPEC.stem.model_copy(update={"stride": 2, "pool": "maxpool"})}
    )
    assert stem_output(spec) == (16, 8, 8)  # 31 -> 16 -> 8
    assert [halve(n) for n in (1, 2, 3, 4, 7)] == [1, 1, 2, 2, 4]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network_specs())
def test_placements_chain_widths_and_sizes_for_any_valid_spec(spec: NetworkSpec) -> None:
    cells = placements(spec)
    depth = sum(i.depth if isinstance(i, StageSpec) else 1 for i in spec.layout)
    assert len(cells) == depth
    c, h, w = stem_output(spec)
    for p in cells:
        assert (p.c_in, p.in_hw) == (c, (h, w))
        assert p.out_hw == ((halve(h), halve(w)) if p.stride == 2 else (h, w))
        assert p.cell.stride == p.stride
        c, (h, w) = p.c_out, p.out_hw
    assert min(h, w) >= 1


# --------------------------------------------------------------------------- liveness


def test_live_edges_skip_dead_and_unused_nodes() -> None:
    cell = _cell(
        [("in", "bconv3x3")],  # n1: unused (does not reach n4)
        [],  # n2: dead (no inputs)
        [("n2", "bconv3x3"), ("in", "shortcut")],  # n3: the edge from dead n2 does nothing
        [("n3", "bconv1x1")],
    )
    assert [(n, e.source, e.op) for n, e in live_edges(cell)] == [
        ("n3", "in", "shortcut"),
        ("n4", "n3", "bconv1x1"),
    ]
    assert uses_input(cell)


def test_a_cell_without_preprocess_does_not_use_its_input() -> None:
    cell = _cell([("in", "bconv3x3")], preprocess="none")
    assert live_edges(cell) == () and not uses_input(cell)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network_specs())
def test_live_edges_only_read_live_values(spec: NetworkSpec) -> None:
    for cell in spec.cells:
        computed = {"in"} if uses_input(cell) else set()
        for node, edge in live_edges(cell):
            assert edge.op != "none" and edge.source in computed | {node}
            assert edge.source != node
            computed.add(node)


# --------------------------------------------------------------------------- rules


def test_check_spec_finds_a_duplicate_edge_that_only_python_can_build() -> None:
    cell = _cell([("in", "bconv3x3"), ("in", "shortcut")])
    spec = SPEC.model_copy(
        update={"cells": (cell.model_copy(update={"name": "normal"}), SPEC.cells[1])}
    )
    problems = [p for p in check_spec(spec) if p.code == "duplicate-edge"]
    assert [p.path for p in problems] == [("cells", 0, "nodes", 0, "edges", 1, "source")]


def test_check_spec_bounds_the_number_of_cell_instances() -> None:
    deep = tuple(
        s.model_copy(update={"depth": Limits.MAX_DEPTH}) if isinstance(s, StageSpec) else s
        for s in SPEC.layout
    )
    spec = SPEC.model_copy(update={"layout": deep * 3})
    too_large = [p for p in check_spec(spec) if p.code == "too-large"]
    assert too_large and "more than 256 cells" in too_large[0].message


def test_check_spec_puts_errors_before_warnings() -> None:
    spec = SPEC.model_copy(
        update={"layout": (*SPEC.layout, DownsampleSpec(kind="downsample", cell="reduce"))}
    )
    severities = [
        p.severity for p in check_spec(spec.model_copy(update={"cells": (*spec.cells, _cell([]))}))
    ]
    assert severities == sorted(severities, key=lambda s: s != "error")


def test_ensure_valid_returns_a_valid_spec_and_raises_spec_error_listing_every_error() -> None:
    assert ensure_valid(SPEC) is SPEC
    bad = SPEC.model_copy(
        update={"layout": (StageSpec(kind="stage", name="s", channels=8, depth=1, cell="nope"),)}
    )
    with pytest.raises(
        SpecError, match=r"layout\.0\.stage\.cell: error\[unknown-cell\]: no cell named 'nope'"
    ):
        ensure_valid(bad)


def test_specs_are_frozen_and_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        SPEC.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        NetworkSpec.model_validate({**SPEC.model_dump(), "colour": "blue"})


@pytest.mark.parametrize(
    ("update", "match"),
    [
        ({"meta": {"not a name": "x"}}, "string_pattern_mismatch|should match pattern"),
        ({"meta": {"k": "tab\there"}}, "control characters"),
        ({"meta": {"k": "x" * (Limits.MAX_META_LEN + 1)}}, "at most 1024"),
        ({"name": "bell\a"}, "control characters"),
        ({"name": ""}, "at least 1"),
    ],
)
def test_specs_refuse_text_that_a_genotype_file_could_not_hold(update: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        NetworkSpec.model_validate({**SPEC.model_dump(), **update})


@pytest.mark.parametrize("name", ["N1", "n0", "n01", "node1", "n1a", "in", ""])
def test_a_node_spec_refuses_a_name_the_language_cannot_write(name: str) -> None:
    with pytest.raises(ValidationError, match=r"a node is named n1, n2, n3, \.\.\."):
        NodeSpec(name=name, edges=())


@pytest.mark.parametrize("source", ["input", "IN", "n0", "x", ""])
def test_an_edge_spec_refuses_a_source_that_is_neither_in_nor_a_node(source: str) -> None:
    with pytest.raises(ValidationError, match="an edge comes from 'in' or from a node"):
        EdgeSpec(source=source, op="bconv3x3")


def test_an_edited_spec_with_a_bad_node_name_or_cell_reference_is_refused_where_it_is_used() -> (
    None
):
    import bars_zoo

    cell = SPEC.cells[0]
    node = cell.nodes[0].model_copy(update={"name": "N1"})
    bad_node = SPEC.model_copy(
        update={
            "cells": (cell.model_copy(update={"nodes": (node, *cell.nodes[1:])}), SPEC.cells[1])
        }
    )
    bad_ref = SPEC.model_copy(
        update={"layout": (SPEC.layout[0].model_copy(update={"cell": "no such"}), *SPEC.layout[1:])}
    )
    for spec, field in (
        (bad_node, r"cells\.0\.nodes\.0\.name"),
        (bad_ref, r"layout\.0\.stage\.cell"),
    ):
        for use in (bars_zoo.build, bars_zoo.complexity, bars_zoo.format):
            with pytest.raises(SpecError, match=field):
                use(spec)


def test_spec_accessors() -> None:
    assert SPEC.input_shape == (3, 31, 31) and SPEC.num_classes == 10
    assert SPEC.cell_names() == ["normal", "reduce"] and SPEC.cell("reduce").stride == 2
    assert [s.name for s in SPEC.stages] == ["s1", "s2"]
    with pytest.raises(SpecError, match="no cell named 'x'"):
        SPEC.cell("x")
    assert _codes(SPEC) == []


def _edited(**update: object) -> NetworkSpec:
    import bars_zoo

    spec = bars_zoo.load_genotype("example")
    if "stem_op" in update:
        stem = spec.stem.model_copy(update={"op": update.pop("stem_op")})
        update["stem"] = stem
    return spec.model_copy(update=update)


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"stem_op": "conv5x5"}, "stem.op"),
        ({"num_classes": 0}, "num_classes"),
        ({"version": 2}, "version"),
    ],
)
def test_a_spec_edited_with_model_copy_is_checked_before_it_is_built_counted_or_printed(
    update: dict, field: str
) -> None:
    # model_copy(update=...) validates nothing: a conv5x5 stem was built as a 7x7 one
    import bars_zoo

    bad = _edited(**update)
    for use in (bars_zoo.build, bars_zoo.complexity, bars_zoo.format):
        with pytest.raises(SpecError, match=rf"{field}: "):
            use(bad)


def test_specs_are_hashable_and_equal_specs_hash_alike() -> None:
    import bars_zoo

    a = bars_zoo.load_genotype("bars-a")
    b = bars_zoo.parse(bars_zoo.format(a))
    assert a == b and hash(a) == hash(b)
    assert len({a, b, bars_zoo.load_genotype("bars-b")}) == 2


def test_a_spec_meta_refuses_changes_so_the_hash_and_the_cached_genotype_stay_the_same() -> None:
    # meta was a plain dict: s.meta["x"] = "1" changed hash(s) and every later load_genotype
    import copy
    import pickle

    import bars_zoo

    spec = bars_zoo.load_genotype("example")
    before = hash(spec)
    with pytest.raises(TypeError):
        spec.meta["budget_ops"] = "999M"  # type: ignore[index]
    with pytest.raises(AttributeError, match="read-only"):
        spec.meta._items = {}  # type: ignore[misc]
    assert hash(spec) == before
    assert bars_zoo.load_genotype("example").meta["budget_ops"] == "18M"
    # reads like a dict, dumps as one, round-trips every way
    assert spec.meta == dict(spec.meta) and {**spec.meta}["searched_on"] == "cifar10"
    assert type(spec.model_dump()["meta"]) is dict
    for again in (
        NetworkSpec.model_validate(spec.model_dump()),
        NetworkSpec.model_validate_json(spec.model_dump_json()),
        pickle.loads(pickle.dumps(spec)),
        copy.deepcopy(spec),
    ):
        assert again == spec and hash(again) == before
    # an edited copy freezes its new meta too
    edited = spec.model_copy(update={"meta": {"k": "v"}})
    assert edited.meta == {"k": "v"} and hash(edited.meta) == hash(type(spec.meta)({"k": "v"}))
    with pytest.raises(TypeError):
        edited.meta["k"] = "w"  # type: ignore[index]


def test_equal_metas_and_specs_hash_equal_whatever_the_meta_order() -> None:
    # Meta hashed its items in insertion order while == ignored it
    import bars_zoo

    a, b = Meta({"a": "1", "b": "2"}), Meta({"b": "2", "a": "1"})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    spec = bars_zoo.load_genotype("example")
    s1 = spec.model_copy(update={"meta": {"x": "1", "y": "2"}})
    s2 = spec.model_copy(update={"meta": {"y": "2", "x": "1"}})
    assert s1 == s2 and hash(s1) == hash(s2)
    assert hash(spec.model_copy(update={"meta": {"x": "2"}})) != hash(s1)


def test_a_spec_meta_serves_the_common_dict_uses_and_still_refuses_changes() -> None:
    # a Mapping, not a dict: json.dumps(meta), meta | {...} and meta.copy() failed
    import copy
    import json

    import bars_zoo

    meta = bars_zoo.load_genotype("example").meta
    plain = dict(meta)
    assert json.loads(json.dumps(meta)) == plain
    assert json.dumps({"meta": meta}) == json.dumps({"meta": plain})
    merged = meta | {"k": "v"}
    assert type(merged) is dict and merged == {**plain, "k": "v"}
    assert type({"k": "v"} | meta) is dict
    edited = meta.copy()
    assert type(edited) is dict and edited == plain
    edited["k"] = "v"  # the copy is the caller's to change
    assert "k" not in meta and copy.copy(meta) == meta and isinstance(meta, dict)
    for change in (
        lambda: meta.update(k="v"),
        lambda: meta.setdefault("k", "v"),
        lambda: meta.pop("searched_on"),
        lambda: meta.popitem(),
        lambda: meta.clear(),
        lambda: meta.__delitem__("searched_on"),
        lambda: meta.__ior__({"k": "v"}),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert meta == plain


def test_format_refuses_a_spec_whose_layout_names_an_unknown_cell() -> None:
    # format checked the fields only, and printed text that parse then refused
    import bars_zoo

    spec = bars_zoo.load_genotype("example")
    bad = spec.model_copy(
        update={"layout": (spec.layout[0].model_copy(update={"cell": "nosuch"}), *spec.layout[1:])}
    )
    with pytest.raises(SpecError, match=r"layout\.0\.stage\.cell: error\[unknown-cell\]"):
        bars_zoo.format(bad)
