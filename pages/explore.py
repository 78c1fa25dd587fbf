"""Explore: prune the picked model live and see size, speed, quality and weights, dense beside pruned.

One slider move flows one way: the controls -> one setting, validated once -> the cheap phase (counts,
sizes and charts from the weights and masks, at once) -> one measurement job (quality, latency, file
size and the outputs, "measuring…" until then) -> one `Measured` result that fills the cards, the charts
and, last, the dense-vs-pruned outputs. The parts: explore_controls (controls -> settings),
explore_cards (metric cards, predict-then-reveal), explore_charts, explore_outputs.
"""
from __future__ import annotations

from time import sleep

import streamlit as st

from pages.ui.caches import cached_run, cached_summary, has_run, warm_model
from pages.ui.picker import get_model
from pages.ui.explore_cards import Cards, predict_gate
from pages.ui.explore_charts import Figures
from pages.ui.explore_controls import ExploreSettings, read_controls
from pages.ui.explore_outputs import Outputs, download, refine
from pages.ui.nav import hand_over
from pages.ui.scoreboard import challenge_section
from pages.ui.urlstate import Controls
from prune_core import faster, teaching
from prune_core.config import ResolvedConfig
from prune_core.errors import PruneScopeError
from prune_core.measure import Measured
from prune_core.samples import OutputRequest
from prune_core.summary import MaskSummary
from prune_core.zoo import LoadedModel

DRAW_PAUSE = 0.1  # seconds between the cheap figures and a measurement (see _let_the_browser_draw)


def page() -> None:
    """Controls -> cached pruning run -> cards, charts and side-by-side outputs."""
    st.title("Explore: prune a Transformer live")
    st.markdown(
        "Pruning sets some weights of a trained network to zero. Move the sparsity slider and watch three "
        "things change: how much **quality** the model loses on text it never saw, how **big** it is in each "
        "storage format, and how **fast** it runs. The dense (unpruned) model is always shown beside it.")
    _glossary()
    url = Controls("explore")
    loaded = get_model()
    if loaded is None:
        st.stop()
    card = loaded.card
    st.caption(f"**{card.name}** · {card.task} · {card.params / 1e6:.2f} M parameters · {card.source}"
               + (f" · ⚠ {card.notes}" if card.notes else ""))
    settings = read_controls(loaded, url)
    guess = predict_gate(loaded, settings.config, url, settings.evaluation)

    resolved, summary = _counts(loaded, settings)  # cheap: from the weights and masks, on screen at once
    question = faster.ask(loaded, resolved.pattern, summary.sparsity_actual)
    cards = Cards.draw(loaded, summary, settings.measure_file, question)
    config = resolved.config
    figures = Figures.draw(loaded, summary, summary.sparsity_actual if resolved.pattern.is_nm else config.sparsity,
                           settings.measure_file, url)
    outputs = Outputs.draw(loaded, config.seed)

    _let_the_browser_draw(loaded, resolved, settings)
    measured = _measure(loaded, resolved, settings, cards, outputs.request)  # heavy: quality, latency, outputs
    result = measured.result
    cards.fill(result, loaded)
    figures.fill(result)
    cards.fill_faster(loaded, question, result, settings.spec.batch * settings.spec.seq_len)
    if settings.evaluation == "quick":
        refine(loaded, config, measured)
    if guess is not None:
        cards.reveal(guess, loaded, settings.config, result)
    download(loaded, config, result, measured.delta)
    challenge_section(loaded, result, url)
    outputs.fill(measured)  # last


def _counts(loaded: LoadedModel, settings: ExploreSettings) -> tuple[ResolvedConfig, MaskSummary]:
    """The setting validated (once), then the cheap phase: masks, counts and sizes (a progress bar
    meanwhile); stops the page with an error for settings that cannot prune."""
    warm_model(loaded.key)  # per-model facts the counts use, built once in the background
    progress_box = st.empty()
    try:
        resolved = settings.resolved()
        bar = progress_box.progress(0.0, text="computing masks on calibration data…" if resolved.calibrated
                                    else "counting…")
        summary = cached_summary(loaded.key, resolved, lambda f, m: bar.progress(min(1.0, f), text=m))
    except PruneScopeError as exc:
        progress_box.empty()
        st.error(f"Cannot prune with these settings: {exc}")
        st.stop()
    progress_box.empty()
    return resolved, summary


def _let_the_browser_draw(loaded: LoadedModel, resolved: ResolvedConfig, settings: ExploreSettings) -> None:
    """Wait DRAW_PAUSE seconds before a measurement that is not cached, so that the browser draws the cheap
    figures before the measurement takes the cores.

    Where the browser shares the server's cores (one user running the app on a laptop; the bench) it
    otherwise drew the counts and charts beside the evaluation's threads: SmolLM2's cheap figures took
    0.23 s (p50, bench/slider_latency.py) and 0.16 s with the pause. The wait uses no CPU, and a move
    made during it interrupts this run at the next Streamlit call, before any measuring starts."""
    if not has_run(loaded.key, resolved, settings.spec, settings.measure_file, settings.evaluation):
        sleep(DRAW_PAUSE)


def _measure(loaded: LoadedModel, resolved: ResolvedConfig, settings: ExploreSettings, cards: Cards,
             outputs: OutputRequest | None) -> Measured:
    """The heavy phase (one cached job): the pruned copy, quality with its interval, latency, file size, and
    `outputs` on the same copy; stops the page with an error if it fails."""
    bar = cards.status.progress(0.0, text="measuring quality and latency…")
    try:
        measured = cached_run(loaded.key, resolved, settings.spec, settings.measure_file,
                              lambda f, m: bar.progress(min(1.0, f), text=m), settings.evaluation, outputs)
    except PruneScopeError as exc:
        cards.status.error(f"Cannot measure with these settings: {exc}")
        st.stop()
    cards.status.empty()
    return measured


def _glossary() -> None:
    with st.expander("Glossary", icon=":material/menu_book:"):
        st.markdown("\n\n".join(f"**{term}**: {text}" for term, text in teaching.GLOSSARY.items()))


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
