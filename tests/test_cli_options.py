"""One spelling for one meaning across commands: options that ``train``, ``search`` and ``eval``
share, ``-o`` wherever ``--out`` is, and ``show --layers``."""

from __future__ import annotations

from bars_zoo.cli import main


def test_show_layers_prints_the_layer_table_and_refuses_summary(capsys):
    assert main(["show", "example", "--layers"]) == 0
    with_layers = capsys.readouterr().out
    assert main(["show", "example"]) == 0
    assert capsys.readouterr().out == with_layers  # the text table has every layer's row
    assert "\nlayer " in with_layers
    assert main(["show", "example", "--layers", "--summary"]) == 2
    assert "--layers and --summary contradict" in capsys.readouterr().err


def test_show_layers_adds_the_layer_rows_to_json(capsys):
    import json

    assert main(["show", "example", "--json"]) == 0
    assert "layers" not in json.loads(capsys.readouterr().out)
    assert main(["show", "example", "--json", "--layers"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"]
