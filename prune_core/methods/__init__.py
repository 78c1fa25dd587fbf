"""The method catalogue, by pattern: `available(pattern)`, `get_method(name, pattern)`.

Adding a method = one module + `@register` (see `catalogue.py`). `METHODS` is the catalogue for
single weights (unstructured and N:M patterns), by name.
"""
from __future__ import annotations

from . import basic, sparsegpt, training, units, wanda  # noqa: F401  (each files its methods in the catalogue)
from .base import MethodInfo, PruningMethod
from .catalogue import available, get_method, register

METHODS: dict[str, PruningMethod] = available("unstructured")

__all__ = ["METHODS", "MethodInfo", "PruningMethod", "available", "get_method", "register"]
