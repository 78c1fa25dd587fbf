"""A method's own settings, declared on the method as a small frozen dataclass of numbers.

    @dataclass(frozen=True)
    class SparseGPTParams:
        damping: float = param(0.01, label="Damping", help="...", min=0.0001, max=10.0, step=0.001)

    class SparseGPT(CalibratedMethod):
        params = SparseGPTParams

One declaration serves every front end: `PruneConfig.method_params` carries the values (validated here
against the declared types and ranges), the CLI makes an option of each field (`--damping`), the Explore
page a number input, the URL and the recipe a key of the field's name. A field is an `int` or a
`float` with a default; its metadata (`param`) says how to show it.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, Iterator, Mapping, get_type_hints

from ..errors import PruneScopeError

KINDS = (int, float)  # what a parameter can be: a number, so one widget and one option type serve all


def param(default: int | float, *, label: str, help: str, min: float | None = None, max: float | None = None,
          step: float | None = None):
    """A dataclass field with what the front ends show: `label` (a few words), `help` (one sentence),
    the inclusive range `min`..`max` (None: unbounded) and the widget's `step`."""
    return field(default=default, metadata={"label": label, "help": help, "min": min, "max": max, "step": step})


@dataclass(frozen=True)
class NoParams:
    """The declaration of a method without settings of its own."""


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter, read from its dataclass field."""

    name: str
    kind: type  # int or float
    default: int | float
    label: str
    help: str
    min: float | None
    max: float | None
    step: float | None

    @property
    def range_text(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "inf" if self.max is None else f"{self.max:g}"
        return f"{lo} to {hi}"

    def check(self, method: str, value: Any) -> int | float:
        """`value` as this parameter's kind, or a PruneScopeError naming the method, the parameter and the range."""
        wrong = PruneScopeError(f"{method}'s {self.name} must be {'a whole number' if self.kind is int else 'a number'}"
                                f" from {self.range_text}, got {value!r}" + (f" ({self.help})" if self.help else ""))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise wrong
        if self.kind is int and value != int(value):
            raise wrong
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise wrong
        return self.kind(value)


@cache
def specs(params: type) -> tuple[ParamSpec, ...]:
    """The declared parameters of a params dataclass, checked once (a bad declaration is a PruneScopeError
    naming the class: a method module must fail where it is written, not when a user picks it)."""
    where = getattr(params, "__qualname__", repr(params))
    if not (isinstance(params, type) and is_dataclass(params) and params.__dataclass_params__.frozen):
        raise PruneScopeError(f"method parameters {where} must be a frozen dataclass")
    hints = get_type_hints(params)
    out = []
    for f in fields(params):
        meta = f.metadata
        spec = ParamSpec(f.name, hints.get(f.name), f.default, meta.get("label", f.name), meta.get("help", ""),
                         meta.get("min"), meta.get("max"), meta.get("step"))
        if spec.kind not in KINDS:
            raise PruneScopeError(f"parameter {where}.{f.name} must be an int or a float, not {spec.kind!r}")
        if f.default is MISSING:
            raise PruneScopeError(f"parameter {where}.{f.name} needs a default (use `param(default, ...)`)")
        if f.name.startswith("_"):
            raise PruneScopeError(f"parameter {where}.{f.name}: names starting with _ are not settings")
        spec.check(where, f.default)  # the default must lie in the declared range
        out.append(spec)
    return tuple(out)


class ParamValues(Mapping[str, Any]):
    """A read-only, hashable name -> value mapping: a frozen config (and so a cache key) can hold it.
    Made from any mapping; the values are checked by `check_values`, not here."""

    __slots__ = ("_items",)

    def __init__(self, values: Mapping[str, Any] | None = None):
        if values is not None and not isinstance(values, Mapping):
            raise PruneScopeError(f"method parameters must be a mapping of names to values, got {values!r}")
        self._items = tuple(sorted(dict(values or {}).items(), key=lambda kv: str(kv[0])))

    def __getitem__(self, name: str) -> Any:
        for key, value in self._items:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __reduce__(self):  # pickle and deepcopy (Ray, caches, dataclasses.asdict)
        return ParamValues, (dict(self._items),)

    def __repr__(self) -> str:
        return f"ParamValues({dict(self._items)!r})"


def check_values(method: str, params: type, values: Mapping[str, Any]) -> ParamValues:
    """Every declared parameter of `method`, from `values` or its default; an undeclared name is refused."""
    declared = {s.name: s for s in specs(params)}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        own = f"its parameters: {', '.join(declared)}" if declared else "it has no parameters of its own"
        raise PruneScopeError(f"method '{method}' takes no parameter {', '.join(repr(u) for u in unknown)} ({own})")
    return ParamValues({name: s.check(method, values.get(name, s.default)) for name, s in declared.items()})
