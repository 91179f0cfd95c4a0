"""The network as it is trained: a :class:`~bars_zoo.builder.BarsNet` plus an optional auxiliary tower.

The auxiliary tower (Szegedy et al., "Going deeper with convolutions", 2015; the DARTS head of Liu et
al. 2019 that BARS App. A trains CIFAR-10 with, weight 0.4) is a small full-precision classifier on
the output of the cell at two thirds of the depth.  It only shapes training: checkpoints keep it so a
resumed run continues exactly, but published models are the bare ``BarsNet``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bars_zoo.builder import BarsNet


class AuxHead(nn.Module):
    """Full-precision auxiliary classifier (DARTS' ``AuxiliaryHeadCIFAR`` for any input size): ReLU ->
    adaptive avg pool 2x2 -> conv1x1 128 -> BN -> ReLU -> conv2x2 768 -> BN -> ReLU -> linear."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(),
        )
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        return self.fc(torch.flatten(self.features(x), 1))


def aux_position(num_cells: int) -> int:
    """Index of the cell whose output feeds the auxiliary tower: the ``round(2n/3)``-th of ``n``."""
    return max(0, round(2 * num_cells / 3) - 1)


class TrainNet(nn.Module):
    """The model plus its optional auxiliary tower; ``forward`` returns ``(logits, aux_logits)``."""

    def __init__(self, model: BarsNet, aux_weight: float) -> None:
        super().__init__()
        self.model = model
        self.aux_index = aux_position(len(model.cells))
        self.aux: AuxHead | None = None
        if aux_weight > 0:
            cell = model.cells[self.aux_index]
            self.aux = AuxHead(cell.c_out, model.spec.num_classes)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        m = self.model
        x = m.stem(x)
        aux_logits = None
        for i, cell in enumerate(m.cells):
            x = cell(x)
            if i == self.aux_index and self.aux is not None and self.training:
                aux_logits = self.aux(x)
        return m.head(x), aux_logits


__all__ = ["AuxHead", "TrainNet", "aux_position"]
