"""Explore's charts: sparsity per layer, one layer's weight histogram and the sizes at once (from the
weights and masks); quality and latency in one chart once measured, "measuring…" until then."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from pages.ui.live_chart import live_chart
from pages.ui.urlstate import Controls, widget_class
from pages.ui import charts
from prune_core.run import PruneResult
from prune_core.summary import MaskSummary
from prune_core.tables import histogram_frame, latency_frame, layers_frame, quality_frame, sizes_frame
from prune_core.zoo import LoadedModel


MEASURED = "explore_measured"  # the measured chart's key (its element's CSS class: urlstate.widget_class)


@dataclass
class Figures:
    """Where the measured chart goes, and the note that says it is being measured."""

    note: object  # "measuring…" above the chart until the measurement is done
    column: object  # the chart is appended to this column once measured

    @classmethod
    def draw(cls, loaded: LoadedModel, summary: MaskSummary, target: float, measure_file: bool,
             url: Controls) -> "Figures":
        """Every chart the counts can draw; "measuring…" where the measured one goes. `target`: the line on
        the per-layer chart. Each chart keeps its key from move to move, so the browser updates it in place
        (pages/ui/live_chart.py); the measured one of the last move stays, greyed out under "measuring…", until
        the new one replaces it."""
        layers = layers_frame(summary)
        live_chart(charts.layer_sparsity_chart(layers, target), "explore_layers")
        st.caption("Each bar is one weight matrix. With *layer* allocation every bar sits on the target line; with "
                   "*global* allocation one threshold is shared, so layers with small weights lose more.")
        left, right = st.columns([3, 2])
        with left:
            layer_name = st.selectbox("Layer for the weight histogram", list(layers["layer"]),
                                      key=url.select("layer", "hist_layer", layers["layer"]),
                                      disabled=url.locked("layer"))
            row = layers[layers["layer"] == layer_name].iloc[0]
            target_layer = next(t for t in summary.layers if t.module == row["module"])
            dense_w, pruned_w = summary.weight_pair(loaded.model, target_layer)
            live_chart(charts.histogram_chart(histogram_frame(dense_w, pruned_w), layer_name, target_layer.threshold,
                                              target_layer.params - target_layer.nonzero), "explore_histogram")
            st.caption("Grey: all weights before pruning. Orange: the weights that survive. Magnitude pruning cuts "
                       "out a band around zero (dashed lines: the cut); random pruning thins every value evenly.")
        with right:
            live_chart(charts.size_chart(sizes_frame(summary)), "explore_sizes")
            st.caption("Masks do not shrink the dense fp32 model. Sparse formats pay for indices: CSR only wins at "
                       "high sparsity; a bitmask wins earlier; 2:4 appears only when that pattern holds."
                       + (" The zstd file size is on the card above, measured with quality and latency."
                          if measure_file else ""))
            note = st.empty()
            with note.container():
                st.info(f"Held-out {loaded.card.quality_metric} and latency: measuring…", icon=":material/hourglass_top:")
                # the last move's chart, until the new one replaces it: greyed out and without hover, never
                # read as current (markdown, not st.html: a style-only st.html goes to a page-wide container
                # that outlives the note)
                st.markdown(f"<style>.{widget_class(MEASURED)} {{ opacity: 0.25; filter: grayscale(1); "
                            "pointer-events: none; }</style>", unsafe_allow_html=True)
        # on request, not in a closed expander: its rows were sent and drawn on every slider move anyway
        # (about 0.09 s of the browser's time per move for the tiny GPT, more for SmolLM2's 210 layers)
        if st.toggle("Per-layer table", key="layer_table", help="Every weight matrix with its size, nonzero "
                     "count, sparsity and magnitude cut."):
            st.dataframe(layers[["layer", "kind", "out_features", "in_features", "params", "nonzero", "sparsity",
                                 "threshold"]], hide_index=True, width="stretch")
        return cls(note=note, column=right)

    def fill(self, result: PruneResult) -> None:
        """The measured chart in its place, then the note (and its greying) gone."""
        with self.column:
            live_chart(charts.measured_chart(quality_frame(result), latency_frame(result), result.quality_metric),
                       MEASURED)
        self.note.empty()
