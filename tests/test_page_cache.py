"""Speed and Layers keep their results in the server's one shared cache: sized in bytes, keyed by model
and settings, computed once however many sessions ask the same thing (counted by the cache itself)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages.ui import caches
from prune_core.speed import pruned_pair

MODEL = "tiny-sentiment-bert"
PAGES = {  # page -> (widget state, what rendering it leaves in the cache: the first part of each key)
    "speed": ({}, {"variants", "tradeoff", "batch_sweep", "csr_break_even", "quality", "summary"}),
    # the sensitivity analysis has always been in the shared cache (tests/test_pages.py renders it)
    "layers": ({"layers_run": False}, {"summary", "owl", "disagreement", "input_norms"}),
}


def _session(page: str, state: dict) -> AppTest:
    """A new browser session on `page` (a slow shared CI machine gets a generous time limit)."""
    at = AppTest.from_string(f"from pages.ui.picker import model_picker\nfrom pages import {page}\n"
                             f"model_picker()\n{page}.page()", default_timeout=900)
    at.session_state["model_choice"] = MODEL
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception and not at.error, at.exception or at.error
    return at


def _results() -> dict[tuple, int]:
    """Bytes of each per-setting result of MODEL in the shared cache, by key."""
    return {k: n for k, n in caches.shared_cache().sizes("result").items() if k[1] == MODEL}


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


def test_speed_variants_share_masks_and_quality_with_the_trade_off_and_explore():
    """The variants at 50 % take their masks from the cheap phase's summaries (Explore's key), the dense
    quality from the dense baseline (Explore's cards) and their pruned quality figures from the entries
    the trade-off computes at 50 %: one entry per figure, none of the variants' own."""
    _session("speed", {})
    keys = _results().keys()
    assert ("baseline", MODEL, False, "full") in caches.shared_cache()
    for config in pruned_pair(0.5):
        assert ("summary", MODEL, config.validated()) in keys and ("quality", MODEL, config.validated(), "full") in keys
    trade_off = {("quality", MODEL, c.validated(), "full") for s in (0.25, 0.5, 0.75) for c in pruned_pair(s)}
    assert {k for k in keys if k[0] == "quality"} == trade_off
