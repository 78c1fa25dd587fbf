"""Layers: where the sparsity goes, which layers are sensitive, a better allocation from that, and
what a pruning pattern looks like inside one weight matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages.ui import charts
from pages.ui.caches import SENSITIVITY_GRID, cached_owl, cached_proposal, cached_sensitivity, cached_summary
from pages.ui.picker import get_model
from pages.ui.disagree import disagree_section
from pages.ui.urlstate import Controls
from pages.ui.nav import hand_over
from prune_core.config import OWL_HELP, OWL_LAMBDA_RANGE, OWL_M_RANGE, PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.methods import available, get_method
from prune_core.patterns import PATTERNS, WEIGHT_LEVEL, parse_pattern
from prune_core.sensitivity import GROUPINGS
from prune_core.targets import as_out_in, find_targets

OTHER_NM = "other N:M…"
LOOK_FOR = {  # what the mask heatmap should show, per kind of pattern
    "unstructured": "Unstructured: the removed weights are scattered wherever the scores are lowest.",
    "nm": "N:M: in every row, each run of M consecutive inputs (between two grey lines) keeps exactly N; the "
          "whole-matrix view is flat because every block keeps the same share.",
    "neuron": "Neurons: whole rows go in the matrices that produce the MLP neurons (up/gate), whole columns in "
              "the one that reads them (down).",
    "head": "Heads: bands of head_dim rows go in Q/K/V (GPT-2's fused c_attn stacks Q|K|V, so each head shows "
            "three times), bands of head_dim columns in the attention output.",
}


def _spread(loaded, target: float) -> pd.DataFrame:
    """Per-layer sparsity of uniform and global magnitude pruning, from the cheap phase's summaries
    (the same entries Explore's slider moves use)."""
    rows = []
    for label, allocation in (("layer (uniform)", "layer"), ("global magnitude", "global")):
        summary = cached_summary(loaded.key, PruneConfig(method="magnitude", sparsity=target, allocation=allocation))
        rows += [{"allocation": label, "layer": s.module, "sparsity": s.sparsity} for s in summary.layers]
    return pd.DataFrame(rows)


def _owl(loaded, target: float, m: float, lam: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """OWL per block (outlier ratio, sparsity) and its per-layer rows for the allocation chart."""
    alloc = cached_owl(loaded.key, PruneConfig(method="magnitude", sparsity=target, owl_m=m, owl_lambda=lam))
    rows = pd.DataFrame([{"allocation": charts.OWL_LABEL, "layer": t.module, "sparsity": alloc.layer_sparsity[t.name]}
                         for t in find_targets(loaded.model, "all") if t.name in alloc.layer_sparsity])
    return alloc.frame(), rows


def _mask_of(loaded, module: str, method: str, pattern: str, sparsity: float) -> np.ndarray | None:
    """The keep-mask of one matrix, (out, in), with the whole model pruned by this setting (the cheap
    phase's summary, shared with Explore); None where the pattern does not touch the matrix."""
    summary = cached_summary(loaded.key, PruneConfig(method=method, sparsity=sparsity, pattern=pattern))
    target = next((t for t in summary.targets if t.module == module), None)
    return None if target is None else as_out_in(summary.keep_of(target.name), target).numpy()


def page() -> None:
    """Allocation spread, sensitivity heatmap, proposed non-uniform allocation vs uniform, mask heatmaps."""
    st.title("Layers: where should the zeros go?")
    st.markdown("Not every layer matters equally. Per-layer allocation removes the same share everywhere; a "
                "global threshold takes more from layers with small weights. Sensitivity analysis prunes one "
                "layer (or one kind of layer) at a time to measure which can take it, and spends the budget "
                "there. At the bottom: what a pruning pattern looks like inside one weight matrix.")
    url = Controls("layers")
    loaded = get_model()
    if loaded is None:
        st.stop()
    target = st.slider("Overall sparsity", 10, 90, 70, step=10, key=url.number("sparsity", "layers_target", 10, 90, 10),
                       disabled=url.locked("sparsity")) / 100
    try:
        spread = _spread(loaded, target)
    except PruneScopeError as exc:
        st.error(f"Cannot prune this model: {exc}")
        st.stop()
    owl_rows = _owl_section(loaded, target)
    if owl_rows is not None:
        spread = pd.concat([spread, owl_rows])
    if st.toggle("Run the sensitivity analysis (one evaluation per layer and sparsity)",
                 value=loaded.card.params < 5_000_000, key=url.flag("sensitivity", "layers_run"),
                 disabled=url.locked("sensitivity")):
        _sensitivity_section(loaded, target, spread, url)
    else:
        st.plotly_chart(charts.allocation_chart(spread, target), width="stretch")
    _mask_section(loaded, url)
    disagree_section(loaded)


def _sensitivity_section(loaded, target: float, spread: pd.DataFrame, url: Controls) -> None:
    group_by = st.radio("Sensitivity", list(GROUPINGS), horizontal=True,
                        key=url.select("group", "layers_group", GROUPINGS), disabled=url.locked("group"),
                        format_func=lambda g: f"by {g}",
                        help="\n\n".join(f"**by {k}**: {v}" for k, v in GROUPINGS.items()))
    what = "kind of layer" if group_by == "kind" else "layer"
    with st.spinner(f"pruning each {what} at {', '.join(f'{g:.0%}' for g in SENSITIVITY_GRID)} and evaluating…"):
        sens = cached_sensitivity(loaded.key, group_by)
    metric = loaded.card.quality_metric
    st.plotly_chart(charts.sensitivity_heatmap(sens, metric, group_by), width="stretch")
    st.caption(f"Each cell: how much worse the held-out {metric} gets when only that {what} is pruned to that "
               "sparsity (dense elsewhere)" + (", every block at once" if group_by == "kind" else "")
               + f". Pale rows are {'kinds of layer' if group_by == 'kind' else 'layers'} that can give up weights "
               "cheaply.")
    proposal = cached_proposal(loaded.key, target, group_by)
    spread = pd.concat([spread, pd.DataFrame([{"allocation": "proposed (from sensitivity)", "layer": k,
                                               "sparsity": v} for k, v in proposal.allocation.items()])])
    st.plotly_chart(charts.allocation_chart(spread, target), width="stretch")
    c1, c2 = st.columns(2)
    c1.metric(f"Uniform: {metric}", f"{proposal.uniform_quality:.4g}",
              f"{proposal.uniform_sparsity:.1%} of weights removed", delta_color="off")
    c2.metric(f"Proposed: {metric}", f"{proposal.quality:.4g}", f"{proposal.sparsity:.1%} of weights removed",
              delta_color="off")
    st.caption(f"The proposal (one sparsity per {what}) is greedy on the measured grid, so it lands at or above "
               "the target sparsity; both are magnitude pruning, evaluated on the same held-out data.")


def _owl_section(loaded, target: float) -> pd.DataFrame | None:
    """OWL's settings and its outlier profile over depth; its per-layer rows for the allocation chart."""
    if not st.toggle("Show OWL, the outlier-weighed allocation (runs the model once on calibration data)",
                     value=loaded.card.params < 5_000_000, key="layers_owl"):
        return None
    default = PruneConfig()
    c1, c2 = st.columns(2)
    m = c1.number_input("OWL M (outlier threshold, × the block's mean score)", *OWL_M_RANGE, default.owl_m, step=0.5,
                        key="layers_owl_m", help=OWL_HELP["owl_m"])
    lam = c2.number_input("OWL λ (sparsity spread around the target)", *OWL_LAMBDA_RANGE, default.owl_lambda,
                          step=0.01, format="%.2f", key="layers_owl_lambda", help=OWL_HELP["owl_lambda"])
    try:
        with st.spinner("OWL: measuring outliers block by block on calibration data…"):
            blocks, rows = _owl(loaded, target, float(m), float(lam))
    except PruneScopeError as exc:
        st.error(f"Cannot compute OWL for this model: {exc}")
        return None
    st.plotly_chart(charts.owl_chart(blocks, target, m, lam), width="stretch")
    st.caption(f"Bars: share of each block's Wanda scores |w|·‖x‖ above {m:g}× the block's mean (dense model, "
               f"{default.calib_samples} calibration samples from the training split). Line: the sparsity OWL gives the "
               f"block, within {target:.0%} ± {lam:g}, lower where there are more outliers; weighted by the blocks' "
               "sizes it averages exactly to the target. Flat bars mean OWL has little to go on for this model. "
               "Use it with `--allocation owl` (CLI) or on Compare.")
    return rows


def _mask_controls(loaded, url: Controls) -> tuple[str, str, str, float]:
    """(matrix module, method, pattern, sparsity) picked by the user; PruneScopeError for a bad N:M."""
    modules = [t.module for t in find_targets(loaded.model, "all")]
    c1, c2, c3, c4 = st.columns(4)
    module = c1.selectbox("Weight matrix", modules, key=url.select("matrix", "layers_matrix", modules),
                          disabled=url.locked("matrix"))
    choice = c2.selectbox("Pattern", list(PATTERNS) + [OTHER_NM], disabled=url.locked("pattern"),
                          key=url.select("pattern", "layers_pattern", list(PATTERNS) + [OTHER_NM]),
                          help="\n\n".join(f"**{k}**: {v}" for k, v in PATTERNS.items()))
    pattern = c2.text_input("N:M (keep N of every M inputs)", "1:4", key=url.text("nm", "layers_nm", _nm_only),
                            disabled=url.locked("nm")).strip() \
        if choice == OTHER_NM else choice
    parsed = parse_pattern(pattern)
    choices = list(available(parsed))  # whole units (neuron, head) have their own, unit-importance methods
    kind = "weights" if parsed.granularity in WEIGHT_LEVEL else "units"
    method = c3.selectbox("Method", choices, index=choices.index("magnitude"), disabled=url.locked("method"),
                          key=url.select("method", f"layers_method_{kind}",
                                         choices, f" for the pattern {pattern}"))
    if parsed.fixed_sparsity is not None:
        c4.slider("Sparsity (%)", 0, 95, round(parsed.fixed_sparsity * 100), disabled=True, key="layers_mask_nm",
                  help=f"{pattern} always removes {parsed.fixed_sparsity:.0%}")
        return module, method, pattern, parsed.fixed_sparsity
    unit = {"neuron": "MLP neurons", "head": "attention heads"}.get(parsed.unit, "weights")
    return module, method, pattern, c4.slider(f"Sparsity (% of {unit})", 5, 95, 50, step=5,
                                              key=url.number("mask_sparsity", "layers_mask_sparsity", 5, 95, 5),
                                              disabled=url.locked("mask_sparsity")) / 100


def _nm_only(text: str) -> None:
    """A typed pattern must be N:M (what the text box is for)."""
    if not parse_pattern(text.strip()).is_nm:
        raise ValueError(f"{text} is not an N:M pattern")


def _mask_section(loaded, url: Controls) -> None:
    st.subheader("Inside one matrix: the mask")
    try:
        try:
            module, method, pattern, sparsity = _mask_controls(loaded, url)
        finally:  # the link and the notes also when a typed N:M is wrong
            url.done()
        parsed = parse_pattern(pattern)
        needs_data = get_method(method, parsed).info.needs_calibration
        with st.spinner(f"pruning {loaded.name} with {method} ({pattern})" +
                        (" on calibration data…" if needs_data else "…")):
            mask = _mask_of(loaded, module, method, pattern, sparsity)
    except PruneScopeError as exc:
        st.error(f"Cannot build this mask: {exc}")
        return
    if mask is None:
        st.info(f"The {pattern} pattern does not touch {module}: pick "
                f"{'an MLP' if parsed.unit == 'neuron' else 'an attention'} matrix to see which weights go.")
        return
    fig = charts.mask_heatmap(mask, f"{module}: {method}, {pattern}", group=parsed.m or None)
    st.plotly_chart(fig, width="stretch")
    key = parsed.unit or ("nm" if parsed.is_nm else "unstructured")
    st.caption(f"Dark = kept, pale = removed; the whole model was pruned with these settings (layer allocation"
               f"{', default calibration data' if needs_data else ''}) and this matrix is shown. {LOOK_FOR[key]}")


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
