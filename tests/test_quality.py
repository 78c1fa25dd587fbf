"""The Metric on a model card: which way is better, how much worse, tolerances and their wording."""
from __future__ import annotations

from dataclasses import replace

import pytest

from prune_core import quality
from prune_core.errors import PruneScopeError
from prune_core.quality import ACCURACY, PERPLEXITY, Metric, metric_for_task, metric_named
from prune_core.zoo import embedded_cards


def test_within_tolerance_in_each_metric_direction():  # moved from test_paper.py with the code
    assert metric_named("accuracy").within(0.915, 0.925, None)
    assert not metric_named("accuracy").within(0.91, 0.925, None)
    assert metric_named("perplexity").within(10.4, 10.0, None)
    assert not metric_named("perplexity").within(10.6, 10.0, None)
    assert PERPLEXITY.within(10.6, 10.0, 0.1) and not ACCURACY.within(0.80, 0.925, 0.1)  # a given tolerance


def test_damage_and_gain_are_positive_when_worse_and_better():
    assert PERPLEXITY.damage(10.0, 12.5) == 2.5 and PERPLEXITY.damage(10.0, 9.0) == -1.0
    assert ACCURACY.damage(0.9, 0.75) == pytest.approx(0.15) and ACCURACY.damage(0.8, 0.9) < 0
    assert PERPLEXITY.gain(9.0, 10.0) == 1.0 and ACCURACY.gain(0.9, 0.8) == pytest.approx(0.1)
    rows = [{"q": 0.7}, {"q": 0.9}, {"q": 0.8}]
    assert ACCURACY.best_of(rows, key=lambda r: r["q"])["q"] == 0.9
    assert PERPLEXITY.best_of(rows, key=lambda r: r["q"])["q"] == 0.7


def test_wording():
    assert PERPLEXITY.worded == "perplexity (lower is better)" and ACCURACY.worded == "accuracy (higher is better)"
    assert PERPLEXITY.tolerance_text(None) == "5% perplexity" and ACCURACY.tolerance_text(None) == "1 accuracy point"
    assert ACCURACY.tolerance_text(0.025) == "2.5 accuracy points" and PERPLEXITY.best == "lowest"


def test_cards_and_tasks_name_known_metrics():
    assert metric_for_task("causal-lm") is PERPLEXITY and metric_for_task("sequence-classification") is ACCURACY
    for raw in embedded_cards():
        assert metric_named(raw["quality_metric"]) is metric_for_task(raw["task"])
    with pytest.raises(PruneScopeError, match="unknown quality metric 'f1'"):
        metric_named("f1")


def test_a_loaded_card_carries_its_metric(bert, gpt):
    assert bert.card.metric is ACCURACY and gpt.card.metric is PERPLEXITY


def test_a_card_is_scored_by_its_task_and_a_new_task_is_one_registration(bert, monkeypatch):
    monkeypatch.setattr(quality, "TASKS", dict(quality.TASKS))
    monkeypatch.setattr(quality, "METRICS", dict(quality.METRICS))
    with pytest.raises(PruneScopeError, match="no quality metric for task 'token-classification'"):
        metric_for_task("token-classification")
    f1 = quality.register(Metric("f1", "token-classification", lower_is_better=False, relative_tolerance=False,
                                 default_tolerance=0.01, log_scale=False, proportion=False))
    card = replace(bert.card, task="token-classification")
    assert card.metric is f1 and card.quality_metric == "f1" and card.to_dict()["quality_metric"] == "f1"
    assert metric_named("f1") is f1 and bert.card.metric is ACCURACY
    with pytest.raises(ValueError, match="already registered"):
        quality.register(replace(f1, name="f1-again"))
