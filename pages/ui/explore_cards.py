"""Explore's metric cards: counts at once, "measuring…" in the places of the measured figures, the
"could anything run this faster?" box, and predict-then-reveal (the student's guess, then the answer).

A figure that needs the evaluation gets its place when the counts are drawn, saying "measuring…":
a figure of the previous setting is never left on screen as if it were current.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from pages.ui.caches import cached_dense_quality, csr_break_even
from pages.ui.urlstate import Controls
from prune_core import faster, teaching
from prune_core.config import PruneConfig
from prune_core.run import PruneResult
from prune_core.summary import MaskSummary
from prune_core.zoo import LoadedModel


@dataclass
class Cards:
    """The places of the figures that come with the measurement (st.empty slots, top to bottom)."""

    quality: object
    latency: object
    file: object
    status: object  # the measurement's progress bar, then nothing (or its error)
    guess: object  # the student's guess beside the measured quality
    faster: object
    caption: object  # how long pruning and measuring took, and on which data

    @classmethod
    def draw(cls, loaded: LoadedModel, summary: MaskSummary, measure_file: bool, question: faster.Question) -> "Cards":
        """The counts from the weights and masks; "measuring…" where the measured figures go; the
        "could anything run this faster?" answer so far."""
        k = st.columns(5)
        k[0].metric("Weights removed (in scope)", f"{summary.sparsity_actual:.1%}",
                    help=f"{summary.params_in_scope:,} weights in scope; {summary.sparsity_model:.1%} of the whole "
                         "model")
        k[1].metric("Nonzero parameters", f"{summary.params_nonzero / 1e6:.3f} M",
                    f"{(summary.params_nonzero - summary.size_dense.params_nonzero) / 1e6:+.3f} M", delta_color="off")
        quality_slot, latency_slot, file_slot = k[2].empty(), k[3].empty(), k[4].empty()
        quality_slot.metric(f"Held-out {loaded.card.quality_metric}", "measuring…")
        latency_slot.metric("Latency (median)", "measuring…")
        if measure_file:
            file_slot.metric("File on disk (zstd)", "measuring…")
        else:
            file_slot.metric("Dense fp32 size", f"{summary.size_pruned.dense_fp32 / 1e6:.1f} MB", "unchanged by masks",
                             delta_color="off")
        cards = cls(quality=quality_slot, latency=latency_slot, file=file_slot, status=st.empty(), guess=st.empty(),
                    faster=st.empty(), caption=None)
        cards._show_faster(question.answer())
        for note in summary.notes:
            st.info(note.text)
        cards.caption = st.empty()
        return cards

    def fill_faster(self, loaded: LoadedModel, question: faster.Question, result: PruneResult, tokens: int) -> None:
        """The faster answer again with the measured figures where they change it: the latencies of a
        smaller model, this CPU's CSR break-even at `tokens` per call (the Speed page's, shared)."""
        if question.measured_matters:
            csr = csr_break_even(loaded.key, tokens) if question.needs_csr else None
            self._show_faster(question.answer((result.latency_ms_dense, result.latency_ms), csr))

    def _show_faster(self, answer: faster.FasterAnswer) -> None:
        box = {faster.YES: self.faster.success, faster.GPU_ONLY: self.faster.info}.get(answer.verdict,
                                                                                       self.faster.warning)
        box(answer.markdown(), icon=":material/speed:")

    def fill(self, result: PruneResult, loaded: LoadedModel) -> None:
        """Replace the cards' "measuring…" with the measured figures."""
        lower_better = loaded.card.metric.lower_is_better
        with self.quality.container():
            st.metric(f"Held-out {result.quality_metric}", f"{result.quality:.4g}",
                      f"{result.quality - result.quality_dense:+.4g} vs dense {result.quality_dense:.4g}",
                      delta_color="inverse" if lower_better else "normal",
                      help=f"95 % interval: {result.quality_interval}. Intervals that overlap with dense's mean "
                           "the difference may be noise of the evaluation size.")
            if result.quality_lo is not None:
                st.caption(f"{result.evaluation} evaluation · 95 % CI {result.quality_lo:.4g}–{result.quality_hi:.4g} "
                           f"(dense {result.quality_dense_lo:.4g}–{result.quality_dense_hi:.4g})")
        lat_d, lat_p = result.latency_dense, result.latency_pruned
        noise = max(lat_d.q3_ms - lat_d.q1_ms, lat_p.q3_ms - lat_p.q1_ms)
        within = abs(result.latency_ms - result.latency_ms_dense) <= noise
        self.latency.metric("Latency (median)", f"{result.latency_ms:.2f} ms",
                            f"{result.latency_ms / result.latency_ms_dense:.2f}x dense" + (" (noise)" if within else ""),
                            delta_color="off", help=f"Dense: {result.latency_ms_dense:.2f} ms. {lat_p.setup}. "
                                                    f"Noise = the larger interquartile range ({noise:.2f} ms).")
        if result.size_pruned.file_zstd is not None:
            self.file.metric("File on disk (zstd)", f"{result.size_pruned.file_zstd / 1e6:.2f} MB",
                             f"{(result.size_pruned.file_zstd - result.size_dense.file_zstd) / 1e6:+.2f} MB",
                             delta_color="inverse")
        self.caption.caption(f"Pruned in {result.prune_seconds:.2f} s; whole measurement {result.total_seconds:.1f} s. "
                             f"Quality on held-out data ({result.evaluation} evaluation); 95 % interval: "
                             f"{result.quality_interval}.")

    def reveal(self, guess: float, loaded: LoadedModel, config: PruneConfig, result: PruneResult) -> None:
        """The guess scored against the measurement, and this session's guesses so far."""
        scored = teaching.score_guess(guess, result.quality, result.quality_dense)
        log = st.session_state.setdefault("predict_log", {})  # keyed by setting: a rerun does not add a row
        log[f"{loaded.key}|{config}"] = {"model": loaded.name, "setting": setting_text(config), "guess": guess,
                                          "measured": result.quality, "dense": result.quality_dense}
        with self.guess.container():
            st.success(scored.text(result.quality_metric), icon=":material/psychology:")
            with st.expander(f"Your guesses so far ({len(log)})"):
                st.dataframe(list(log.values()), hide_index=True, width="stretch")


