"""History: every stored run, filtered, compared and deleted."""
from __future__ import annotations

import streamlit as st

from pages.ui import charts
from pages.ui.scoreboard import scoreboards_admin
from pages.ui.nav import hand_over
from prune_core.errors import PruneScopeError
from prune_core.store import Store


def page() -> None:
    """Stored runs table with filters and delete."""
    st.title("History")
    st.markdown("Every run made from the Compare page or `python -m prune_core sweep` is stored with its "
                "settings, its figures and the machine it ran on.")
    try:
        store = Store()
        runs = store.runs()
    except PruneScopeError as exc:
        st.error(f"Cannot open the results store: {exc}")
        st.stop()
    st.caption(f"Store: `{store.path}` · {len(runs)} runs" + (" · read-only storage: runs can be viewed, not "
                                                              "deleted" if store.readonly else ""))
    scoreboards_admin()
    st.subheader("Stored runs")
    if runs.empty:
        st.info("Nothing stored yet.")
        st.stop()
    c1, c2 = st.columns(2)
    models = c1.multiselect("Models", sorted(runs["model"].unique()), key="hist_models")
    methods = c2.multiselect("Methods", sorted(runs["method"].unique()), key="hist_methods")
    keep = runs["model"].isin(models or runs["model"].unique()) & runs["method"].isin(methods or runs["method"].unique())
    shown = runs[keep]
    st.dataframe(shown.drop(columns=["environment"]), hide_index=True, width="stretch")
    picked = st.multiselect("Compare runs (by id)", list(shown["id"]), key="hist_compare")
    chosen = shown[shown["id"].isin(picked)]
    if len(chosen) and chosen["quality_metric"].nunique() == 1:
        st.plotly_chart(charts.compare_chart(chosen, "sparsity_actual", "sparsity (fraction of weights removed)",
                                             chosen["quality_metric"].iloc[0], float(chosen["quality_dense"].iloc[0]),
                                             0.0, lines=False), width="stretch")
        st.caption("Dense line: the first chosen run's dense quality; runs of different models have different baselines.")
    elif len(chosen):
        st.warning("The chosen runs use different quality metrics (perplexity vs accuracy); pick runs of one kind.")
    if store.readonly:
        return
    ids = st.multiselect("Delete runs (by id)", list(shown["id"]), key="hist_delete")
    if ids and st.button(f"Delete {len(ids)} runs", key="hist_delete_go"):
        st.success(f"Deleted {store.delete(ids)} runs.")
        st.rerun()


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
