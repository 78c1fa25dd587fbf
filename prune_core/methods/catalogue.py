"""The method catalogue: every way of choosing what to remove, for every pattern, in one place.

A method says which granularities it can choose (`MethodInfo.granularities`): single weights
('unstructured', 'N:M') or whole units ('neuron', 'head'). `available(pattern)` and `get_method(name,
pattern)` answer from that, so callers ask the catalogue instead of branching on the kind of pattern.
The same name may mean different methods at different granularities ('magnitude' of a weight, of a unit).
"""
from __future__ import annotations

from ..errors import PruneScopeError
from ..patterns import Pattern, parse_pattern
from .base import PruningMethod
from .params import specs

_CATALOGUE: list[PruningMethod] = []  # in registration order: the order the CLI and the pages list them


def register(cls):
    """Class decorator: instantiate `cls` and file it in the catalogue."""
    add(cls())
    return cls


def add(method: PruningMethod) -> PruningMethod:
    """File a method instance (one built from data, e.g. a unit importance) in the catalogue.

    Its parameter declaration is checked here, so a bad one fails when its module loads. A second method
    of the same name at the same granularity is refused, unless it is the same class loaded again (a
    module re-imported after an edit), which replaces the first."""
    specs(method.params)
    for i, old in enumerate(_CATALOGUE):
        if old.info.name != method.info.name or not set(old.info.granularities) & set(method.info.granularities):
            continue
        if _origin(old) != _origin(method):
            raise PruneScopeError(f"two methods are called '{method.info.name}': {_origin(old)} and "
                                  f"{_origin(method)}; rename one")
        _CATALOGUE[i] = method
        return method
    _CATALOGUE.append(method)
    return method


def _origin(method: PruningMethod) -> str:
    return f"{type(method).__module__}.{type(method).__qualname__}"


def every() -> list[PruningMethod]:
    """Every method of every granularity, in registration order."""
    return list(_CATALOGUE)


def available(pattern: str | Pattern = "unstructured") -> dict[str, PruningMethod]:
    """The methods that can prune with `pattern`, by name."""
    granularity = (pattern if isinstance(pattern, Pattern) else parse_pattern(pattern)).granularity
    return {m.info.name: m for m in _CATALOGUE if granularity in m.info.granularities}


def get_method(name: str, pattern: str | Pattern = "unstructured") -> PruningMethod:
    """The method called `name` for `pattern`; a clear error naming the choices when there is none."""
    parsed = pattern if isinstance(pattern, Pattern) else parse_pattern(pattern)
    usable = available(parsed)
    if name in usable:
        return usable[name]
    if parsed.unit is None:
        raise PruneScopeError(f"unknown method '{name}'; available: {', '.join(usable)}")
    raise PruneScopeError(f"pattern '{parsed.name}' removes whole units; its methods (unit importance) are: "
                          f"{', '.join(usable)}")
