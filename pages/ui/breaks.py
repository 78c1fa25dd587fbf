"""Compare page section: which held-out examples break first as sparsity rises (prune_core.fragile)."""
from __future__ import annotations

import streamlit as st

from pages.ui import charts
from pages.ui.caches import cached_flips, cached_token_losses
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.fragile import GRID, worst_tokens
from prune_core.methods import METHODS

ONE_SHOT = [name for name, m in METHODS.items() if not m.info.prunes_during_training]
QUICK = 250  # held-out examples for a quick look


def breaks_section(loaded) -> None:
    """Classifiers: the first held-out sentences to flip along a grid; LMs: the tokens whose loss rises most."""
    st.subheader("Which examples break first")
    c1, c2 = st.columns(2)
    method = c1.selectbox("Method", ONE_SHOT, index=ONE_SHOT.index("magnitude"), key="brk_method")
    if loaded.task == "causal-lm":
        _tokens_view(loaded, method, c2)
    else:
        _flips_view(loaded, method, c2)


def _flips_view(loaded, method: str, col) -> None:
    full = int(loaded.card.eval.get("n_examples", 1000))
    sizes = sorted({min(QUICK, full), full})
    limit = col.selectbox("Held-out examples", sizes, index=len(sizes) - 1, key="brk_examples",
                          format_func=lambda n: f"{n} (the accuracy figure's)" if n == full else f"first {n} (quicker)")
    st.caption(f"Prunes {loaded.name} with {method} at {', '.join(f'{s:.0%}' for s in GRID)} and classifies the "
               "held-out sentences each time; an example flips when its predicted label differs from the dense "
               "model's.")
    if not (st.button("Find the examples that break first", key="brk_run") or st.session_state.get("brk_shown")
            == (loaded.key, method, limit)):
        return
    try:
        with st.spinner(f"pruning at {len(GRID)} sparsities and classifying {limit} examples each time…"):
            sweep = cached_flips(loaded.key, method, limit)
    except PruneScopeError as exc:
        st.error(f"Cannot run this: {exc}")
        return
    st.session_state["brk_shown"] = (loaded.key, method, limit)
    st.plotly_chart(charts.flip_curve(sweep.curve, method), width="stretch")
    dense_acc = sweep.curve.attrs["dense_accuracy"]
    st.caption(f"Solid: examples whose label has flipped at or below each sparsity (dense accuracy {dense_acc:.1%}, "
               f"accuracy at {GRID[-1]:.0%}: {sweep.curve['accuracy'].iloc[-1]:.1%}); dotted: those differing at that "
               "sparsity (an example can flip back).")
    top = sweep.most_fragile(10)
    if top.empty:
        st.info("No example changed its label anywhere on the grid.")
        return
    st.markdown("**The 10 most fragile examples** (first to flip; ties: least confident dense prediction first)")
    conf = dict(format="%.2f", min_value=0, max_value=1, width="small")
    st.dataframe(top, hide_index=True, width="stretch", column_config={
        "sentence": st.column_config.TextColumn("held-out sentence", width="large"),
        "label": st.column_config.TextColumn("true label", width="small"),
        "dense_prediction": st.column_config.TextColumn("dense says", width="small"),
        "dense_confidence": st.column_config.ProgressColumn("dense confidence", **conf),
        "flipped_at": st.column_config.NumberColumn("flipped at", format="percent", width="small"),
        "pruned_prediction": st.column_config.TextColumn("pruned says", width="small"),
        "pruned_confidence": st.column_config.ProgressColumn("pruned confidence", **conf)})


def _tokens_view(loaded, method: str, col) -> None:
    sparsity = col.slider("Sparsity (% of weights)", 10, 90, 70, step=10, key="brk_sparsity") / 100
    window = st.number_input("Held-out window", 0, 20, 0, key="brk_window",
                             help=f"Which block of {loaded.card.eval.get('seq_len', 256)} tokens of the held-out "
                                  "text (the perplexity figure's windows)")
    try:
        with st.spinner(f"scoring every token of the window, dense and pruned with {method}…"):
            frame = cached_token_losses(loaded.key, PruneConfig(method=method, sparsity=sparsity), int(window))
    except PruneScopeError as exc:
        st.error(f"Cannot score this window: {exc}")
        return
    st.html(charts.token_heat_html(frame))
    st.caption(f"Each token's next-token loss, dense vs pruned ({method}, {sparsity:.0%}). Mean loss on this window: "
               f"dense {frame['dense_loss'].mean():.3f}, pruned {frame['pruned_loss'].mean():.3f} nats. Look for "
               "names, punctuation and line starts.")
    st.markdown("**Tokens whose loss rose most**")
    worst = worst_tokens(frame)
    for name in ("context", "token"):  # make line breaks visible in the table
        worst[name] = worst[name].str.replace("\n", "↵", regex=False)
    st.dataframe(worst, hide_index=True, width="stretch", column_config={
        "context": st.column_config.TextColumn("text before it"),
        "rise": st.column_config.NumberColumn("loss rise (nats)", format="%+.3f"),
        "dense_loss": st.column_config.NumberColumn("dense loss", format="%.3f"),
        "pruned_loss": st.column_config.NumberColumn("pruned loss", format="%.3f")})
