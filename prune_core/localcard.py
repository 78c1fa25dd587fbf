"""A model folder's own card.json: untrusted input, read like a reproducibility card.

A local card sets what is shown (name, source, licence, notes) and how much held-out data every
evaluation of the model uses, so each field must have its type and stay within bounds: a name of
megabytes, or an evaluation of millions of tokens, would reach every page that shows or scores the
model. What the card cannot vouch for is ignored (the task and parameter count come from the weights,
the dense quality is measured). Evaluation windows must also fit the model's positions.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from .configfile import read_json
from .errors import PruneScopeError

MAX_CARD_BYTES = 64 * 1024
TEXTS = {"name": 200, "source": 2000, "licence": 500, "how_made": 2000, "notes": 4000, "caveat": 1000}
IGNORED = {"task": 50, "quality_metric": 50}  # measured or derived from the weights, whatever the card says
NUMBERS = ("params", "quality_dense")  # likewise ignored, but must be numbers (or null) when given
MAX_EVAL_TOKENS = 65_536  # held-out tokens per perplexity (the shipped models use 2048 to 8192)
MAX_EVAL_EXAMPLES = 10_000  # held-out examples per accuracy (1300 exist)
MAX_WINDOW = 4096  # tokens per window or example
# evaluation sizes per task: name -> (default, lowest, highest); a window also within the model's positions
EVAL = {"causal-lm": {"seq_len": (256, 2, MAX_WINDOW), "max_tokens": (2048, 2, MAX_EVAL_TOKENS)},
        "sequence-classification": {"n_examples": (1000, 1, MAX_EVAL_EXAMPLES), "max_length": (64, 2, MAX_WINDOW)}}
WINDOWS = {"seq_len", "max_length"}


def _where(path: Path) -> str:
    return f"card.json in '{path}'"


def _text(value: object, field: str, limit: int, where: str) -> str:
    if not isinstance(value, str):
        raise PruneScopeError(f"{where}: '{field}' must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise PruneScopeError(f"{where}: '{field}' is {len(value):,} characters long; at most {limit:,}")
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise PruneScopeError(f"{where}: '{field}' holds control characters")
    if field == "name" and (not value.strip() or "\n" in value):
        raise PruneScopeError(f"{where}: 'name' must be one line of text, not blank")
    return value


def _one_of(value: object, field: str, choices: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise PruneScopeError(f"{where}: evaluation setting '{field}' must be one of: {', '.join(choices)}")
    return value


def _whole(value: object, field: str, low: int, high: int, where: str, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PruneScopeError(f"{where}: evaluation setting '{field}' must be a whole number from {low:,} to "
                              f"{high:,}{why}, got {repr(value)[:40]}")
    return value


def default_eval(task: str, positions: int | None) -> dict:
    """The evaluation of a model without a card: the usual sizes, windows cut to the model's positions."""
    return {k: min(d, positions) if k in WINDOWS and positions else d for k, (d, _, _) in EVAL[task].items()}


def _eval_checks(task: str, positions: int | None, where: str) -> dict[str, Callable[[object], object]]:
    """Each evaluation setting a card may hold for `task`, and how its value is checked."""
    checks: dict[str, Callable[[object], object]] = {
        "split": lambda v: _one_of(v, "split", ("valid",), where),  # the only held-out split
        "data": lambda v: _text(v, "data", 500, where),  # where the held-out text lives: shown, not used
        "batch_size": lambda v: _whole(v, "batch_size", 1, 1024, where),  # written by PruneScope's cards, unused
    }
    for name, (_, low, high) in EVAL[task].items():
        why = ""
        if name in WINDOWS and positions and positions < high:  # longer would index past the position table
            high, why = positions, f" (this model has {positions:,} positions)"
        checks[name] = functools.partial(_whole, field=name, low=low, high=high, where=where, why=why)
    return checks


def read_eval(raw: object, task: str, positions: int | None, where: str) -> dict:
    """A card's evaluation settings for `task`, checked and completed with the defaults."""
    if not isinstance(raw, dict):
        raise PruneScopeError(f"{where}: 'eval' must be an object, got {type(raw).__name__}")
    checks = _eval_checks(task, positions, where)
    unknown = sorted(set(raw) - set(checks))
    if unknown:
        raise PruneScopeError(f"{where}: unknown evaluation settings for a {task} model: "
                              f"{', '.join(map(str, unknown))[:300]}; known: {', '.join(EVAL[task])}")
    return default_eval(task, positions) | {name: checks[name](value) for name, value in raw.items()}


def read_local_card(path: Path, task: str, positions: int | None) -> dict:
    """The folder's card.json (if any) as checked fields: texts, and `eval` for `task` within `positions`."""
    file, where = path / "card.json", _where(path)
    if not file.is_file():
        return {"eval": default_eval(task, positions)}
    raw = read_json(file, where, MAX_CARD_BYTES)
    if not isinstance(raw, dict):
        raise PruneScopeError(f"{where} is not a model card: a JSON object is expected, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(TEXTS) - set(IGNORED) - set(NUMBERS) - {"eval"})
    if unknown:
        raise PruneScopeError(f"{where} is not a PruneScope model card: unknown fields "
                              f"{', '.join(map(str, unknown))[:300]}; known: {', '.join([*TEXTS, 'eval'])}")
    card = {field: _text(raw[field], field, limit, where) for field, limit in TEXTS.items() if field in raw}
    for field, limit in IGNORED.items():
        if field in raw:
            _text(raw[field], field, limit, where)
    for field in NUMBERS:
        if raw.get(field) is not None and (isinstance(raw[field], bool) or not isinstance(raw[field], (int, float))):
            raise PruneScopeError(f"{where}: '{field}' must be a number or null, got {type(raw[field]).__name__}")
    card["eval"] = read_eval(raw.get("eval", {}), task, positions, where)
    return card
