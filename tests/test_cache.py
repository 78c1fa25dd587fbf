"""The shared byte-bounded cache: single flight, eviction by bytes, per-kind limits, adoption.
Threads are synchronised with events and barriers, not sleeps."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from prune_core.cache import SharedCache, nbytes
from prune_core.errors import PruneScopeError
from prune_core.jobs import JobGate
from prune_core.server import ServerSettings

from conftest import MB, wait_until, start




def tensor_mb(n: int) -> torch.Tensor:
    return torch.zeros(n * MB // 4)


def test_identical_requests_are_computed_once_and_shared():
    cache = SharedCache(100 * MB, JobGate(2, poll=0.01), poll=0.01)
    calls, go = [], threading.Event()

    def compute(progress):
        calls.append(1)
        progress(0.5, "halfway")
        go.wait(20)
        return tensor_mb(1)

    seen, results = [], []
    threads = [start(lambda: results.append(cache.get("k", compute, heavy=True)))]
    wait_until(lambda: calls)
    threads += [start(lambda: results.append(cache.get("k", compute, heavy=True, on_update=seen.append)))
                for _ in range(3)]
    wait_until(lambda: len(seen) >= 3)
    go.set()
    for t in threads:
        t.join(20)
    assert len(calls) == 1 and len(results) == 4 and all(r is results[0] for r in results)
    assert any(s.state == "shared" and "halfway" in s.text for s in seen)


def test_a_waiter_takes_over_when_the_computing_session_leaves():
    cache = SharedCache(100 * MB, JobGate(2, poll=0.01), poll=0.01)
    first_in, calls = threading.Event(), []

    def compute(progress):
        calls.append(1)
        if len(calls) == 1:
            first_in.set()
            wait_until(lambda: waiting[0])
            raise StopException()  # the first session's user moved the slider on
        return "value"

    waiting, out = [False], []

    def owner():
        with pytest.raises(StopException):
            cache.get("k", compute, heavy=True)

    def waiter():
        out.append(cache.get("k", compute, heavy=True, on_update=lambda s: waiting.__setitem__(0, True)))

    threads = [start(owner)]
    first_in.wait(20)
    threads.append(start(waiter))
    for t in threads:
        t.join(20)
    assert out == ["value"] and len(calls) == 2 and "k" in cache


def test_an_error_reaches_every_waiter_and_is_not_cached():
    cache = SharedCache(100 * MB, JobGate(1, poll=0.01), poll=0.01)
    go, errors = threading.Event(), []

    def bad(progress):
        go.wait(20)
        raise PruneScopeError("sparsity must be in [0, 1)")

    def ask():
        try:
            cache.get("bad", bad, heavy=True, on_update=lambda s: None)
        except PruneScopeError as exc:
            errors.append(str(exc))

    threads = [start(ask)]
    wait_until(lambda: cache._flights)
    threads.append(start(ask))
    time.sleep(0.05)
    go.set()
    for t in threads:
        t.join(20)
    assert errors == ["sparsity must be in [0, 1)"] * 2 and "bad" not in cache
    assert cache.get("bad", lambda p: 1) == 1  # the next request computes again


def test_entries_are_evicted_by_bytes_least_recently_used_first():
    cache = SharedCache(int(3.5 * MB))
    for key in "abc":
        cache.get(key, lambda p: tensor_mb(1))
    cache.get("a", lambda p: pytest.fail("a is cached"))  # a is now the most recently used
    kept_b = cache.get("b", lambda p: pytest.fail("b is cached"))
    cache.get("d", lambda p: tensor_mb(1))  # 4 MB > 3.5 MB: the least recently used (c) goes
    usage = cache.usage()
    assert "c" not in cache and all(k in cache for k in "abd")
    assert usage.entries == 3 and 3 * MB <= usage.used <= 3.5 * MB and usage.by_kind == {"result": usage.used}
    del kept_b
    cache.get("big", lambda p: tensor_mb(2))  # needs two of the oldest (a, b) to go
    assert "big" in cache and "d" in cache and cache.usage().used <= 3.5 * MB


def test_a_kind_with_a_limit_evicts_only_its_own_entries():
    """Per-setting results have their own small share: many slider moves push out old results,
    never the models, and the results' bytes stay within their limit (bounded RSS over a lesson)."""
    cache = SharedCache(100 * MB, limits={"result": int(2.5 * MB)})
    cache.get("model", lambda p: tensor_mb(10), kind="model")
    for i in range(6):
        cache.get(("run", i), lambda p: (tensor_mb(1), "delta"))  # tuples: gone once evicted
    usage = cache.usage()
    assert "model" in cache and usage.by_kind["model"] == 10 * MB and 2 * MB <= usage.by_kind["result"] <= 2.5 * MB
    assert [("run", 4) in cache, ("run", 5) in cache, ("run", 3) in cache] == [True, True, False]
    assert cache.get(("run", 6), lambda p: tensor_mb(3)).numel() * 4 == 3 * MB  # over the limit alone:
    assert ("run", 6) not in cache and cache.usage().not_kept == 1  # handed out, not kept


