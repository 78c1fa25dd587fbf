"""One pruning run (Explore): per-layer sparsity, weight histograms, sizes, quality and latency."""
from __future__ import annotations

import textwrap

import pandas as pd
import plotly.graph_objects as go

from prune_core.quality import metric_named

from .style import AXIS, DENSE, KIND_COLOURS, PRUNED, figure, on_panel, rule, side_by_side


def layer_sparsity_chart(layers: pd.DataFrame, target: float) -> go.Figure:
    """Bars: fraction of each layer's weights removed; dashed line: the target."""
    bars = [go.Bar(x=part["layer"], y=part["sparsity"] * 100, name=kind, marker_color=KIND_COLOURS.get(kind, "#555"),
                   customdata=part[["params", "nonzero"]].to_numpy(),
                   hovertemplate="%{x}<br>sparsity %{y:.2f} %<br>%{customdata[1]:,} of "
                                 "%{customdata[0]:,} weights kept<extra></extra>")
            for kind, part in layers.groupby("kind", sort=False)]
    return figure(bars, "Sparsity per layer", "layer (model order)", "weights removed (%)", 420,
                  xaxis=dict(categoryorder="array", categoryarray=list(layers["layer"]), tickangle=-60),
                  yaxis=dict(range=[0, 100]), legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"),
                  rules=(rule("y", target * 100, dash="dash", text=f"target {target:.0%}"),
                         rule("y", 0, DENSE, text="dense: 0 %", where="bottom left")))


def histogram_chart(hist: pd.DataFrame, layer: str, threshold: float | None, removed: int) -> go.Figure:
    """Weight values before pruning vs the weights kept after, same bins, drawn as two filled steps.

    Steps, not bars: two SVG paths instead of 160 rectangles redrawn on every slider move (the
    browser's share of a move; with a class, the students' browsers often share the server's cores)."""
    width = float(hist["right"].iloc[0] - hist["left"].iloc[0])
    edges = [*hist["left"], float(hist["right"].iloc[-1])]  # each step spans its whole bin, the outer ones too
    centres = [*hist["center"], float(hist["center"].iloc[-1])]
    steps = [go.Scatter(x=edges, y=[*hist[column], int(hist[column].iloc[-1])], name=name, mode="lines",
                        line_shape="hv", line=dict(color=colour, width=1), fill="tozeroy",
                        fillcolor=_faded(colour, opacity), customdata=centres,
                        hovertemplate="w in [%{customdata:.4f} ± " + f"{width / 2:.4f}" + "]<br>%{y:,} weights<extra>"
                                      + extra + "</extra>")
             for column, name, colour, opacity, extra in (("before", "dense (before)", DENSE, 0.55, "dense"),
                                                          ("after", "kept (after)", PRUNED, 0.75, "kept"))]
    cut = () if threshold is None else (rule("x", -threshold, dash="dash"),
                                        rule("x", threshold, dash="dash", text=f"|w| = {threshold:.4f}"))
    return figure(steps, f"Weights of {layer}: before and after ({removed:,} removed, not drawn)",
                  "weight value", "number of weights", rules=cut)


def _faded(colour: str, opacity: float) -> str:
    """'#rrggbb' as an rgba() fill of that opacity."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{opacity})"


def size_chart(sizes: pd.DataFrame) -> go.Figure:
    """Bytes per storage format, dense vs pruned."""
    bars = []
    for model, colour in (("dense", DENSE), ("pruned", PRUNED)):
        part = sizes[sizes["model"] == model]
        bars.append(go.Bar(y=part["representation"], x=part["MB"], name=model, orientation="h", marker_color=colour,
                           customdata=part[["bytes", "meaning"]].to_numpy(),
                           hovertemplate="%{y}: %{customdata[0]:,} bytes<br>%{customdata[1]}<extra>" + model
                                         + "</extra>"))
    return figure(bars, "Model size by storage format", "size (MB, 10^6 bytes)", "", 340,
                  yaxis=dict(autorange="reversed"))


def _dense_pruned_bars(frame: pd.DataFrame, value: str, lo: str, hi: str, custom: list[str], hover: str,
                       panel: int) -> go.Bar:
    """Dense beside pruned as bars with asymmetric error bars from `lo` to `hi` (an interval or a spread)."""
    return go.Bar(
        x=frame["model"], y=frame[value], marker_color=[DENSE if m == "dense" else PRUNED for m in frame["model"]],
        error_y=dict(type="data", symmetric=False, array=frame[hi] - frame[value], arrayminus=frame[value] - frame[lo]),
        customdata=frame[custom].to_numpy(), hovertemplate=hover, showlegend=False, **on_panel(panel))


def measured_chart(quality: pd.DataFrame, latency: pd.DataFrame, metric: str) -> go.Figure:
    """What the measurement adds, dense beside pruned in two panels: held-out quality with its 95 % intervals
    (overlapping bars = within noise) and the median forward latency with its interquartile range.

    One chart, not two: Streamlit draws every changed chart anew in the browser (about 50 ms each on one
    core), and in a class the students' browsers may share the server's cores."""
    worded = metric_named(metric).worded
    bars = [_dense_pruned_bars(quality, "value", "lo", "hi", ["lo", "hi", "how"],
                               "%{x}: " + metric + " %{y:.4g}<br>95 % interval %{customdata[0]:.4g}–"
                               "%{customdata[1]:.4g}<br>%{customdata[2]}<extra></extra>", 1),
            _dense_pruned_bars(latency, "median_ms", "q1_ms", "q3_ms", ["q1_ms", "q3_ms", "min_ms"],
                               "%{x}: median %{y:.2f} ms<br>quartiles %{customdata[0]:.2f}–%{customdata[1]:.2f} ms"
                               "<br>min %{customdata[2]:.2f} ms<extra></extra>", 2)]
    panels = side_by_side(["", ""], 0.22, dict(AXIS), dict(AXIS))
    del panels["annotations"]  # the axis titles name the panels
    panels["yaxis"]["title"], panels["yaxis2"]["title"] = worded, "latency (ms, median, IQR)"
    # how each was measured, under the bars, wrapped: the chart sits in a narrow column and plotly does not wrap
    lines = textwrap.wrap(f"{quality['how'].iloc[0]}; same data for both.", 70) + textwrap.wrap(
        f"Latency: {latency['setup'].iloc[0]}", 70)
    how = dict(text="<br>".join(lines), xref="paper", yref="paper", x=0, y=-0.12, xanchor="left", yanchor="top",
               align="left", showarrow=False, font=dict(size=11))
    return figure(bars, f"Measured: held-out {metric} and latency", "", "", 320 + 16 * len(lines),
                  margin=dict(l=60, r=20, t=50, b=50 + 16 * len(lines)), annotations=[how], **panels)
