"""The held-out quality metric a model is scored by, and which way is better.

Why one value: charts (log axis, Pareto side), pages (delta colours), sensitivity (damage),
challenges (ranking), the paper's claims (tolerance) and the benches all ask "is lower better?" and
"how much worse?". Asking the model card's `Metric` keeps those answers in one place. A model is
scored by its task's metric (`TASKS`); a stored result names its metric (`METRICS`). A new task is one
`register` call here (plus the evaluation that measures it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from .errors import PruneScopeError

T = TypeVar("T")


@dataclass(frozen=True)
class Metric:
    name: str
    task: str  # the task whose models it scores ("causal-lm" | "sequence-classification")
    lower_is_better: bool
    relative_tolerance: bool  # a tolerance is a fraction of dense (True) or absolute, in points (False)
    default_tolerance: float  # what "about as good as dense" allows when the user gives no tolerance
    log_scale: bool  # values span orders of magnitude: charts draw it on a log axis
    proportion: bool  # a share of examples, so its evaluation noise is binomial

    @property
    def better(self) -> str:
        """'lower' or 'higher': the direction that is better."""
        return "lower" if self.lower_is_better else "higher"

    @property
    def best(self) -> str:
        """'lowest' or 'highest', for sentences like "the lowest held-out perplexity"."""
        return "lowest" if self.lower_is_better else "highest"

    @property
    def worded(self) -> str:
        """E.g. 'perplexity (lower is better)': an axis title or a caption."""
        return f"{self.name} ({self.better} is better)"

    def damage(self, dense: float, pruned: float) -> float:
        """How much worse than dense, as a positive number (perplexity up, accuracy down)."""
        return pruned - dense if self.lower_is_better else dense - pruned

    def gain(self, quality: float, reference: float) -> float:
        """How much better than `reference` (positive = better), in the metric's natural direction."""
        return reference - quality if self.lower_is_better else quality - reference

    def within(self, quality: float, dense: float, tolerance: float | None = None) -> bool:
        """At most `tolerance` worse than dense (default `default_tolerance`), relative or absolute."""
        tol = tolerance or self.default_tolerance
        if self.lower_is_better:
            return quality <= (dense * (1 + tol) if self.relative_tolerance else dense + tol)
        return quality >= (dense * (1 - tol) if self.relative_tolerance else dense - tol)

    def tolerance_text(self, tolerance: float | None = None) -> str:
        """The tolerance in words: '5% perplexity' or '1 accuracy point'."""
        tol = tolerance or self.default_tolerance
        if self.relative_tolerance:
            return f"{tol:.0%} {self.name}"
        points = tol * 100
        return f"{points:.3g} {self.name} point" + ("" if points == 1 else "s")

    def best_of(self, items: Iterable[T], key: Callable[[T], float]) -> T:
        """The item whose `key` is best (min or max)."""
        return (min if self.lower_is_better else max)(items, key=key)


TASKS: dict[str, Metric] = {}  # task -> the metric its models are scored by
METRICS: dict[str, Metric] = {}  # name -> metric: what a stored result's `quality_metric` refers to


def register(metric: Metric) -> Metric:
    """Score the models of `metric.task` by `metric`, and let results name it."""
    if metric.task in TASKS or metric.name in METRICS:
        raise ValueError(f"a metric for task '{metric.task}' or named '{metric.name}' is already registered")
    TASKS[metric.task] = METRICS[metric.name] = metric
    return metric


PERPLEXITY = register(Metric("perplexity", "causal-lm", lower_is_better=True, relative_tolerance=True,
                             default_tolerance=0.05, log_scale=True, proportion=False))
ACCURACY = register(Metric("accuracy", "sequence-classification", lower_is_better=False, relative_tolerance=False,
                           default_tolerance=0.01, log_scale=False, proportion=True))


def metric_named(name: str) -> Metric:
    """The metric a result's `quality_metric` names."""
    try:
        return METRICS[name]
    except KeyError:
        raise PruneScopeError(f"unknown quality metric '{name}'; known: {', '.join(METRICS)}") from None


def metric_for_task(task: str) -> Metric:
    """What a model of `task` is scored by: perplexity for language models, accuracy for classifiers."""
    try:
        return TASKS[task]
    except KeyError:
        raise PruneScopeError(f"no quality metric for task '{task}'; known tasks: {', '.join(TASKS)}") from None
