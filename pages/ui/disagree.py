"""Layers page section: where two pruning methods disagree, and why (prune_core.disagree)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from pages.ui import charts
from pages.ui.caches import cached_disagreement, cached_input_norms
from prune_core.disagree import Disagreement, scatter_sample
from prune_core.errors import PruneScopeError
from prune_core.methods import METHODS
from prune_core.patterns import PATTERNS, WEIGHT_LEVEL, parse_pattern
from prune_core.targets import as_out_in

ONE_SHOT = [name for name, m in METHODS.items() if not m.info.prunes_during_training]
WHY = ("Magnitude looks only at |w|, so it removes everything below one height; Wanda ranks |w| × ‖X_j‖ within "
       "each output row, so its cut runs diagonally on these log axes. Hence the orange points (pruned only by "
       "magnitude, kept by Wanda) are small weights on loud input features, and the blue ones (pruned only by "
       "Wanda) are large weights on quiet features.")


def _controls() -> tuple[str, str, str, float]:
    c1, c2, c3, c4 = st.columns(4)
    a = c1.selectbox("Method A", ONE_SHOT, index=ONE_SHOT.index("magnitude"), key="dis_a")
    b = c2.selectbox("Method B", ONE_SHOT, index=ONE_SHOT.index("wanda"), key="dis_b")
    pattern = c3.selectbox("Pattern", [p for p in PATTERNS if parse_pattern(p).granularity in WEIGHT_LEVEL], key="dis_pattern")
    fixed = parse_pattern(pattern).fixed_sparsity
    if fixed is not None:
        c4.caption(f"{pattern} always removes {fixed:.0%} of the weights.")
        return a, b, pattern, fixed
    return a, b, pattern, c4.slider("Sparsity (% of weights)", 10, 90, 50, step=10, key="dis_sparsity") / 100


def disagree_section(loaded) -> None:
    """Per-layer overlap of two methods' pruned sets, one matrix coloured by class, the |w| vs input-norm scatter."""
    st.subheader("Where two methods disagree")
    st.markdown("Two methods remove the same share of weights. Which ones? Each weight is kept by both, pruned by "
                "both, or pruned by only one of them.")
    if not st.toggle("Compare two methods weight by weight (prunes the model twice)", key="dis_show",
                     value=not loaded.card.big):
        return
    a, b, pattern, sparsity = _controls()
    try:
        with st.spinner(f"pruning {loaded.name} with {a} and with {b} at {sparsity:.0%} ({pattern})…"):
            dis = cached_disagreement(loaded.key, a, b, sparsity, pattern)
    except PruneScopeError as exc:
        st.error(f"Cannot compare these methods: {exc}")
        return
    table = dis.layer_table()
    if a == b:
        st.info("Both methods are the same, so they agree on every weight: pick another Method B.")
    st.plotly_chart(charts.disagreement_chart(table, a, b, sparsity), width="stretch")
    worst = table.loc[table["overlap"].idxmin()]
    st.caption(f"Dark: pruned by both; orange: only {a}; blue: only {b}; the rest is kept by both. Overall the two "
               f"pruned sets overlap by {table['pruned by both'].sum() / (table['params'].sum() * sparsity):.1%}; "
               f"they differ most in {worst['layer']} ({worst['overlap']:.1%} overlap).")
    modules = list(table["layer"])
    module = st.selectbox("Weight matrix", modules, index=modules.index(worst["layer"]), key="dis_matrix",
                          help="Starts at the matrix where the two methods disagree most.")
    codes = dis.codes(module)
    st.plotly_chart(charts.disagreement_heatmap(codes, a, b, f"{module}: {a} vs {b} at {sparsity:.0%}"),
                    width="stretch")
    st.caption("Left: every weight of the top-left corner in its class colour. Right: the whole matrix; where it is "
               "shrunk, each cell is the share of its block on which the methods disagree (hover for all four).")
    _why(loaded, dis, module, codes, a, b)


def _why(loaded, dis: Disagreement, module: str, codes: np.ndarray, a: str, b: str) -> None:
    st.markdown("**Why they disagree:** each weight's size against the size of the input it multiplies.")
    try:
        with st.spinner("measuring the input features on calibration data…"):
            norms, tokens = cached_input_norms(loaded.key, module, dis.config_b)
    except PruneScopeError as exc:
        st.error(f"Cannot measure the input features: {exc}")
        return
    target = next(t for t in dis.targets if t.module == module)
    weight = as_out_in(dict(loaded.model.named_parameters())[target.name].detach(), target).numpy()
    sample = scatter_sample(weight, norms, codes, seed=0)
    st.plotly_chart(charts.why_scatter(sample, a, b, module, tokens), width="stretch")
    if {a, b} == {"magnitude", "wanda"}:
        st.caption(WHY if a == "magnitude" else WHY.replace("orange", "§").replace("blue", "orange").replace("§", "blue"))
    else:
        st.caption(f"Input norms ‖X_j‖ over {tokens:,} calibration tokens (the statistic Wanda uses). Points where "
                   f"only one method prunes show what the other one looks at: compare magnitude with wanda to see "
                   "small weights on loud features kept and large weights on quiet features pruned.")
