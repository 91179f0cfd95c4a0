"""The card's training command runs in the published repo: it names ``genotype.geno``."""

from __future__ import annotations

from tiny_net import tiny_model

from bars_zoo.card import render_card
from bars_zoo.complexity import complexity
from bars_zoo.registry import default_cfg


def test_card_training_command_names_the_repos_genotype_file():
    spec = tiny_model().spec
    cfg = default_cfg(spec).model_copy(
        update={"train_command": "bars-zoo train runs/my-net.geno --epochs 2 --out runs/my-net"}
    )
    card = render_card(spec, cfg, packed=True, complexity_summary=complexity(spec).summary())
    assert (
        "- command: `bars-zoo train genotype.geno --epochs 2 --out runs/my-net` (run in this "
        "repo: `genotype.geno` is the `runs/my-net.geno` it was trained from"
    ) in card
