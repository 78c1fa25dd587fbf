"""Registry of pruning methods, by name. Adding a method = one module + `@register`."""
from __future__ import annotations

from ..errors import PruneScopeError

METHODS: dict = {}


def register(cls):
    """Class decorator: instantiate and file the method under `cls.info.name`."""
    METHODS[cls.info.name] = cls()
    return cls


def get_method(name: str):
    if name not in METHODS:
        raise PruneScopeError(f"unknown method '{name}'; available: {', '.join(METHODS)}")
    return METHODS[name]


from . import basic  # noqa: E402,F401  (registers the built-in methods)
from . import sparsegpt, training, wanda  # noqa: E402,F401
