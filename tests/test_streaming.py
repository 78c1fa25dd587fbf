"""Ordering of a slider move: the cheap figures never wait for the evaluation."""
import threading

import pytest
import streamlit as st

from conftest import render_page

from pages.ui import charts
from prune_core import tables
from prune_core import run as run_module
from prune_core.config import PruneConfig
from prune_core.run import LatencySpec, run
from prune_core.summary import summarize

FAST = LatencySpec(batch=1, seq_len=32, reps=3, warmup=1, threads=2)


def test_summary_is_ready_while_the_evaluation_is_blocked(gpt, monkeypatch):
    started, release = threading.Event(), threading.Event()
    real = run_module.quality_estimate

    def blocked(loaded, model, *evaluation):  # the real evaluation, held back until the test lets it go
        started.set()
        assert release.wait(120)
        return real(loaded, model, *evaluation)

    monkeypatch.setattr(run_module, "quality_estimate", blocked)
    config = PruneConfig(method="magnitude", sparsity=0.65)
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
    fig = charts.measured_chart(tables.quality_frame(result), tables.latency_frame(result), "perplexity")
    bar = fig.data[0]  # the interval is drawn
    assert list(bar.error_y.array) == pytest.approx([result.quality_dense_hi - result.quality_dense,
                                                     result.quality_hi - result.quality])
    assert "windows" in fig.layout.annotations[-1].text  # how it was measured, under the bars
    reused, _ = run(gpt, config, None, FAST, summary=summary)  # the page's path: counts from the cheap phase
    assert reused.size_pruned == result.size_pruned and reused.layers == result.layers
    assert reused.quality == result.quality and reused.sparsity_actual == result.sparsity_actual


def test_page_shows_the_cheap_figures_and_placeholders_while_quality_is_pending(monkeypatch):
    def never(loaded, model, *evaluation):  # the evaluation does not come back: the script stops where it waits
        st.stop()

    monkeypatch.setattr(run_module, "quality_estimate", never)
    st.cache_resource.clear()  # an earlier test may have measured this very setting: the shared cache would answer
    at = render_page("explore", "tiny-shakespeare-gpt")
    values = {m.label: m.value for m in at.metric}
    assert values["Weights removed (in scope)"] == "50.0%"
    assert values["Nonzero parameters"].endswith(" M")
    assert values["Held-out perplexity"] == "measuring…"  # a placeholder, never a stale number
    assert values["Latency (median)"] == "measuring…"
    charts = at.get("bidi_component")  # pages/ui/live_chart.py: figures as JSON in the component's data
    titles = " ".join(c.proto.json for c in charts)
    assert "Sparsity per layer" in titles and "Weights of" in titles and "storage format" in titles
    assert any("measuring" in i.value for i in at.info)
    # the last move's measured chart (updated in place once measured) is greyed out meanwhile
    assert any(".st-key-explore_measured { opacity" in m.value for m in at.markdown)


def test_a_measurement_waits_for_the_browser_to_draw_only_when_it_is_not_cached(monkeypatch):
    """Before measuring, Explore pauses so the browser can draw the cheap figures; a cached result comes at once."""
    from pages import explore
    from pages.ui import caches

    pauses = []
    monkeypatch.setattr(explore, "sleep", pauses.append)
    st.cache_resource.clear()
    at = render_page("explore", "tiny-shakespeare-gpt")
    assert pauses == [explore.DRAW_PAUSE]
    assert len(caches.shared_cache().keys("result")) >= 1
    at.run()  # the same setting again: measured, so no pause
    assert not at.exception and pauses == [explore.DRAW_PAUSE]
    at.slider[0].set_value(60).run()  # a new sparsity: a new measurement
    assert not at.exception and pauses == [explore.DRAW_PAUSE] * 2


def test_quick_evaluation_is_a_quarter_of_the_cards_on_the_same_data(gpt, bert):
    from prune_core.errors import PruneScopeError
    from prune_core.run import eval_settings, prune_model, quality_estimate

    full, quick = eval_settings(gpt.card, "full"), eval_settings(gpt.card, "quick")
    assert full == gpt.card.eval and quick["max_tokens"] == full["max_tokens"] // 4
    assert quick["max_tokens"] // quick["seq_len"] >= 8  # enough windows for the bootstrap
    assert eval_settings(bert.card, "quick")["n_examples"] == bert.card.eval["n_examples"] // 4
    with pytest.raises(PruneScopeError, match="unknown evaluation"):
        eval_settings(gpt.card, "thorough")
    pruned = prune_model(gpt, PruneConfig(method="magnitude", sparsity=0.6))[1]
    q_full, q_quick = quality_estimate(gpt, pruned, "full"), quality_estimate(gpt, pruned, "quick")
    assert (q_full.n, q_quick.n) == (32, 8) and "quick" in q_quick.how and "quick" not in q_full.how
    assert q_quick.hi - q_quick.lo > 1.3 * (q_full.hi - q_full.lo)  # a quarter of the data: a wider interval
    dense_quick = quality_estimate(gpt, gpt.model, "quick")
    assert dense_quick.n == q_quick.n and q_quick.value > dense_quick.value  # same windows, pruning hurts
    acc = quality_estimate(bert, bert.model, "quick")
    assert acc.n == 250 and "quick" in acc.how


