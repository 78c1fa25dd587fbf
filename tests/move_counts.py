"""What one Explore slider move computes, counted: wrappers around the real functions (the work still
runs), installed in every module that bound them, for tests/test_move_counts.py and bench/call_counts.py.

A move is what the page chains: the controls, the setting validated, the cheap phase (counts), the
measurement job (quality, latency, file size, outputs) and the cards and charts that read its result.
"""
from __future__ import annotations

import contextlib
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

import pytest


@dataclass(frozen=True)
class Counted:
    label: str
    owner: object  # the module (or class) that defines the function
    name: str
    when: Callable[..., bool] | None = None  # counts only the calls this says yes to


def counted() -> list[Counted]:
    """The computations a move should make at most once."""
    from prune_core import config, faster, patterns, run, summary
    from prune_core.methods import catalogue

    return [
        Counted("validations", config.PruneConfig, "_resolve"),
        Counted("pattern parses", patterns, "parse_pattern"),
        Counted("method look-ups (get_method)", catalogue, "get_method"),
        Counted("method lists (available)", catalogue, "available"),
        Counted("faster.ask", faster, "ask"),
        Counted("faster.answer_for", faster, "answer_for"),
        Counted("eval_settings", run, "eval_settings"),
        Counted("dense evaluations", run, "quality_estimate", lambda loaded, model, *a, **k: model is loaded.model),
        Counted("cheap phases (summarize)", summary, "summarize"),
        Counted("measurements (run.run)", run, "run"),
    ]


def _bound_in(real) -> list[object]:
    """Every loaded PruneScope module whose global `real.__name__` is `real` (imported by name)."""
    prefixes = ("prune_core", "pages")
    return [m for name, m in list(sys.modules.items())
            if name.startswith(prefixes) and getattr(m, real.__name__, None) is real]


@contextlib.contextmanager
def counting() -> Iterator[Counter]:
    """Count the calls of every `counted()` function (any thread) while the block runs."""
    counts: Counter = Counter()
    lock = threading.Lock()
    with pytest.MonkeyPatch.context() as patch:
        for c in counted():
            real = getattr(c.owner, c.name)

            def wrapper(*args, _real=real, _c=c, **kwargs):
                if _c.when is None or _c.when(*args, **kwargs):
                    with lock:
                        counts[_c.label] += 1
                return _real(*args, **kwargs)
            owners = [c.owner] if isinstance(c.owner, type) else _bound_in(real)
            for owner in owners:
                patch.setattr(owner, c.name, wrapper)
        yield counts
    for c in counted():
        counts.setdefault(c.label, 0)


def explore(model: str = "tiny-shakespeare-gpt", **state):
    """The Explore page rendered once (`state`: session values set before it runs), its model's
    background warm-up finished, so that what follows counts moves, not the start."""
    from streamlit.testing.v1 import AppTest

    from pages.ui.caches import warm_model

    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import explore\n"
                             "model_picker()\nexplore.page()", default_timeout=300)
    at.session_state["model_choice"] = model
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    warm_model(model).join()
    return at


MOVES: dict[str, Callable] = {  # name -> the widget change of one move (AppTest), in this order
    "sparsity 50 -> 70 %": lambda at: at.slider(key="sparsity").set_value(70),
    "global allocation": lambda at: at.radio(key="allocation").set_value("global"),
    "pattern 2:4": lambda at: at.selectbox(key="pattern").set_value("2:4"),
    "pattern neuron": lambda at: at.selectbox(key="pattern").set_value("neuron"),
}


def move(at, change: Callable) -> Counter:
    """The calls one move makes (the page run with `change` applied)."""
    with counting() as counts:
        change(at).run()
    assert not at.exception, at.exception
    return counts