def test_server_settings_give_results_a_small_share_of_the_cache():
    s = ServerSettings.from_env({"PRUNESCOPE_MEMORY_BUDGET": "12G"})
    assert s.results_bytes == s.cache_bytes // 32 and 200 * MB < s.results_bytes < 250 * MB


def test_a_value_larger_than_the_budget_is_returned_but_not_kept():
    cache = SharedCache(2 * MB)
    cache.get("small", lambda p: tensor_mb(1))
    big = cache.get("big", lambda p: tensor_mb(3))
    assert big.numel() * 4 == 3 * MB and "big" not in cache and "small" in cache
    assert cache.usage().not_kept == 1


def test_an_evicted_value_still_in_use_is_adopted_not_recomputed():
    cache = SharedCache(int(1.5 * MB))
    model = cache.get("model", lambda p: torch.nn.Linear(512, 512), kind="model")  # ~1 MB
    cache.get("other", lambda p: tensor_mb(1))  # evicts the model, which a session still holds
    assert "model" not in cache
    again = cache.get("model", lambda p: pytest.fail("recomputed a model that is still in memory"))
    assert again is model


def test_a_slot_holder_never_waits_for_a_job_stuck_in_line_behind_it():
    """Limit 1: A holds the slot and needs X; B started computing X first but waits in line for
    A's slot. Waiting for B would deadlock; A computes X itself and B then finds it cached."""
    gate = JobGate(1, poll=0.01)
    cache = SharedCache(100 * MB, gate, poll=0.01)
    a_has_slot, calls, out = threading.Event(), [], {}

    def a():
        with gate.slot():
            a_has_slot.set()
            wait_until(lambda: gate.status().waiting == 1)  # B is in line
            out["a"] = cache.get("x", lambda p: calls.append("a") or "x", heavy=True)

    def b():
        out["b"] = cache.get("x", lambda p: calls.append("b") or "x", heavy=True)

    threads = [start(a)]
    a_has_slot.wait(20)
    threads.append(start(b))
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    assert out == {"a": "x", "b": "x"} and calls == ["a"]


def test_nbytes_counts_shared_storage_once():
    w = tensor_mb(2)
    assert 2 * MB <= nbytes({"a": w, "b": w[: 10], "c": [w]}) < 2 * MB + 4096
    assert nbytes(torch.nn.Linear(256, 256)) == (256 * 256 + 256) * 4


def test_nbytes_sizes_frames_figures_and_plain_objects_by_what_they_hold():
    """What the pages cache: tables with text (deep), arrays inside result objects, and any object by its
    attributes (a plotly figure holds its arrays in plain objects; a shallow size would say 56 bytes)."""
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    words = pd.DataFrame({"sentence": [f"held-out sentence number {i}" for i in range(10_000)], "x": np.zeros(10_000)})
    assert nbytes(words) == int(words.memory_usage(deep=True).sum()) > 10_000 * 30
    assert nbytes(words["sentence"]) == int(words["sentence"].memory_usage(deep=True)) > 10_000 * 30

    class Plain:
        def __init__(self):
            self.weights, self.rows = torch.zeros(MB // 4), [f"row {i}" for i in range(1000)]
    assert MB + 1000 * 50 < nbytes(Plain()) < MB + 1000 * 200
    fig = go.Figure(go.Scatter(x=np.arange(100_000.0), y=np.arange(100_000.0)))
    assert 1_600_000 < nbytes(fig) < 3 * MB  # two float64 arrays of 800 kB, and plotly's own objects
    objects = np.array([f"label {i}" for i in range(1000)], dtype=object)
    assert nbytes(objects) > 1000 * 50  # the strings, not only their pointers
    assert nbytes(Plain) == 0 and nbytes(np) == 0  # classes and modules belong to the program


# ---- pruned deltas instead of pruned copies -----------------------------------------------------
