"""The search configuration: one frozen pydantic model holding every knob of a BARS search.

Defaults are the paper's values (Zhao et al., "BARS: Joint Search of Cell Topology and Layout for
Accurate and Efficient Binary ARchitectures", 2021, Sec. 4 and appendix A); named presets
(:mod:`bars_zoo.search.presets`) override some of them.  Everything that changes the numbers of a run
is in here, so :meth:`SearchConfig.fingerprint` identifies a run for checkpoint/resume; where it runs
(device, output paths, progress bars) is not.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bars_zoo.errors import ConfigError, SettingError, option
from bars_zoo.spec import Limits

PreprocessOp = Literal["bconv3x3", "bconv1x1"]
ReduceOp = Literal["bconv3x3", "bconv1x1", "bfr"]
NormalShortcut = Literal["identity", "bconv3x3", "bconv1x1"]
SearchEdgeOp = Literal["bconv3x3", "bconv1x1", "shortcut", "none"]

MAX_SEARCH_NODES = 6  # the expected-OPs dynamic programme enumerates 2^nodes reachability sets


def resolve_channels(base: int, ratio: float) -> int:
    """Channels of a stage at ``ratio`` of ``base``: rounded to an even number (``bfr`` splits the
    output in two halves), at least 2."""
    return max(2, 2 * round(ratio * base / 2))


class SearchConfig(BaseModel):
    """Every setting of a search.  Build one with :func:`bars_zoo.search.presets.config_for`.

    Search space (BARS Sec. 4.1-4.2, Sec. 5.1): ``len(base_channels)`` stages; stage ``s`` has one
    mandatory cell plus ``max(depth_choices)`` optional ones (``1 + depth`` cells once derived) at
    width ``ratio * base_channels[s]``; a stride-2 reduction cell between stages.  Cells have
    ``nodes`` intermediate nodes; every edge (from ``in`` and earlier nodes) mixes ``edge_ops``.

    Strategy (Sec. 4.3, appendix A): Gumbel-softmax temperature ``temperature * temperature_decay^e``;
    entropy weight ``entropy_start + entropy_step * e`` (signed), ``e`` counting the architecture
    epochs (the first epoch after the warm-up has ``e = 0``; warm-up epochs use it too);
    complexity loss ``L0 * (OPs/F)^theta`` with ``theta = theta_over`` when ``OPs >= F`` else ``theta_under`` (the
    paper's gamma and mu, Eq. 5): ``theta_under = 0`` lets a search stay under its budget, a negative
    one pulls the expected OPs up towards the budget.  ``budget_params`` (not in the paper) adds
    the same factor for the expected binary parameters, ``(P/F_p)^theta``, and makes the derived
    network's total parameter count a hard limit too.
    ``anneal_over`` stretches both schedules so that the ``epochs - warmup_epochs`` architecture
    epochs traverse ``e = 0 .. anneal_over - 1``, first to last (``None``: one step per epoch).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str = "custom"
    name: Annotated[str, Field(min_length=1, max_length=64)] = "bars-searched"
    # data
    dataset: Literal["fashion-mnist", "cifar10", "synthetic", "imagefolder"] = "cifar10"
    # (C, H, W) an image folder is read at (its images vary); the built-in sets' shape is fixed
    input_shape: tuple[int, int, int] | None = None
    subset: Annotated[int, Field(ge=4)] | None = None
    augment: bool = True
    # search space
    stem_channels: Annotated[int, Field(ge=1, le=1024)] = 48
    base_channels: tuple[Annotated[int, Field(ge=2, le=2048)], ...] = (48, 96, 192)
    width_ratios: tuple[Annotated[float, Field(gt=0.0, le=4.0)], ...] = (0.25, 0.5, 0.75, 1.0)
    depth_choices: tuple[Annotated[int, Field(ge=0, le=16)], ...] = (0, 1, 2, 3)
    nodes: Annotated[int, Field(ge=1, le=MAX_SEARCH_NODES)] = 4
    edge_ops: tuple[SearchEdgeOp, ...] = ("bconv3x3", "shortcut", "none")
    preprocess: PreprocessOp = "bconv3x3"
    normal_shortcut: NormalShortcut = "identity"
    reduce_preprocess: ReduceOp = "bfr"
    reduce_shortcut: ReduceOp = "bconv3x3"
    op_shortcut: bool = True
    # schedule
    epochs: Annotated[int, Field(ge=1, le=10_000)] = 50
    warmup_epochs: Annotated[int, Field(ge=0)] = 5
    batch_size: Annotated[int, Field(ge=2, le=65_536)] = 64
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0  # torch generators take 64-bit seeds
    temperature: Annotated[float, Field(gt=0.0)] = 1.0
    temperature_decay: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    entropy_start: float = -0.01
    entropy_step: float = 0.001
    anneal_over: Annotated[int, Field(ge=1)] | None = None
    # complexity loss
    budget_ops: Annotated[float, Field(gt=0.0)] | None = None
    budget_params: Annotated[float, Field(gt=0.0)] | None = None
    theta_over: Annotated[float, Field(ge=0.0)] = 0.2
    theta_under: Annotated[float, Field(le=0.0)] = 0.0
    # optimisers
    weight_lr: Annotated[float, Field(gt=0.0)] = 3e-4
    weight_lr_min: Annotated[float, Field(ge=0.0)] = 0.0
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.0
    grad_clip: Annotated[float, Field(gt=0.0)] | None = 5.0
    arch_lr: Annotated[float, Field(gt=0.0)] = 3e-4
    arch_weight_decay: Annotated[float, Field(ge=0.0)] = 1e-3
    # derive
    derive_candidates: Annotated[int, Field(ge=1, le=256)] = 8
    derive_batches: Annotated[int, Field(ge=1)] | None = 20
    derive_max_draws: Annotated[int, Field(ge=1, le=100_000)] = 512
    # numerics
    amp: Literal["auto", "bf16", "off"] = "auto"
    # how long the whole run may search (seconds of its epochs, over every call): when spent, the
    # search ends and derives.  Not in the fingerprint: a resume may give a new one
    search_time_s: Annotated[float, Field(gt=0.0)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset_values(cls, data: Any) -> Any:
        """``SearchConfig(preset="tiny", epochs=3)`` is the tiny preset with three epochs (as
        ``config_for("tiny", epochs=3)``), not the paper's settings labelled ``tiny``."""
        from bars_zoo.search.presets import PRESETS

        if isinstance(data, dict) and data.get("preset") in PRESETS:
            return {**PRESETS[data["preset"]], **data}
        return data

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:  # a typed error with the field named, not pydantic's dump
            raise setting_error(err) from None

    # every way in gives the same typed error: SearchConfig(...), model_validate({...}),
    # model_validate_json("...") and model_validate_strings({...})
    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as err:
            raise setting_error(err) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as err:
            raise setting_error(err) from None

    @classmethod
    def model_validate_strings(cls, obj: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_strings(obj, **kwargs)
        except ValidationError as err:
            raise setting_error(err) from None

    @field_validator("budget_ops", "budget_params", mode="before")
    @classmethod
    def _size_text(cls, value: Any) -> Any:
        """``"4M"`` (the command line and the docs spell budgets so) is ``4e6`` (:func:`parse_size`)."""
        if not isinstance(value, str):
            return value
        try:
            return parse_size(value)
        except ConfigError as err:
            raise ValueError(err.message) from None

    @field_validator("input_shape", mode="before")
    @classmethod
    def _shape_text(cls, value: Any) -> Any:
        """``"3x64x64"`` (a genotype's ``input`` line spells it so) is ``(3, 64, 64)``."""
        return parse_input_shape(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        _check_input_shape(self.dataset, self.input_shape)
        if not self.base_channels:
            raise ValueError("base_channels needs at least one stage")
        if len(set(self.width_ratios)) != len(self.width_ratios) or not self.width_ratios:
            raise ValueError("width_ratios must be distinct and non-empty")
        if len(set(self.depth_choices)) != len(self.depth_choices) or not self.depth_choices:
            raise ValueError("depth_choices must be distinct and non-empty")
        if len(set(self.edge_ops)) != len(self.edge_ops) or not self.edge_ops:
            raise ValueError("edge_ops must be distinct and non-empty")
        for s, base in enumerate(self.base_channels):
            widths = [resolve_channels(base, r) for r in self.width_ratios]
            if len(set(widths)) < len(widths):
                raise ValueError(
                    f"stage {s + 1}: base {base} gives the widths {tuple(widths)} for the ratios "
                    f"{self.width_ratios}, some of them the same choice twice; widen the stage "
                    "(base_channels) or use fewer ratios"
                )
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) must be below epochs ({self.epochs}): "
                "the architecture is only updated after the warm-up"
            )
        return self

    def fingerprint(self) -> str:
        """A short hash of every setting: a checkpoint only resumes a run with the same one.

        Settings added after 0.1.0 are left out while unset, so older runs keep their hashes;
        ``search_time_s`` always (it says where a run ends, not how it goes)."""
        values = self.model_dump(mode="json", exclude={"search_time_s"})
        for key in ("budget_params", "input_shape"):
            if values[key] is None:
                del values[key]
        blob = json.dumps(values, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def budget_text(self) -> str:
        """``4M OPs``, ``4M OPs and 480k params``, ``480k params`` or ``none`` (exact: a budget of
        ``221.84k`` is not shown as ``221.8k``, which reads as a neighbouring value)."""
        parts = [f"{format_size(self.budget_ops, exact=True)} OPs"] if self.budget_ops else []
        if self.budget_params:
            parts.append(f"{format_size(self.budget_params, exact=True)} params")
        return " and ".join(parts) or "none"

    def schedule_epoch(self, epoch: int) -> float:
        """Where the temperature / entropy schedules stand in ``epoch`` (0-based): at 0 until the
        first architecture epoch (the one after the warm-up) included, then one step per epoch,
        or with ``anneal_over = N`` evenly from 0 at the first architecture epoch to ``N - 1`` at
        the last (a single architecture epoch stands at 0).  Warm-up epochs do not advance the
        schedules: they update no alphas, and a short or long warm-up must not eat the schedule."""
        k = max(0, epoch - self.warmup_epochs)
        if self.anneal_over is None:
            return float(k)
        arch_epochs = self.epochs - self.warmup_epochs
        return k * (self.anneal_over - 1) / (arch_epochs - 1) if arch_epochs > 1 else 0.0


_SHAPE = re.compile(r"^\s*([0-9]+)\s*x\s*([0-9]+)\s*x\s*([0-9]+)\s*$")
_SHAPE_HINT = "write channels x height x width as a genotype's input line does, e.g. "


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``"3x64x64"`` -> ``(3, 64, 64)`` (the text of a genotype's ``input`` line); anything else
    is a :class:`ConfigError`."""
    m = _SHAPE.match(text.lower())
    if m is None:
        raise ConfigError(
            f"cannot read {option('input_shape', repr(text))} as an image shape",
            hint=_SHAPE_HINT + option("input_shape", "3x64x64") + " (RGB) or 1x28x28 (grayscale)",
        )
    c, h, w = (int(g) for g in m.groups())
    return c, h, w


def _check_input_shape(dataset: str, shape: tuple[int, int, int] | None) -> None:
    """An image folder needs a shape of 1 or 3 channels and a size the genotype language allows;
    a built-in data set has its own shape, so none may be given."""
    if dataset != "imagefolder":
        if shape is not None:
            raise ConfigError(
                f"{option('input_shape')} is for {option('dataset', 'imagefolder')}: the "
                f"{dataset} images have a fixed shape",
                hint=f"leave {option('input_shape')} out (the search reads {dataset} at its "
                "own shape)",
            )
        return
    if shape is None:
        raise ConfigError(
            f"{option('dataset', 'imagefolder')} needs {option('input_shape')}: the images of a "
            "folder vary in size, and the search space is built for one",
            hint=f"give the size to read them at, e.g. {option('input_shape', '3x32x32')} (RGB) "
            "or 1x28x28 (grayscale); every image is scaled and center-cropped to it",
        )
    c, h, w = shape
    if c not in (1, 3):
        raise ConfigError(
            f"{option('input_shape', 'x'.join(map(str, shape)))}: an image folder gives 1 "
            f"(grayscale) or 3 (RGB) channels, not {c}",
            hint=_SHAPE_HINT + option("input_shape", f"3x{h}x{w}"),
        )
    if not (1 <= h <= Limits.MAX_INPUT_SIZE and 1 <= w <= Limits.MAX_INPUT_SIZE):
        raise ConfigError(
            f"{option('input_shape', 'x'.join(map(str, shape)))}: height and width must be 1 .. "
            f"{Limits.MAX_INPUT_SIZE}",
            hint=_SHAPE_HINT + option("input_shape", "3x64x64"),
        )


def setting_error(err: ValidationError) -> SettingError:
    """pydantic's error for a :class:`SearchConfig` as a :class:`SettingError` naming the first
    setting at fault (also a ``ValueError``, as pydantic's is)."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    msg = str(first["msg"]).removeprefix("Value error, ")
    error = SettingError(
        f"invalid search setting {where}: {msg}" if where else f"invalid search settings: {msg}",
        hint="see `bars-zoo search --help` and docs/search.md for the allowed values",
    )
    error.validation = err
    return error


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGtT]?)\s*$")
_UNIT = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def parse_size(text: str | float | int) -> float:
    """``"20M"`` -> 2e7, ``"1.5G"`` -> 1.5e9, ``"250k"`` -> 2.5e5, ``"3e6"`` -> 3e6 (decimal units)."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _SIZE.match(text)
        if m is None:
            negative = text.strip().startswith("-")
            raise ConfigError(
                f"a size must be positive, got {text!r}"
                if negative
                else f"cannot read {text!r} as a size (operations or parameters)",
                hint="write a number with an optional k/M/G suffix, e.g. 20M or 1.5G",
            )
        value = float(m.group(1)) * _UNIT[m.group(2).lower()]
    if not math.isfinite(value):
        raise ConfigError(f"the size {text!r} is too large", hint="e.g. 20M or 1.5G")
    if value <= 0:
        raise ConfigError(f"a size must be positive, got {text!r}", hint="e.g. 20M or 480k")
    return value


def format_size(x: float, *, exact: bool = False) -> str:
    """``2e7`` -> ``"20M"``, ``1.5e9`` -> ``"1.5G"`` (four significant digits; ``exact``: as many
    as it takes for :func:`parse_size` to read back ``x`` itself, e.g. ``"224.149k"`` for a
    budget or a search space's floor, which must not read as a neighbouring value)."""
    units = (("G", 1e9), ("M", 1e6), ("k", 1e3))
    unit, div = next(((u, d) for u, d in units if abs(x) >= d), ("", 1.0))
    digits = 4
    while exact and digits < 17 and float(f"{x / div:.{digits}g}") * div != x:
        digits += 1
    return f"{x / div:.{digits}g}{unit}"


__all__ = [
    "MAX_SEARCH_NODES",
    "SearchConfig",
    "format_size",
    "parse_input_shape",
    "parse_size",
    "resolve_channels",
    "setting_error",
]
