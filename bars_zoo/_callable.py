"""Callable modules: ``bars_zoo.search`` and ``bars_zoo.deploy`` are both a package/module and the
function of that name, whatever was imported first (``bars_zoo``'s lazy API binds the module).

:func:`make_callable` gives the module the function's call, signature and docstring, so that
``inspect.signature(bars_zoo.search)``, ``help(bars_zoo.search)`` and IDEs show the function's
parameters and documentation (followed by the module's), not ``(*args, **kwargs)``."""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, func: Callable[..., Any]) -> None:
    """Make the module ``module_name`` call ``func`` and carry its signature and docstring."""
    module = sys.modules[module_name]

    class _CallableModule(types.ModuleType):
        __signature__ = inspect.signature(func)

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

    _CallableModule.__call__.__doc__ = func.__doc__
    module.__class__ = _CallableModule
    own = inspect.cleandoc(module.__doc__ or "")
    call = f"{module_name.rsplit('.', 1)[-1]}{_CallableModule.__signature__}"
    module.__doc__ = f"{call}\n\n{inspect.cleandoc(func.__doc__ or '')}\n\n{own}"


__all__ = ["make_callable"]
