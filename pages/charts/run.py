"""One pruning run (Explore): per-layer sparsity, weight histograms, sizes, quality and latency."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from prune_core.quality import metric_named

from .style import DENSE, KIND_COLOURS, PRUNED, layout


def layer_sparsity_chart(layers: pd.DataFrame, target: float) -> go.Figure:
    """Bars: fraction of each layer's weights removed; dashed line: the target."""
    fig = go.Figure()
    for kind, part in layers.groupby("kind", sort=False):
        fig.add_bar(x=part["layer"], y=part["sparsity"] * 100, name=kind,
                    marker_color=KIND_COLOURS.get(kind, "#555"),
                    customdata=part[["params", "nonzero"]].to_numpy(),
                    hovertemplate="%{x}<br>sparsity %{y:.2f} %<br>%{customdata[1]:,} of "
                                  "%{customdata[0]:,} weights kept<extra></extra>")
    fig.add_hline(y=target * 100, line_dash="dash", line_color="black",
                  annotation_text=f"target {target:.0%}", annotation_position="top left")
    fig.add_hline(y=0, line_color=DENSE, annotation_text="dense: 0 %", annotation_position="bottom left")
    fig.update_xaxes(categoryorder="array", categoryarray=list(layers["layer"]), tickangle=-60)
    return layout(fig, "Sparsity per layer", "layer (model order)", "weights removed (%)", 420).update_yaxes(
        range=[0, 100])


def histogram_chart(hist: pd.DataFrame, layer: str, threshold: float | None, removed: int) -> go.Figure:
    """Weight values before pruning vs the weights kept after, same bins, drawn as two filled steps.

    Steps, not bars: two SVG paths instead of 160 rectangles redrawn on every slider move (the
    browser's share of a move; with a class, the students' browsers often share the server's cores)."""
    fig = go.Figure()
    width = float(hist["right"].iloc[0] - hist["left"].iloc[0])
    for column, name, colour, opacity, extra in (("before", "dense (before)", DENSE, 0.55, "dense"),
                                                 ("after", "kept (after)", PRUNED, 0.75, "kept")):
        fig.add_scatter(x=hist["center"], y=hist[column], name=name, mode="lines", line_shape="hvh",
                        line=dict(color=colour, width=1), fill="tozeroy", fillcolor=_faded(colour, opacity),
                        hovertemplate="w in [%{x:.4f} ± " + f"{width / 2:.4f}" + "]<br>%{y:,} weights<extra>"
                                      + extra + "</extra>")
    if threshold is not None:
        for x in (-threshold, threshold):
            fig.add_vline(x=x, line_dash="dash", line_color="black")
        fig.add_annotation(x=threshold, y=1, yref="paper", text=f"|w| = {threshold:.4f}", showarrow=False,
                           xanchor="left")
    return layout(fig, f"Weights of {layer}: before and after ({removed:,} removed, not drawn)",
                  "weight value", "number of weights")


def _faded(colour: str, opacity: float) -> str:
    """'#rrggbb' as an rgba() fill of that opacity."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{opacity})"


def size_chart(sizes: pd.DataFrame) -> go.Figure:
    """Bytes per storage format, dense vs pruned."""
    fig = go.Figure()
    for model, colour in (("dense", DENSE), ("pruned", PRUNED)):
        part = sizes[sizes["model"] == model]
        fig.add_bar(y=part["representation"], x=part["MB"], name=model, orientation="h", marker_color=colour,
                    customdata=part[["bytes", "meaning"]].to_numpy(),
                    hovertemplate="%{y}: %{customdata[0]:,} bytes<br>%{customdata[1]}<extra>" + model + "</extra>")
    fig.update_yaxes(autorange="reversed")
    return layout(fig, "Model size by storage format", "size (MB, 10^6 bytes)", "", 340)


def _dense_pruned_bars(frame: pd.DataFrame, value: str, lo: str, hi: str, custom: list[str],
                       hover: str) -> go.Figure:
    """Dense beside pruned as bars with asymmetric error bars from `lo` to `hi` (an interval or a spread)."""
    return go.Figure(go.Bar(
        x=frame["model"], y=frame[value], marker_color=[DENSE if m == "dense" else PRUNED for m in frame["model"]],
        error_y=dict(type="data", symmetric=False, array=frame[hi] - frame[value], arrayminus=frame[value] - frame[lo]),
        customdata=frame[custom].to_numpy(), hovertemplate=hover))


def quality_chart(quality: pd.DataFrame, metric: str) -> go.Figure:
    """Held-out quality of dense and pruned with their 95 % intervals: overlapping bars = within noise."""
    fig = _dense_pruned_bars(quality, "value", "lo", "hi", ["lo", "hi", "how"],
                             "%{x}: " + metric + " %{y:.4g}<br>95 % interval %{customdata[0]:.4g}–%{customdata[1]:.4g}"
                             "<br>%{customdata[2]}<extra></extra>")
    how = quality["how"].iloc[0]
    return layout(fig, f"Held-out {metric} with 95 % intervals<br><sup>{how}; same data for both</sup>", "",
                   metric_named(metric).worded, 340)


def latency_chart(latency: pd.DataFrame) -> go.Figure:
    """Median forward latency with the interquartile range as error bars."""
    fig = _dense_pruned_bars(latency, "median_ms", "q1_ms", "q3_ms", ["q1_ms", "q3_ms", "min_ms"],
                             "%{x}: median %{y:.2f} ms<br>quartiles %{customdata[0]:.2f}–%{customdata[1]:.2f} ms"
                             "<br>min %{customdata[2]:.2f} ms<extra></extra>")
    setup = latency["setup"].iloc[0]
    return layout(fig, f"Forward latency (measured)<br><sup>{setup}</sup>", "", "milliseconds (median, IQR)", 340)
