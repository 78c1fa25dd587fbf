"""Layers: where the sparsity goes, which layers are sensitive, and a better allocation from that."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import cached_model, get_model
from prune_core import charts
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.masks import layer_stats
from prune_core.run import prune_model
from prune_core.sensitivity import evaluate_allocation, layer_sensitivity, propose_allocation

GRID = [0.3, 0.5, 0.7, 0.9]


@st.cache_data(max_entries=8, show_spinner=False)
def _sensitivity(name: str) -> pd.DataFrame:
    return layer_sensitivity(cached_model(name), GRID)


@st.cache_data(max_entries=16, show_spinner=False)
def _spread(name: str, target: float) -> pd.DataFrame:
    loaded = cached_model(name)
    rows = []
    for label, allocation in (("layer (uniform)", "layer"), ("global magnitude", "global")):
        masks, _ = prune_model(loaded, PruneConfig("magnitude", target, allocation=allocation))
        rows += [{"allocation": label, "layer": s.module, "sparsity": s.sparsity}
                 for s in layer_stats(loaded.model, masks)]
    return pd.DataFrame(rows)


@st.cache_data(max_entries=16, show_spinner=False)
def _proposal(name: str, target: float) -> tuple[dict[str, float], float, float, float, float]:
    """Proposed per-layer sparsities and (quality, sparsity) of proposed and uniform allocations."""
    loaded = cached_model(name)
    alloc = propose_allocation(_sensitivity(name), target)
    return (alloc, *evaluate_allocation(loaded, alloc), *evaluate_allocation(loaded, {k: target for k in alloc}))


def page() -> None:
    """Allocation spread, sensitivity heatmap, proposed non-uniform allocation vs uniform."""
    st.title("Layers: where should the zeros go?")
    st.markdown("Not every layer matters equally. Per-layer allocation removes the same share everywhere; a "
                "global threshold takes more from layers with small weights. Sensitivity analysis prunes one "
                "layer at a time to measure which layers can take it, and spends the budget there.")
    loaded = get_model()
    if loaded is None:
        st.stop()
    target = st.slider("Overall sparsity", 10, 90, 70, step=10, key="layers_target") / 100
    try:
        spread = _spread(loaded.name, target)
    except PruneScopeError as exc:
        st.error(f"Cannot prune this model: {exc}")
        st.stop()
    if not st.toggle("Run the sensitivity analysis (one evaluation per layer and sparsity)",
                     value=loaded.card.params < 5_000_000, key="layers_run"):
        st.plotly_chart(charts.allocation_chart(spread, target), width="stretch")
        st.stop()
    with st.spinner(f"pruning each layer at {', '.join(f'{g:.0%}' for g in GRID)} and evaluating…"):
        sens = _sensitivity(loaded.name)
    metric = loaded.card.quality_metric
    st.plotly_chart(charts.sensitivity_heatmap(sens, metric), width="stretch")
    st.caption(f"Each cell: how much worse the held-out {metric} gets when only that layer is pruned to that "
               "sparsity (dense elsewhere). Pale rows are layers that can give up weights cheaply.")
    alloc, prop_q, prop_s, uni_q, uni_s = _proposal(loaded.name, target)
    spread = pd.concat([spread, pd.DataFrame([{"allocation": "proposed (from sensitivity)", "layer": k,
                                               "sparsity": v} for k, v in alloc.items()])])
    st.plotly_chart(charts.allocation_chart(spread, target), width="stretch")
    c1, c2 = st.columns(2)
    c1.metric(f"Uniform: {metric}", f"{uni_q:.4g}", f"{uni_s:.1%} of weights removed", delta_color="off")
    c2.metric(f"Proposed: {metric}", f"{prop_q:.4g}", f"{prop_s:.1%} of weights removed", delta_color="off")
    st.caption("The proposal is greedy on the measured grid, so it lands at or just above the target sparsity; "
               "both are magnitude pruning, evaluated on the same held-out data.")


if __name__ == "__main__":  # opened as a legacy pages/ script before st.navigation ran
    st.session_state["deep_link"] = "layers"
    st.switch_page("app.py")
