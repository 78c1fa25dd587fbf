"""Compare: a grid of methods x sparsities on the picked model, every run stored, charts with Pareto front."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import get_model
from prune_core import charts
from prune_core.errors import PruneScopeError
from prune_core.methods import METHODS
from prune_core.run import LatencySpec
from prune_core.store import Store
from prune_core.sweep import grid_configs, parse_grid, run_sweep
from prune_core.tables import SIZE_LABELS

X_AXES = {"sparsity_actual": "sparsity (fraction of weights in scope removed)",
          "latency_ms": "measured latency (ms)"}


def page() -> None:
    """Sweep controls -> stored runs -> comparison charts and downloads."""
    st.title("Compare methods")
    st.markdown("One slider at a time is not enough: run every method over a grid of sparsities and see them on "
                "one chart, against the dense model. Every run is stored, so the History page finds it tomorrow.")
    loaded = get_model()
    if loaded is None:
        st.stop()
    c1, c2, c3 = st.columns([2, 2, 1])
    methods = c1.multiselect("Methods", list(METHODS), default=["random", "magnitude", "wanda"], key="cmp_methods")
    grid = c2.text_input("Sparsity grid (start:stop:step or a comma list)", "0:0.9:0.1", key="cmp_grid")
    allocation = c3.radio("Allocation", ["layer", "global"], key="cmp_alloc")
    try:
        configs = grid_configs(methods, parse_grid(grid),
                               allocation=allocation if not any(METHODS[m].info.needs_calibration for m in methods)
                               else "layer")
        store = Store()
    except PruneScopeError as exc:
        st.error(f"Cannot run this grid: {exc}")
        st.stop()
    st.caption(f"{len(configs)} runs; results go to `{store.path}` (set PRUNESCOPE_DATA to move it). "
               "Changing any control while it runs stops the sweep; finished runs are kept.")
    if st.button("Run sweep", type="primary", key="cmp_run"):
        bar = st.progress(0.0, text="starting…")
        try:
            frame = run_sweep(loaded, configs, store, LatencySpec.for_model(loaded.card),
                              progress=lambda i, n, c: bar.progress(i / n, text=f"{i}/{n}: {c.method} at {c.sparsity:.0%}"))
        except PruneScopeError as exc:
            st.error(f"The sweep stopped: {exc}")
            st.stop()
        bar.empty()
        st.session_state["cmp_sweep"] = frame.attrs["sweep"]
        st.success(f"{len(frame)} runs in {frame.attrs['seconds']:.1f} s (sweep {frame.attrs['sweep']}).")
    sweep = st.session_state.get("cmp_sweep")
    runs = store.runs(model=loaded.name)
    if sweep:
        runs = runs[runs["sweep"] == sweep]
    if runs.empty:
        st.info("No stored runs for this model yet: press *Run sweep*.")
        st.stop()
    metric = runs["quality_metric"].iloc[0]
    dense_q = float(runs["quality_dense"].iloc[0])
    records = pd.DataFrame([store.record(int(i)) for i in runs["id"]])
    st.plotly_chart(charts.compare_chart(runs, "sparsity_actual", X_AXES["sparsity_actual"], metric, dense_q, 0.0),
                    width="stretch")
    rep = st.selectbox("Size representation", list(SIZE_LABELS), index=list(SIZE_LABELS).index("bitmask"),
                       format_func=SIZE_LABELS.get, key="cmp_rep")
    col = f"size_pruned_{rep}"
    if col in records and records[col].notna().any():
        sized = runs.assign(size_mb=records[col].to_numpy() / 1e6).dropna(subset=["size_mb"])
        dense_mb = float(records[f"size_dense_{rep}"].dropna().iloc[0]) / 1e6 if records[f"size_dense_{rep}"].notna().any() else None
        fig = charts.compare_chart(sized, "size_mb", f"size, {SIZE_LABELS[rep]} (MB)", metric, dense_q, dense_mb,
                                   lines=False)
        st.plotly_chart(fig, width="stretch")
    else:
        st.info(f"No run of this sweep has a {SIZE_LABELS[rep]} size (it applies only to some patterns).")
    lat = charts.compare_chart(runs, "latency_ms", X_AXES["latency_ms"], metric, dense_q,
                               float(runs["latency_ms_dense"].median()), lines=False)
    st.plotly_chart(lat, width="stretch")
    st.caption("Masks do not make a dense model faster: expect the latency points to pile up at the dense "
               "latency. Ringed points are the Pareto front (no other run is both smaller/faster and better). "
               "Each chart's camera icon downloads a PNG.")
    d1, d2 = st.columns(2)
    d1.download_button("Download the table (CSV)", records.to_csv(index=False), "prunescope_runs.csv", "text/csv")
    d2.download_button("Download the latency chart (interactive HTML)", lat.to_html(include_plotlyjs="cdn"),
                       "prunescope_latency.html", "text/html")


if __name__ == "__main__":  # opened as a legacy pages/ script before st.navigation ran
    st.session_state["deep_link"] = "compare"
    st.switch_page("app.py")
