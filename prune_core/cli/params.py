"""The methods' own parameters on the command line: one option per declared name (`--damping`), made
from the catalogue, so a new method's parameters need no edit here. An option is refused (exit 2) for a
method that does not declare it."""
from __future__ import annotations

import argparse
from dataclasses import replace

from ..config import PruneConfig
from ..errors import PruneScopeError
from ..methods import ParamSpec, every, get_method, specs

DEST = "method_param__"  # argparse dest prefix: keeps these apart from the command's own options


def declared() -> dict[str, list[tuple[str, ParamSpec]]]:
    """Parameter name -> (method, its declaration) for every method that declares it."""
    out: dict[str, list[tuple[str, ParamSpec]]] = {}
    for method in every():
        for spec in specs(method.params):
            out.setdefault(spec.name, []).append((method.info.name, spec))
    return out


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_param_flags(p: argparse.ArgumentParser) -> None:
    """One option per declared parameter, its help from the declaration (who declares it, default, range)."""
    for name, owners in declared().items():
        kind = int if all(s.kind is int for _, s in owners) else float
        where = "; ".join(f"{m}: default {s.default:g}, {s.range_text}" for m, s in owners)
        text = f"{owners[0][1].help} ({where})".replace("%", "%%")
        try:
            p.add_argument(flag(name), dest=DEST + name, type=kind, metavar=kind.__name__.upper(), help=text)
        except argparse.ArgumentError:
            raise PruneScopeError(f"the parameter '{name}' of {', '.join(m for m, _ in owners)} clashes with the "
                                  f"option {flag(name)} of `{p.prog}`; rename the parameter") from None


def given_params(args: argparse.Namespace) -> dict[str, int | float]:
    """The parameter options the user gave, by parameter name."""
    return {k[len(DEST):]: v for k, v in vars(args).items() if k.startswith(DEST) and v is not None}


def _names(method: str, pattern: str) -> set[str]:
    return {s.name for s in specs(get_method(method, pattern).params)}


def _refuse(name: str, why: str) -> PruneScopeError:
    owners = ", ".join(m for m, _ in declared()[name])
    return PruneScopeError(f"{flag(name)} is a parameter of {owners}; {why}")


def with_params(config: PruneConfig, params: dict[str, int | float]) -> PruneConfig:
    """`config` with the options' parameters, each one its method must declare. Parameters it had (from a
    recipe) that its method does not declare go: --method replaced the method they were for."""
    names = _names(config.method, config.pattern)
    for name in params:
        if name not in names:
            raise _refuse(name, f"method '{config.method}' does not take it")
    kept = {k: v for k, v in config.method_params.items() if k in names}
    return replace(config, method_params=kept | params)


def per_method(methods: list[str], pattern: str, params: dict[str, int | float]) -> dict[str, dict]:
    """A sweep's parameters by method: each method gets those it declares; one no method declares is refused."""
    names = {m: _names(m, pattern) for m in methods}
    for name in params:
        if not any(name in n for n in names.values()):
            raise _refuse(name, f"none of the methods swept ({', '.join(methods)}) takes it")
    return {m: {k: v for k, v in params.items() if k in names[m]} for m in methods}
