"""Paper: the study's three claims, each an experiment on the picked model with a plain verdict."""
from __future__ import annotations

import json

import streamlit as st

from pages.ui import charts
from pages.ui.caches import cached_claims
from pages.ui.picker import get_model
from pages.ui.faster_panel import faster_expander
from pages.ui.nav import hand_over
from prune_core import paper
from prune_core.errors import PruneScopeError
from prune_core.finetune import recovery_budget
from prune_core.methods import METHODS
from prune_core.sweep import parse_grid

VERDICT_BOX = {paper.HELD: st.success, paper.NOT_HELD: st.error, paper.INCONCLUSIVE: st.warning}
Done = tuple[paper.PaperSettings, paper.ClaimResult]  # a claim that has run: what it ran with, what it found


def _settings(loaded) -> paper.PaperSettings:
    """The experiment's knobs; defaults finish in a few minutes on a laptop CPU."""
    d = paper.PaperSettings()
    metric = loaded.card.metric
    with st.expander("Experiment settings (defaults finish in minutes on a laptop CPU)"):
        c1, c2, c3 = st.columns(3)
        methods = c1.multiselect("Methods for (a) and (b)", [m for m in METHODS], default=list(d.methods),
                                 key="paper_methods")
        grid = c2.text_input("Sparsity grid", ",".join(f"{s:g}" for s in d.sparsities), key="paper_grid")
        if not metric.relative_tolerance:  # points of accuracy, not a share of dense
            tol = c3.number_input("Tolerance (accuracy points)", 0.1, 20.0, 1.0, 0.1, key="paper_tol") / 100
        else:
            tol = c3.number_input("Tolerance (% perplexity)", 0.5, 100.0, 5.0, 0.5, key="paper_tol") / 100
        substantial = c3.slider("'Substantial' means at least this share of prunable weights removed (%)", 10, 90,
                                int(d.substantial * 100), 5, key="paper_substantial") / 100
        e1, e2, e3, e4 = st.columns(4)
        c_method = e1.selectbox("(c) method", list(METHODS), index=list(METHODS).index(d.c_method), key="paper_c_method")
        c_sparsity = e2.slider("(c) sparsity (%)", 10, 95, int(d.c_sparsity * 100), 5, key="paper_c_sparsity") / 100
        seeds = int(e3.number_input("(c) seeds", 1, 10, len(d.c_seeds), key="paper_seeds"))
        budget = recovery_budget(loaded.key)
        steps = int(e4.number_input("(c) fine-tuning steps", 1, 5000, budget.steps, key="paper_steps"))
        lr = float(e4.number_input("(c) learning rate", 1e-6, 1.0, budget.lr, format="%.5f", key="paper_lr"))
    return paper.PaperSettings(loaded.key, tuple(methods), tuple(parse_grid(grid)), tol, substantial, c_method,
                               c_sparsity, tuple(range(seeds)), steps, lr).validated()


def _run(loaded, settings: paper.PaperSettings, claims: str) -> None:
    bar = st.progress(0.0, text="starting…")
    results = cached_claims(loaded.key, settings, claims, lambda f, m: bar.progress(min(1.0, f), text=m))
    bar.empty()
    stored = st.session_state.setdefault("paper_results", {})
    for r in results:
        stored[(loaded.key, r.claim)] = (settings, r)


def _section(title: str, claim: str, done: Done | None) -> Done | None:
    """A claim's header and statement; then its verdict when it has been run."""
    st.header(title)
    st.markdown(f"> {paper.CLAIMS[claim]}")
    if done:
        _verdict(done[1])
    return done


def _verdict(result: paper.ClaimResult) -> None:
    box = VERDICT_BOX[result.verdict]
    box(f"**Verdict: {result.verdict}**{' (partial run)' if result.partial else ''}. {result.because}")
    st.caption(f"Rule: {result.rule}")


def _intro() -> None:
    st.title("Paper: do the study's claims hold here?")
    st.markdown(
        f"PruneScope grows out of {paper.PAPER}. Its abstract makes three claims. Here each one becomes an "
        "experiment you can run on the picked model, and the page gives a verdict computed by a stated rule, "
        "next to the numbers behind it.")
    st.info(paper.DISCLAIMER, icon=":material/science:")


