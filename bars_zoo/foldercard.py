"""The model card of a model folder: ``README.md``, generated from the folder's ``config.json``,
``genotype.geno`` and file sizes (:func:`bars_zoo.card.render_card` writes the text), unless a
person wrote it (no generated-card marker): such a card is kept by every writer.
"""

from __future__ import annotations

import os
from pathlib import Path

from bars_zoo._io import atomic_write_text
from bars_zoo.card import GENERATED_MARK, render_card
from bars_zoo.complexity import complexity
from bars_zoo.dsl import read as read_genotype
from bars_zoo.errors import ConfigError
from bars_zoo.registry import CARD_FILE, CONFIG_FILE, GENOTYPE_FILE, WEIGHTS_FILE, read_config
from bars_zoo.trainedness import folder_trained


def hand_written_card(folder: Path) -> bool:
    """Whether ``folder`` holds a ``README.md`` that bars-zoo did not generate (and must keep)."""
    card = folder / CARD_FILE
    if not card.is_file():
        return False
    text = card.read_text(encoding="utf-8", errors="replace")
    return bool(text.strip()) and GENERATED_MARK not in text


def folder_card(folder: str | os.PathLike[str], *, load_name: str | None = None) -> str:
    """The generated ``README.md`` text of a model folder, from its ``config.json``,
    ``genotype.geno`` and file sizes: what :func:`write_card` writes (and ``register_bundled`` and
    ``push`` through it), without writing it."""
    path = Path(folder)
    config = read_config(path)
    spec = read_genotype(path / GENOTYPE_FILE)
    sizes = {
        f: (path / f).stat().st_size
        for f in (CONFIG_FILE, GENOTYPE_FILE, WEIGHTS_FILE)
        if (path / f).is_file()
    }
    return render_card(
        spec,
        config.pretrained_cfg,
        packed=config.packed,
        complexity_summary=complexity(spec).summary(),
        files=sizes,
        load_name=load_name,
        trained=folder_trained(config),
    )


def write_card(
    folder: str | os.PathLike[str], *, load_name: str | None = None, force: bool = False
) -> Path:
    """Regenerate ``README.md`` of a model folder from its config and genotype (atomically);
    ``load_name`` is the name its usage section loads (default: ``hf-hub:`` repo or local-dir).

    A hand-written ``README.md`` (one without the generated-card marker) is kept: this raises
    :class:`ConfigError` unless ``force``."""
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(
            f"no model folder at {path}", hint="pass a folder written by save_pretrained"
        )
    if hand_written_card(path) and not force:
        raise ConfigError(
            f"{path / CARD_FILE} was written by hand; refusing to replace it",
            hint="move it away first, or pass --force (force=True) to overwrite it",
        )
    atomic_write_text(path / CARD_FILE, folder_card(path, load_name=load_name))
    return path / CARD_FILE


__all__ = ["folder_card", "hand_written_card", "write_card"]
