"""Ordering of a slider move: the cheap figures never wait for the evaluation."""
import threading

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from prune_core import charts, tables
from prune_core import run as run_module
from prune_core.config import PruneConfig
from prune_core.run import LatencySpec, run
from prune_core.summary import summarize

FAST = LatencySpec(batch=1, seq_len=32, reps=3, warmup=1, threads=2)


def test_summary_is_ready_while_the_evaluation_is_blocked(gpt, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real = run_module.quality_estimate

    def blocked(loaded, model):  # the real evaluation, held back until the test lets it go
        started.set()
        assert release.wait(120)
        return real(loaded, model)

    monkeypatch.setattr(run_module, "quality_estimate", blocked)
    config = PruneConfig("magnitude", 0.65)
    out = {}
    measuring = threading.Thread(target=lambda: out.setdefault("run", run(gpt, config, None, FAST)))
    measuring.start()
    assert started.wait(120)
    summary = summarize(gpt, config)  # while the evaluation of the very same setting is blocked
    assert measuring.is_alive() and not release.is_set()
    release.set()
    measuring.join(300)
    result, _ = out["run"]
    assert summary.size_pruned == result.size_pruned.__class__(**{**result.size_pruned.to_dict(), "file_zstd": None})
    assert summary.params_nonzero == result.params_nonzero and summary.sparsity_actual == result.sparsity_actual
    assert result.quality_lo < result.quality < result.quality_hi
    fig = charts.quality_chart(tables.quality_frame(result), "perplexity")  # the interval is drawn
    bar = fig.data[0]
    assert list(bar.error_y.array) == pytest.approx([result.quality_dense_hi - result.quality_dense,
                                                     result.quality_hi - result.quality])
    assert "windows" in fig.layout.title.text
    reused, _ = run(gpt, config, None, FAST, summary=summary)  # the page's path: counts from the cheap phase
    assert reused.size_pruned == result.size_pruned and reused.layers == result.layers
    assert reused.quality == result.quality and reused.sparsity_actual == result.sparsity_actual


def test_page_shows_the_cheap_figures_and_placeholders_while_quality_is_pending(monkeypatch):
    def never(loaded, model):  # the evaluation does not come back: the script stops where it waits
        st.stop()

    monkeypatch.setattr(run_module, "quality_estimate", never)
    st.cache_resource.clear()  # an earlier test may have measured this very setting: the shared cache would answer
    at = AppTest.from_string("from pages.common import model_picker\nfrom pages import explore\n"
                             "model_picker()\nexplore.page()", default_timeout=300)
    at.session_state["model_choice"] = "tiny-shakespeare-gpt"
    at.run()
    assert not at.exception, at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["Weights removed (in scope)"] == "50.0%"
    assert values["Nonzero parameters"].endswith(" M")
    assert values["Held-out perplexity"] == "measuring…"  # a placeholder, never a stale number
    assert values["Latency (median)"] == "measuring…"
    charts = at.get("plotly_chart")
    titles = " ".join(c.proto.spec for c in charts)
    assert "Sparsity per layer" in titles and "Weights of" in titles and "storage format" in titles
    assert any("measuring" in i.value for i in at.info)