def test_a_run_makes_the_outputs_on_its_own_pruned_copy(gpt):
    """The measurement job makes the page's outputs on the copy it measured; another input is made on the
    copy rebuilt from the delta, and the dense outputs once per model and input."""
    from pages.ui import caches
    from prune_core import samples

    st.cache_resource.clear()
    config = PruneConfig(method="magnitude", sparsity=0.35)
    request = samples.OutputRequest(prompt="ROMEO:", n_new=12, seed=3)
    measured = caches.cached_run(gpt.key, config, FAST, False, evaluation="quick", outputs=request)
    assert measured.result.evaluation == "quick" and "quick" in measured.result.quality_interval
    rebuilt = samples.generate(measured.delta.build(gpt.model), gpt.tokenizer, "ROMEO:", 12, 3)
    assert measured.outputs_of(request) == rebuilt  # the same text as from a rebuilt copy
    assert caches.measured_outputs(gpt.key, measured, request) == rebuilt
    other = samples.OutputRequest(prompt="JULIET:", n_new=12, seed=3)
    assert measured.outputs_of(other) is None  # typed since: made on a copy rebuilt from the delta, then cached
    assert caches.measured_outputs(gpt.key, measured, other) == samples.generate(
        measured.delta.build(gpt.model), gpt.tokenizer, "JULIET:", 12, 3)
    assert ("outputs", gpt.key, measured.delta.digest, other) in caches.shared_cache()
    assert caches.cached_outputs(gpt.key, request) == samples.generate(gpt.model, gpt.tokenizer, "ROMEO:", 12, 3)
    again = caches.cached_run(gpt.key, config, FAST, False, evaluation="quick", outputs=other)
    assert again is measured  # the outputs asked for are not part of the measurement's key


def test_refine_scores_the_measured_copy_without_pruning_or_timing_again(gpt, monkeypatch):
    from pages.ui import caches
    from prune_core import summary as summary_module
    from prune_core.run import quality_estimate

    st.cache_resource.clear()
    config = PruneConfig(method="magnitude", sparsity=0.6)
    _, pruned = run(gpt, config, None, FAST, measure_file=False)
    expected = quality_estimate(gpt, pruned, "full")  # the figure a full run measures
    measured = caches.cached_run(gpt.key, config, FAST, False, evaluation="quick")
    calls = []
    for module, name in ((run_module, "prune_model"), (run_module, "prune_masks"), (summary_module, "prune_masks"),
                         (run_module, "measure_latency")):
        monkeypatch.setattr(module, name, lambda *a, _name=name, **k: calls.append(_name))
    full = caches.cached_quality(gpt.key, measured.delta, "full")
    assert calls == [] and full == expected and full.n == 32 and "quick" not in full.how


def test_latency_settings_follow_the_model_after_a_switch():
    """The measurement settings start from each model's defaults: a switch does not carry the last
    model's (SmolLM2 would have kept a small model's zstd measurement: 1.1 s more per move)."""
    from conftest import render_page

    at = render_page("explore", "tiny-shakespeare-gpt")
    at.run()
    at.number_input(key="lat_seq_len@tiny-shakespeare-gpt").set_value(100).run()
    at.checkbox(key="measure_file@tiny-shakespeare-gpt").uncheck().run()
    assert at.query_params["seq_len"] == "100" and at.query_params["file"] == "0"
    at.selectbox(key="model_choice").set_value("tiny-sentiment-bert").run()
    assert not at.exception, at.exception
    assert at.number_input(key="lat_seq_len@tiny-sentiment-bert").value == 64  # its own default, not 100
    assert at.checkbox(key="measure_file@tiny-sentiment-bert").value  # its own default, not off
    at.number_input(key="lat_seq_len@tiny-sentiment-bert").set_value(48).run()
    at.run()
    assert at.number_input(key="lat_seq_len@tiny-sentiment-bert").value == 48  # the user's choice stays


def test_per_layer_table_comes_on_request():
    """The per-layer table is drawn only when asked for (not sent on every slider move), then with a row a layer."""
    from conftest import render_page

    at = render_page("explore", "tiny-shakespeare-gpt")
    at.run()
    assert not any("threshold" in getattr(df.value, "columns", []) for df in at.dataframe)
    at.toggle(key="layer_table").set_value(True).run()
    tables = [df.value for df in at.dataframe if "threshold" in getattr(df.value, "columns", [])]
    assert not at.exception and len(tables) == 1 and len(tables[0]) == 16  # tiny GPT: 4 blocks x 4 matrices


def test_progress_bar_redrawn_only_when_it_changes():
    """A session waiting in line hears its place four times a second; the bar is sent to the browser only
    when its fraction (to the percent) or its text changes, and at most twice a second."""
    from pages.ui.caches import _updates
    from prune_core.cache import JobStatus

    drawn, now = [], [0.0]
    update = _updates(lambda fraction, text: drawn.append((fraction, text)), every=0.5, clock=lambda: now[0])
    queued = [(0.25 * i, JobStatus("queued", place=3 if i < 3 else 2, running=2)) for i in range(6)]  # 0 .. 1.25 s
    for now[0], status in queued + [
            (1.5, JobStatus("running", 0.2, "pruning")), (2.1, JobStatus("running", 0.201, "pruning")),
            (2.2, JobStatus("running", 0.4, "measuring sizes")), (2.3, JobStatus("running", 0.5, "evaluating")),
            (2.8, JobStatus("running", 1.5, "done"))]:
        update(status)
    # the same state is not drawn again (place 3 four times a second, 20.1 % after 20 %); a change within
    # 0.5 s of the last drawing waits for the next report ("evaluating", 0.1 s after "measuring sizes")
    assert drawn == [(0.0, "waiting: 3rd in line (2 heavy jobs running on this server)"),
                     (0.0, "waiting: 2nd in line (2 heavy jobs running on this server)"),
                     (0.2, "pruning"), (0.4, "measuring sizes"), (1.0, "done")]
    assert _updates(None) is None
