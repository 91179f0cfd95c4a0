"""A genotype edited after its search keeps search ``meta`` lines that state the old network's
numbers: ``check``, loading and training warn, and the card leaves them out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tiny_net import tiny_model

import bars_zoo
from bars_zoo.card import render_card
from bars_zoo.cli import main
from bars_zoo.complexity import complexity
from bars_zoo.dsl import parse
from bars_zoo.folder import save_pretrained
from bars_zoo.metacheck import stale_meta
from bars_zoo.registry import default_cfg

SEARCHED = Path(__file__).parents[1] / "genotypes" / "bars-fmnist-s.geno"


def edited_text() -> str:
    """bars-fmnist-s with stage s1 narrowed by hand: its meta ops/params are now stale."""
    text = SEARCHED.read_text()
    assert "stage s1: channels=36" in text
    return text.replace("stage s1: channels=36", "stage s1: channels=24")


def test_searched_genotypes_have_no_stale_meta():
    for path in SEARCHED.parent.glob("*.geno"):
        assert stale_meta(bars_zoo.dsl.read(path)) == {}, path.name


def test_stale_meta_compares_at_the_printed_precision():
    spec = parse(edited_text())
    stale = stale_meta(spec)
    assert set(stale) == {"ops", "params"}
    assert stale["ops"] == ("1.61M", "1.181M")
    ops = complexity(spec).ops
    exact = spec.model_copy(update={"meta": {**spec.meta, "ops": f"{ops / 1e6:.3f}M"}})
    assert "ops" not in stale_meta(exact)


def test_check_warns_that_edited_meta_no_longer_matches(tmp_path, capsys):
    geno = tmp_path / "my-net.geno"
    geno.write_text(edited_text())
    assert main(["check", str(geno)]) == 0  # a warning, not an error
    err = capsys.readouterr().err
    assert "warning[stale-meta]: meta ops=1.61M (the architecture has 1.181M)" in err
    assert "2 warning(s)" in err


def test_card_leaves_out_stale_search_numbers():
    spec = parse(edited_text())
    card = render_card(
        spec,
        default_cfg(spec),
        packed=True,
        complexity_summary=complexity(spec).summary(),
    )
    provenance = next(line for line in card.splitlines() if line.startswith("- provenance:"))
    assert "ops=1.61M" not in provenance and "budget_met" not in provenance
    assert "preset=fmnist" in provenance
    assert "edited after its search" in card


def test_loading_a_folder_with_stale_meta_warns(tmp_path, caplog):
    spec = parse(edited_text())
    folder = save_pretrained(bars_zoo.build(spec), tmp_path / "m", packed=False)
    with caplog.at_level(logging.WARNING, logger="bars_zoo"):
        bars_zoo.load(f"local-dir:{folder}")
    assert "no longer match the architecture" in caplog.text


@pytest.mark.parametrize("tiny", [True])
def test_a_genotype_without_search_meta_is_not_checked(tiny, tmp_path):
    assert stale_meta(tiny_model().spec) == {}


def test_stale_meta_warning_points_at_the_key_not_at_a_longer_key_or_a_quoted_value():
    # the column was text.find("ops"): inside budget_ops, and a quoted "ops=" matched the line
    from bars_zoo.commands.check import stale_meta_warnings

    text = edited_text().replace('meta budget_ops="none"\n', "")
    text = text.replace('meta ops="1.61M"', 'meta budget_ops="none" ops="1.61M"  # ops=1.61M')
    text = text.replace('meta seed="0"', 'meta note="fewer ops=params=more speed" seed="0"')
    warnings = stale_meta_warnings(parse(text), text.encode(), "x.geno")
    lines = text.splitlines()
    at = [(lines[w.line - 1][: w.column - 1], lines[w.line - 1][w.column - 1 :]) for w in warnings]
    assert at == [
        ('meta budget_ops="none" ', 'ops="1.61M"  # ops=1.61M'),
        ("meta ", 'params="449.1k"'),
    ]
