"""Speed and Layers keep their results in the server's one shared cache: sized in bytes, keyed by model
and settings, computed once however many sessions ask the same thing (counted by the cache itself)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import render_page
from pages.ui import caches
from prune_core.run import LatencySpec
from prune_core.speed import pruned_pair

MODEL = "tiny-sentiment-bert"
PAGES = {  # page -> (widget state, what rendering it leaves in the cache: the first part of each key)
    "speed": ({}, {"variants", "tradeoff", "batch_sweep", "csr_break_even", "quality", "summary"}),
    # the sensitivity analysis has always been in the shared cache (tests/test_pages.py renders it)
    "layers": ({"layers_run": False}, {"summary", "owl", "disagreement", "input_norms"}),
}


def _session(page: str, state: dict) -> AppTest:
    """A new browser session on `page` (a slow shared CI machine gets a generous time limit)."""
    at = render_page(page, MODEL, state, timeout=900)
    assert not at.error, at.error
    return at


def _results() -> dict[tuple, int]:
    """Bytes of each result of MODEL in the shared cache (per-setting results and measurements), by key."""
    cache = caches.shared_cache()
    return {k: n for kind in ("result", caches.MEASUREMENT) for k, n in cache.sizes(kind).items() if k[1] == MODEL}


@pytest.mark.parametrize("page", list(PAGES))
def test_page_results_are_sized_entries_computed_once_for_every_session(page):
    state, expected = PAGES[page]
    cache = caches.shared_cache()
    _session(page, state)
    first = _results()
    kinds = {k[0] for k in first}
    assert expected <= kinds, f"missing from the shared cache: {expected - kinds}"
    assert all(n > 0 for n in first.values()), first
    computed = cache.usage().computed
    _session(page, state)  # another session asks the same thing
    assert cache.usage().computed == computed, "the second session computed again"
    assert _results().keys() == first.keys()


def test_speed_variants_reuse_explores_entries_and_the_trade_off_reuses_theirs():
    """At a sparsity no other test uses, the variants take their masks from the cheap phase's summaries and
    the dense quality from the dense baseline, and the CSR break-even is the one Explore quotes (Explore
    asking for them computes nothing); their pruned quality figures are where the trade-off finds them
    (it computes only its own timing)."""
    _session("speed", {"speed_sparsity": 35, "speed_tradeoff": False, "speed_sweep": False})
    cache = caches.shared_cache()
    computed = cache.usage().computed
    masked, shrunk = pruned_pair(0.35)
    caches.cached_summary(MODEL, masked)  # Explore's cheap phase at this setting
    caches.cached_summary(MODEL, shrunk)
    caches.cached_dense_quality(MODEL, "full")  # Explore's predict gate and measurement (full evaluation)
    caches.csr_break_even(MODEL, 64)  # "could anything run this faster?" at Explore's default batch (1 x 64 tokens)
    assert cache.usage().computed == computed
    assert {k for k in _results() if k[0] == "quality" and k[2].sparsity == 0.35} == {
        ("quality", MODEL, masked.validated(), "full"), ("quality", MODEL, shrunk.validated(), "full")}
    caches.cached_tradeoff(MODEL, (0.35,), LatencySpec(seq_len=16, reps=3, threads=2))
    assert cache.usage().computed == computed + 1  # the trade-off's timing; its masks and quality were there
