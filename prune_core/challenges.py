"""Challenges: a goal a pruned model must meet and a score to rank the models that meet it.

A class works on one goal ("at least 4x smaller in bitmask format") and competes on held-out
quality. Goals are checked on the measured `PruneResult`, never on what a student says, so an entry
on a scoreboard is what the server measured for those settings (its link reproduces it).
Scoreboards are per challenge and per model: perplexities of two language models are not
comparable (different tokenizers), nor are accuracies of two classifiers trained differently.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from .errors import PruneScopeError
from .patterns import parse_pattern
from .quality import metric_for_task
from .run import PruneResult

NAME_MAX = 40  # characters of a name on a scoreboard


class Requirement(Protocol):
    def unmet(self, result: PruneResult) -> str | None:
        """None when `result` meets it, else what is missing, in words."""


@dataclass(frozen=True)
class Shrink:
    """The pruned model in `representation` is at least `factor` times smaller than dense fp32."""

    representation: str  # a SizeReport field: dense_fp32, csr, bitmask, nm_2_4
    factor: float

    def unmet(self, result: PruneResult) -> str | None:
        size = getattr(result.size_pruned, self.representation)
        if size is None:
            return f"the {self.representation} format does not apply to these settings"
        got = result.size_dense.dense_fp32 / size
        return None if got >= self.factor else (f"{got:.2f}x smaller in {self.representation} than dense fp32; "
                                                f"needs {self.factor:g}x")


@dataclass(frozen=True)
class MinSparsity:
    """At least `fraction` of the weights in scope removed, with the scope covering every block."""

    fraction: float
    scope: str = "all"

    def unmet(self, result: PruneResult) -> str | None:
        if result.scope != self.scope:
            return f"scope is {result.scope}; the goal counts the weights of scope '{self.scope}'"
        if result.sparsity_actual < self.fraction - 5e-4:  # per-layer rounding: 79.98 % of an 80 % run is 80 %
            return f"{result.sparsity_actual:.1%} of the weights removed; needs at least {self.fraction:.0%}"
        return None


@dataclass(frozen=True)
class PatternIs:
    """The pattern is one of `patterns` ('unit' stands for neuron and head)."""

    patterns: tuple[str, ...]

    def unmet(self, result: PruneResult) -> str | None:
        ok = result.pattern in self.patterns or ("unit" in self.patterns and parse_pattern(result.pattern).structural)
        return None if ok else f"pattern is {result.pattern}; needs {' or '.join(self.patterns)}"


@dataclass(frozen=True)
class Challenge:
    """A goal (every requirement met) and a score (held-out quality of the task's metric)."""

    key: str
    task: str  # "causal-lm" | "sequence-classification"
    title: str
    goal: str  # the whole challenge in one sentence
    requirements: tuple[Requirement, ...]

    @property
    def metric(self) -> str:
        return metric_for_task(self.task).name

    @property
    def lower_is_better(self) -> bool:
        return metric_for_task(self.task).lower_is_better

    def unmet(self, result: PruneResult) -> list[str]:
        """What `result` still misses (empty: it qualifies). A result of another task misses everything."""
        if result.quality_metric != self.metric:
            return [f"this challenge is for models scored by {self.metric}, not {result.quality_metric}"]
        return [why for r in self.requirements if (why := r.unmet(result)) is not None]

    def score(self, result: PruneResult) -> float:
        """The held-out quality; raises when the goal is not met (an unmet entry has no score)."""
        missing = self.unmet(result)
        if missing:
            raise PruneScopeError(f"these settings do not meet '{self.title}': {'; '.join(missing)}")
        return float(result.quality)

    def rank(self, entries: pd.DataFrame) -> pd.DataFrame:
        """Entries (store.entries) best first; a tie goes to the earlier entry. Adds a 1-based `rank`."""
        if entries.empty:
            return entries.assign(rank=pd.Series(dtype=int))
        ranked = entries.sort_values(["score", "id"], ascending=[self.lower_is_better, True], kind="stable")
        return ranked.assign(rank=range(1, len(ranked) + 1)).reset_index(drop=True)


def _three(task: str, size_goal: Challenge) -> list[Challenge]:
    metric = metric_for_task(task)
    best = f"{metric.best} held-out {metric.name}"
    prefix = "lm" if task == "causal-lm" else "clf"
    return [size_goal,
            Challenge(f"{prefix}-2of4", task, "2:4 for sparse tensor cores",
                      f"Prune to the 2:4 pattern (what NVIDIA GPUs run 2x faster); {best}.", (PatternIs(("2:4",)),)),
            Challenge(f"{prefix}-half-units", task, "Half the units gone",
                      f"Remove at least half of the MLP neurons or of the attention heads (a genuinely smaller "
                      f"model); {best}.", (PatternIs(("unit",)), MinSparsity(0.5)))]


CHALLENGES: dict[str, Challenge] = {c.key: c for c in [
    *_three("causal-lm",
            Challenge("lm-bitmask-4x", "causal-lm", "4x smaller",
                      "At least 4x smaller than dense fp32 when stored in bitmask format; lowest held-out "
                      "perplexity.", (Shrink("bitmask", 4.0),))),
    *_three("sequence-classification",
            Challenge("clf-sparse-80", "sequence-classification", "80 % of the block weights gone",
                      "Remove at least 80 % of the weights of the Transformer blocks (scope 'all'); highest "
                      "held-out accuracy.", (MinSparsity(0.8),))),
]}


def for_task(task: str) -> list[Challenge]:
    """The built-in challenges of one task type, in display order."""
    return [c for c in CHALLENGES.values() if c.task == task]


def get_challenge(key: str) -> Challenge:
    if key not in CHALLENGES:
        raise PruneScopeError(f"unknown challenge '{key}'; choose one of {', '.join(CHALLENGES)}")
    return CHALLENGES[key]


def check_name(name: str) -> str:
    """A student's name for a scoreboard: stripped, 1 to NAME_MAX printable characters."""
    name = " ".join(name.split())
    if not name:
        raise PruneScopeError("type a name for the scoreboard")
    if len(name) > NAME_MAX or not name.isprintable():
        raise PruneScopeError(f"a scoreboard name has at most {NAME_MAX} printable characters")
    return name
