"""Round trips: ``parse(format(s)) == s`` for random valid specs, and ``format`` is a fixed point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import cell_specs, network_specs

from bars_zoo.dsl import check, format, format_text, parse
from bars_zoo.spec import NodeSpec, check_spec

ZOO = sorted((Path(__file__).parents[1] / "genotypes").glob("*.geno"))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(network_specs())
def test_parse_of_format_gives_back_the_spec(spec):
    text = format(spec)
    assert parse(text) == spec
    assert format(parse(text)) == text


@SETTINGS
@given(network_specs())
def test_formatted_text_has_no_errors_and_the_same_warnings_as_the_spec(spec):
    doc = check(format(spec))
    assert doc.errors == []
    assert sorted(d.code for d in doc.warnings) == sorted(
        p.code for p in check_spec(spec) if p.severity == "warning"
    )


@settings(max_examples=100, deadline=None)
@given(cell_specs())
def test_a_spec_never_stores_none_edges(cell):
    assert all(e.op != "none" for node in cell.nodes for e in node.edges)


def test_none_edges_are_dropped_when_a_node_is_built():
    node = NodeSpec.model_validate(
        {
            "name": "n2",
            "edges": [{"source": "in", "op": "none"}, {"source": "n1", "op": "shortcut"}],
        }
    )
    assert [(e.source, e.op) for e in node.edges] == [("n1", "shortcut")]


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_format_is_idempotent_on_every_zoo_genotype(path):
    text = path.read_text(encoding="utf-8")
    once = format_text(text)
    assert format_text(once) == once
    assert parse(once) == parse(text)


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_every_zoo_genotype_keeps_its_header_when_formatted(path):
    text = path.read_text(encoding="utf-8")
    header = [ln for ln in text.split("\nbars ")[0].splitlines() if ln.startswith("#")]
    assert format_text(text).startswith("\n".join(header))


# Comments: insert random comment lines and end-of-line comments into canonical text; every one of
# them must survive formatting, and formatting must then be a fixed point.

comment_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20
).map(lambda s: "# " + s.strip())


@st.composite
def commented(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Canonical text with comments inserted, and the comments inserted."""
    lines = format(draw(network_specs(max_stages=2))).split("\n")[:-1]
    out: list[str] = []
    inserted: list[str] = []
    for ln in lines:
        if draw(st.integers(0, 3)) == 0:
            inserted.append(draw(comment_text))
            out.append(inserted[-1])
        if ln.strip() and draw(st.integers(0, 3)) == 0:
            inserted.append(draw(comment_text))
            ln += "  " + inserted[-1]
        out.append(ln)
    if draw(st.booleans()):
        inserted.append(draw(comment_text))
        out.append(inserted[-1])
    return "\n".join(out) + "\n", inserted


def _comments(text: str) -> list[str]:
    doc = check(text)
    assert doc.ok, [d.render() for d in doc.errors]
    c = doc.comments
    blocks = [*c.header, *(x for b in c.above.values() for x in b), *c.after.values(), *c.footer]
    return sorted(x for x in blocks if x)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commented())
def test_fmt_keeps_every_comment_and_is_then_a_fixed_point(case):
    text, inserted = case
    once = format_text(text)
    assert format_text(once) == once
    assert parse(once) == parse(text)
    assert _comments(once) == sorted(c.rstrip() for c in inserted)


# Free statement order and spacing: shuffle what the language lets move (the single sections go
# anywhere after 'bars 1'; cells, layout lines and meta lines keep their relative order), respace,
# and the formatter must give back exactly the canonical text.


@st.composite
def rewritten(draw: st.DrawFn) -> tuple[str, str]:
    canonical = format(draw(network_specs(max_stages=3)))
    lines = [ln for ln in canonical.split("\n") if ln]
    groups: dict[str, list[str]] = {"single": [], "cell": [], "layout": [], "meta": []}
    i = 1  # lines[0] is 'bars 1'
    while i < len(lines):
        word = lines[i].split()[0]
        if word == "cell":
            end = lines.index("}", i)
            groups["cell"].append("\n".join(lines[i : end + 1]))
            i = end + 1
            continue
        kind = {"stage": "layout", "downsample": "layout", "meta": "meta"}.get(word, "single")
        groups[kind].append(lines[i])
        i += 1
    draw(st.randoms()).shuffle(groups["single"])
    order = draw(st.permutations([k for k, v in groups.items() for _ in v]))
    taken = dict.fromkeys(groups, 0)
    out = [lines[0]]
    for kind in order:
        out.append(groups[kind][taken[kind]])
        taken[kind] += 1
    space = st.sampled_from([" ", "  ", "\t", " \t "])
    text = "\n\n".join(out)
    quoted = {j for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"', text) for j in range(*m.span())}
    text = "".join(
        draw(space) if ch == " " and j not in quoted else ch for j, ch in enumerate(text)
    )
    return text + "\n", canonical


@SETTINGS
@given(rewritten())
def test_any_order_and_spacing_formats_to_the_same_canonical_text(case):
    text, canonical = case
    assert format_text(text) == canonical
