"""Where the backbone of a model with a new classifier comes from (``PretrainedCfg.backbone``).

``load(name, num_classes=N)`` and ``model.reset_classifier(N)`` keep every weight before the
classifier: the model is then a fine-tuning start whose own data set, labels and accuracy are
unknown, but whose backbone was trained.  :class:`Backbone` records by what and on what, so that
a model folder saved from it neither claims the old model's data set nor looks untrained.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Backbone(BaseModel):
    """The pretrained model whose weights a model with a new classifier keeps before it
    (``PretrainedCfg.backbone``): its name (its architecture, or ``hf-hub:ORG/REPO@REV`` when
    published), the data set it learnt, its classes and its measured top-1 there.  ``classifier``:
    whether the model has a new classifier (the default) or kept the pretrained one (a
    fine-tuning run on a data set of the same class count)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Annotated[str, Field(min_length=1)]
    dataset: str | None = None
    num_classes: Annotated[int, Field(ge=1)]
    top1: Annotated[float, Field(ge=0, le=100)] | None = None
    top1_images: Annotated[int, Field(ge=1)] | None = None
    classifier: Literal["new", "kept"] = "new"

    @classmethod
    def of(cls, cfg: Any, classifier: Literal["new", "kept"] = "new") -> Backbone:
        """The backbone of the model ``cfg`` (a ``PretrainedCfg`` of trained weights) describes."""
        name = cfg.architecture
        if cfg.hub_repo is not None:
            name = f"hf-hub:{cfg.hub_repo}" + (f"@{cfg.revision}" if cfg.revision else "")
        return cls(
            model=name,
            dataset=cfg.dataset,
            num_classes=cfg.num_classes,
            top1=cfg.top1,
            top1_images=cfg.top1_images,
            classifier=classifier,
        )

    def describe(self) -> str:
        """``"bars-fmnist-s on fashion-mnist (10 classes, top-1 92.10%)"``."""
        top1 = "" if self.top1 is None else f", top-1 {self.top1:.2f}%"
        if self.top1 is not None and self.top1_images is not None:
            top1 += f" on {self.top1_images:,} test images"
        on = self.dataset or "an unknown data set"
        return f"{self.model} on {on} ({self.num_classes} classes{top1})"


__all__ = ["Backbone"]