def _run_buttons(loaded, settings: paper.PaperSettings) -> None:
    b1, b2 = st.columns(2)
    try:
        if b1.button("Run claims (a) and (b)", type="primary", key="paper_run_ab"):
            _run(loaded, settings, "ab")
        if b2.button("Run claim (c): fine-tuning over seeds", key="paper_run_c"):
            _run(loaded, settings, "c")
    except PruneScopeError as exc:
        st.error(f"The experiment stopped: {exc}")


def _claim_a(loaded, metric: str, done: Done | None) -> None:
    if not _section("(a) Methods and their effects", "a", done):
        st.caption("Press *Run claims (a) and (b)*: every chosen method over the grid, plus MLP neurons removed.")
        return
    _, result = done
    runs = result.runs
    dense_q = float(runs["quality_dense"].iloc[0])
    st.plotly_chart(charts.compare_chart(runs.assign(method=runs["series"]), "share_removed",
                                         "share of prunable weights removed", metric, dense_q, 0.0),
                    width="stretch")
    st.caption(f"Every method on one chart, dense at 0. Timing: {runs['latency_setup'].iloc[0]}. Held-out "
               f"{metric}, the model card's evaluation (see Model zoo). Table: each variant at its highest sparsity, sizes and latency "
               "as a ratio of dense.")
    st.dataframe(result.table, hide_index=True, width="stretch")
    faster_expander(loaded, runs)


def _claim_b(loaded, done: Done | None) -> None:
    if not _section("(b) Size down, quality kept", "b", done):
        return
    chosen, result = done
    st.plotly_chart(charts.tolerance_chart(result.table), width="stretch")
    st.caption(f"Tolerance: {loaded.card.metric.tolerance_text(chosen.tolerance)}. A method counts up to the highest grid "
               "sparsity at which it and every lower one stay within it. The whole model's saving includes the "
               "embeddings, which are not pruned.")
    st.dataframe(result.table, hide_index=True, width="stretch")


def _claim_c(metric: str, done: Done | None) -> None:
    if not _section("(c) Fine-tuning after pruning", "c", done):
        st.caption("Press *Run claim (c)*: one-shot pruning then fine-tuning that keeps the mask, per seed, with the "
                   "dense model fine-tuned for the same steps as a control.")
        return
    chosen, result = done
    frame = result.table
    q1, q2 = st.columns(2)
    q1.plotly_chart(charts.recovery_chart(frame, "quality", f"Held-out {metric} per seed", metric),
                    width="stretch")
    q2.plotly_chart(charts.recovery_chart(frame, "gap", "Generalization gap per seed",
                                          "validation loss − training loss"), width="stretch")
    st.caption(f"{len(chosen.c_seeds)} seed(s), {int(frame['steps'].max())} steps at learning rate "
               f"{frame['lr'].max():g}, "
               f"{chosen.c_method} at {chosen.c_sparsity:.0%}. Markers: one per seed; bar: mean with min–max range. "
               "If pruned + fine-tuned beats dense but not the dense control, the gain came from the extra "
               "training, not from pruning. (Movement pruning needs long fine-tuning to pay off; on these "
               "already-converged models its short-run scores are mostly noise.)")
    st.dataframe(frame, hide_index=True, width="stretch")


def _card_download(loaded, stored: dict) -> None:
    """The reproducibility card of the claims run on this model, for a headless replay."""
    done = [(s, r) for (name, _), (s, r) in stored.items() if name == loaded.key]
    if not done:
        return
    card = paper.reproducibility_card(done[-1][0], [r for _, r in done])
    st.download_button("Download the reproducibility card (JSON)", json.dumps(card, indent=2, default=str),
                       f"prunescope_card_{loaded.name}.json", "application/json", key="paper_card")
    st.caption("Replay it headless: `python -m prune_core paper --replay prunescope_card_"
               f"{loaded.name}.json` reruns the same experiments and compares the verdicts.")


def page() -> None:
    """Claims -> experiments -> charts, verdicts and a reproducibility card."""
    _intro()
    loaded = get_model()
    if loaded is None:
        st.stop()
    try:
        settings = _settings(loaded)
    except PruneScopeError as exc:
        st.error(f"Cannot run these settings: {exc}")
        st.stop()
    metric = loaded.card.quality_metric
    _run_buttons(loaded, settings)
    stored = st.session_state.get("paper_results", {})
    _claim_a(loaded, metric, stored.get((loaded.key, "a")))
    _claim_b(loaded, stored.get((loaded.key, "b")))
    _claim_c(metric, stored.get((loaded.key, "c")))
    _card_download(loaded, stored)


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
