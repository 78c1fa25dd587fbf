"""The method catalogue, by pattern: `available(pattern)`, `get_method(name, pattern)`.

Adding a method = one module in this package with a `@register`ed class (see `catalogue.py`): every
module here is imported below, so nothing else names it. Methods from elsewhere (a plugin, a test)
are imported at the same point from the environment variable `PRUNESCOPE_METHODS`, a comma list of
importable module names:

    PRUNESCOPE_METHODS=mylab.pruning.obc,tests.plugins.every_other python -m prune_core methods

A module that fails to import is a PruneScopeError that names it (the CLI prints one line, the pages
an error box). `METHODS` is the catalogue for single weights (unstructured and N:M patterns), by name.
"""
from __future__ import annotations

import os
import pkgutil
from importlib import import_module

from ..errors import PruneScopeError
from .base import MethodInfo, PruningMethod
from .catalogue import available, every, get_method, register
from .params import NoParams, ParamSpec, param, specs

PLUGINS_ENV = "PRUNESCOPE_METHODS"


def _load(module: str, named_by: str) -> None:
    """Import `module` (its `@register` files its methods), or say which module failed and why."""
    try:
        import_module(module)
    except PruneScopeError as exc:
        raise PruneScopeError(f"cannot load the pruning methods of {module}{named_by}: {exc}") from exc
    except Exception as exc:  # any failure of someone's module: name it, say what happened
        raise PruneScopeError(f"cannot load the pruning methods of {module}{named_by}: "
                              f"{type(exc).__name__}: {exc}") from exc


def plugin_modules() -> list[str]:
    """The module names in PRUNESCOPE_METHODS, in order."""
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


for _module in pkgutil.iter_modules(__path__):  # sorted by file name: the order the CLI and pages list
    _load(f"{__name__}.{_module.name}", "")
for _module in plugin_modules():
    _load(_module, f" (named in {PLUGINS_ENV})")

METHODS: dict[str, PruningMethod] = available("unstructured")

__all__ = ["METHODS", "MethodInfo", "NoParams", "ParamSpec", "PruningMethod", "available", "every", "get_method",
           "param", "register", "specs"]
