"""Checks of the public API's plain arguments (flags, patterns), shared so that every entry point
answers a slip the same way: a :class:`~bars_zoo.errors.ConfigError` that names the argument and
says what to pass, before any work is done.  Torch-free."""

from __future__ import annotations

from bars_zoo.errors import ConfigError


def check_flag(value: object, name: str, *, allow_none: bool = False) -> bool | None:
    """``value`` when it is a ``bool`` (or ``None`` with ``allow_none``); :class:`ConfigError`
    otherwise: ``"no"``, ``"false"``, ``0`` or ``1`` would be truthy or falsy by accident."""
    if isinstance(value, bool) or (allow_none and value is None):
        return value
    allowed = "True, False or None" if allow_none else "True or False"
    raise ConfigError(
        f"{name} must be {allowed}, got {type(value).__name__} {value!r}",
        hint=f"pass {name}=True or {name}=False (a string such as 'no' would count as true)",
    )


def check_pattern(value: object, name: str = "pattern") -> str:
    """``value`` when it is a ``str`` (a shell-style wildcard pattern); :class:`ConfigError`
    otherwise."""
    if isinstance(value, str):
        return value
    raise ConfigError(
        f"{name} must be a string, got {type(value).__name__} {value!r}",
        hint=f"pass a shell-style pattern, e.g. {name}='bars-*' (or '*' for every name)",
    )


__all__ = ["check_flag", "check_pattern"]