def setting_text(config: PruneConfig) -> str:
    return f"{config.method}, {config.pattern}, {config.sparsity:.0%}, {config.allocation}, {config.scope}"


def predict_gate(loaded: LoadedModel, config: PruneConfig, url: Controls, evaluation: str) -> float | None:
    """'Predict, then reveal': hold the results back until the student has guessed the quality.

    Returns the guess once revealed (None when the mode is off); stops the page while waiting.
    """
    if not st.toggle("Predict, then reveal", key=url.flag("reveal", "predict_mode", on="predict", off="off"),
                     disabled=url.locked("reveal"),
                     help="Guess the pruned model's quality before PruneScope measures it."):
        return None
    card = loaded.card
    lower = card.metric.lower_is_better
    revealed = st.session_state.setdefault("predict_revealed", {})
    key = f"{loaded.key}|{config}"
    if key in revealed:
        return revealed[key]
    dense = cached_dense_quality(loaded.key, evaluation).value
    st.markdown(f"**Your turn.** With *{setting_text(config)}*, what held-out **{card.quality_metric}** do you "
                f"expect? The dense model scores **{dense:.4g}**" + (" (lower is better)." if lower else
                                                                     " (higher is better)."))
    with st.form("predict_form"):
        guess = st.number_input(f"Your guess ({card.quality_metric})", value=float(dense), format="%.4f",
                                key="predict_guess")
        if not st.form_submit_button("Reveal"):
            st.stop()
    revealed[key] = float(guess)
    return float(guess)
