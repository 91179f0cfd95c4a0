"""Whether a model's weights are trained: the one rule every reader asks.

A model carries one of three states (``model.trained_weights`` reads and sets it, as do
:func:`weights_trained` and :func:`set_trained` for any model, wrapped or not):

* ``True``, trained: :func:`bars_zoo.train` (its ``TrainResult.model``),
  :func:`bars_zoo.training.model_from_checkpoint`, a model folder that records training;
* ``False``, untrained: :func:`bars_zoo.build` (fresh random initial weights are known untrained),
  a model folder that records none (``bars-zoo build -o``, a push with ``--allow-untrained``);
* ``None``, unknown: a ``False`` model whose parameters were changed afterwards (an optimizer
  step of your own training loop, ``load_state_dict``, a layer replaced by hand): those may be
  anything.  The change is seen through the parameters' in-place version counters (what autograd
  uses to catch modified tensors) and their identity; writes through ``param.data`` go unseen.

``reset_classifier`` (and ``load(name, num_classes=N)``) keeps the backbone's state: a fresh
classifier on untrained weights stays untrained, on trained ones it is a backbone to fine-tune.

A model folder records the state in ``config.json`` (``ModelConfig.trained``) when it differs
from what the folder would read as without the record (:func:`config_trained`), so an explicit
``False`` is never overridden by a ``top1``, ``train_command`` or ``hub_repo`` in its config.
Folders without the record (all folders written before it existed) read as before: packed
weights (the form of a finished model) or a config that records training
(:meth:`~bars_zoo.pretrainedcfg.PretrainedCfg.records_weights`) are trained.  The card,
``bars-zoo list``, ``push`` and ``deploy`` all read :func:`folder_trained` /
:func:`weights_trained`.  Torch-free at import.
"""

from __future__ import annotations

from typing import Any, Protocol


class PretrainedCfg(Protocol):
    """What this module reads of :class:`bars_zoo.registry.PretrainedCfg` (a protocol: the
    builder's layer, which imports this module, sits below the registry's)."""

    def records_weights(self) -> bool: ...


class ModelConfig(Protocol):
    """What this module reads of :class:`bars_zoo.registry.ModelConfig`."""

    @property
    def trained(self) -> bool | None: ...
    @property
    def packed(self) -> bool: ...
    @property
    def pretrained_cfg(self) -> PretrainedCfg: ...


#: the model attributes holding the state as set, and its parameters' (identity, version) then
_STATE, _SNAPSHOT = "_trained_weights_state", "_trained_weights_snapshot"


def config_trained(record: bool | None, *, packed: bool, cfg: PretrainedCfg) -> bool:
    """Whether a folder's weights are trained: its explicit ``trained`` ``record`` when it has
    one, else ``packed`` or a ``pretrained_cfg`` that records training (a top-1, training
    command, Hub repo or pretrained backbone)."""
    if record is not None:
        return record
    return packed or cfg.records_weights()


def folder_trained(config: ModelConfig) -> bool:
    """:func:`config_trained` of a folder's ``config.json``."""
    return config_trained(config.trained, packed=config.packed, cfg=config.pretrained_cfg)


def folder_record(model: Any, *, packed: bool, cfg: PretrainedCfg) -> bool | None:
    """The ``trained`` record a folder saved from ``model`` gets: the model's state when it is
    known and differs from what the folder would read as without a record, else ``None``."""
    state = weights_trained(model)
    if state is None or state == config_trained(None, packed=packed, cfg=cfg):
        return None
    return state


def _params(model: Any) -> dict[str, tuple[int, int]]:
    return {n: (id(p), int(getattr(p, "_version", 0))) for n, p in model.named_parameters()}


def set_trained(model: Any, state: bool | None) -> None:
    """Record ``state`` on ``model`` (unwrapped), as of its parameters now."""
    from bars_zoo.builder import unwrap_model

    inner = unwrap_model(model)
    inner.__dict__[_STATE] = state
    inner.__dict__[_SNAPSHOT] = _params(inner) if state is False else None


def weights_trained(model: Any) -> bool | None:
    """``model``'s state: ``True``, ``False`` (its parameters unchanged since it was known
    untrained) or ``None`` (unknown, or changed since).  A model that is no bars-zoo model, or
    never had a state set: ``None``."""
    from torch import nn

    from bars_zoo.builder import unwrap_model

    if not isinstance(model, nn.Module):
        return None
    inner = unwrap_model(model)
    state = inner.__dict__.get(_STATE)
    if state is False and inner.__dict__.get(_SNAPSHOT) != _params(inner):
        return None
    return state if isinstance(state, bool) else None


__all__ = ["config_trained", "folder_record", "folder_trained", "set_trained", "weights_trained"]
