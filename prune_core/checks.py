"""Value checks shared by the settings dataclasses (PruneConfig, FinetuneConfig): one wording for
every bad number, and the seed range every RNG accepts."""
from __future__ import annotations

import math

from .errors import PruneScopeError

MAX_SEED = 2**32 - 1  # seeds are stored as SQLite integers and passed to every RNG


def number(what: str, value) -> float:
    """`value` as a finite float (a bool is refused: JSON true would otherwise pass as 1)."""
    if isinstance(value, bool):
        raise PruneScopeError(f"{what} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise PruneScopeError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise PruneScopeError(f"{what} must be a finite number, got {value!r}")
    return x


def integer(what: str, value, minimum: int) -> int:
    """`value` as a whole number of at least `minimum` (2.0 passes, 2.5 does not)."""
    x = number(what, value)
    if x != int(x) or x < minimum:
        raise PruneScopeError(f"{what} must be a whole number of at least {minimum}, got {value!r}")
    return int(x)


def whole(value) -> bool:
    """An int, not a bool (JSON true would otherwise pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)
