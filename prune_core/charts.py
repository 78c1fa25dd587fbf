"""Pure functions DataFrame -> Plotly Figure, shared by pages and exports.

Every chart has a title, axis units, hover with exact values and the dense reference.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

DENSE, PRUNED = "#7f8c8d", "#d35400"
KIND_COLOURS = {"attention": "#2e86de", "mlp": "#e67e22", "head": "#8e44ad"}


# plotly_white's look, written out: naming the template makes plotly deep-copy all of it into every
# figure (15 of the 20 ms a small chart costs to build, several times per slider move).
_AXIS = dict(gridcolor="#EBF0F8", linecolor="#EBF0F8", zerolinecolor="#EBF0F8", automargin=True)
_LOOK = dict(template="none", paper_bgcolor="white", plot_bgcolor="white", font=dict(color="#2a3f5f"))


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=60, b=60),
                      legend=dict(orientation="h", y=-0.25), xaxis=dict(_AXIS, title=x), yaxis=dict(_AXIS, title=y),
                      **_LOOK)
    return fig


def standalone_html(fig: go.Figure) -> str:
    """The chart as one HTML file with plotly.js inside (~4.6 MB): it opens offline, where a CDN link
    would leave a blank page."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


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
    return _layout(fig, "Sparsity per layer", "layer (model order)", "weights removed (%)", 420).update_yaxes(
        range=[0, 100])


def histogram_chart(hist: pd.DataFrame, layer: str, threshold: float | None, removed: int) -> go.Figure:
    """Weight values before pruning vs the weights kept after, same bins."""
    fig = go.Figure()
    width = float(hist["right"].iloc[0] - hist["left"].iloc[0])
    fig.add_bar(x=hist["center"], y=hist["before"], width=width, name="dense (before)", marker_color=DENSE,
                opacity=0.55, hovertemplate="w in [%{x:.4f} ± " + f"{width / 2:.4f}" + "]<br>%{y:,} weights<extra>dense</extra>")
    fig.add_bar(x=hist["center"], y=hist["after"], width=width, name="kept (after)", marker_color=PRUNED,
                opacity=0.75, hovertemplate="w in [%{x:.4f} ± " + f"{width / 2:.4f}" + "]<br>%{y:,} weights<extra>kept</extra>")
    if threshold is not None:
        for x in (-threshold, threshold):
            fig.add_vline(x=x, line_dash="dash", line_color="black")
        fig.add_annotation(x=threshold, y=1, yref="paper", text=f"|w| = {threshold:.4f}", showarrow=False,
                           xanchor="left")
    fig.update_layout(barmode="overlay")
    return _layout(fig, f"Weights of {layer}: before and after ({removed:,} removed, not drawn)",
                   "weight value", "number of weights")


def size_chart(sizes: pd.DataFrame) -> go.Figure:
    """Bytes per storage format, dense vs pruned."""
    fig = go.Figure()
    for model, colour in (("dense", DENSE), ("pruned", PRUNED)):
        part = sizes[sizes["model"] == model]
        fig.add_bar(y=part["representation"], x=part["MB"], name=model, orientation="h", marker_color=colour,
                    customdata=part[["bytes", "meaning"]].to_numpy(),
                    hovertemplate="%{y}: %{customdata[0]:,} bytes<br>%{customdata[1]}<extra>" + model + "</extra>")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Model size by storage format", "size (MB, 10^6 bytes)", "", 340)


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
    return _layout(fig, f"Held-out {metric} with 95 % intervals<br><sup>{how}; same data for both</sup>", "",
                   metric + (" (lower is better)" if metric == "perplexity" else " (higher is better)"), 340)


def latency_chart(latency: pd.DataFrame) -> go.Figure:
    """Median forward latency with the interquartile range as error bars."""
    fig = _dense_pruned_bars(latency, "median_ms", "q1_ms", "q3_ms", ["q1_ms", "q3_ms", "min_ms"],
                             "%{x}: median %{y:.2f} ms<br>quartiles %{customdata[0]:.2f}–%{customdata[1]:.2f} ms"
                             "<br>min %{customdata[2]:.2f} ms<extra></extra>")
    setup = latency["setup"].iloc[0]
    return _layout(fig, f"Forward latency (measured)<br><sup>{setup}</sup>", "", "milliseconds (median, IQR)", 340)


def gpu_speedup_chart(df: pd.DataFrame, mode: str, how: str = "recorded") -> go.Figure:
    """2:4-vs-dense speedups on a GPU (recorded or measured live), per layer shape and end to end."""
    part = df[df["mode"] == mode]
    fig = go.Figure()
    for name, rows in part.groupby("name", sort=False):
        fig.add_scatter(x=rows["tokens"], y=rows["speedup"], mode="lines+markers", name=name,
                        customdata=rows[["dense_ms", "sparse_ms", "batch", "shape"]].to_numpy(),
                        hovertemplate="%{x} tokens (batch %{customdata[2]})<br>speedup %{y:.2f}x<br>dense "
                                      "%{customdata[0]:.3f} ms, 2:4 %{customdata[1]:.3f} ms<br>%{customdata[3]}"
                                      "<extra>" + name + "</extra>")
    fig.add_hline(y=1.0, line_dash="dash", line_color=DENSE, annotation_text="dense = 1x")
    fig.add_hline(y=2.0, line_dash="dot", line_color="black", annotation_text="ideal 2:4 limit 2x")
    fig.update_xaxes(type="log")
    meta = part.iloc[0] if len(part) else None
    sub = f"{meta['gpu']}, torch {meta['torch']}, {meta['dtype']}, {mode}, {how} {meta['date']}" if meta is not None else ""
    return _layout(fig, f"2:4 semi-structured vs dense on GPU<br><sup>{sub}</sup>", "tokens per call (log)",
                   "speedup over dense (x)", 420)


def speed_bars(df: pd.DataFrame) -> go.Figure:
    """Measured latency of each speed variant, with the FLOP-ideal as a marker."""
    fig = go.Figure()
    fig.add_bar(x=df["variant"], y=df["median_ms"], name="measured",
                marker_color=[DENSE if v == "dense" else PRUNED for v in df["variant"]],
                error_y=dict(type="data", symmetric=False, array=df["q3_ms"] - df["median_ms"],
                             arrayminus=df["median_ms"] - df["q1_ms"]),
                customdata=df[["gflops", "ideal_ms"]].to_numpy(),
                hovertemplate="%{x}: %{y:.2f} ms (median)<br>%{customdata[0]:.3f} GFLOP in linear layers"
                              "<br>FLOP-ideal %{customdata[1]:.2f} ms<extra></extra>")
    fig.add_scatter(x=df["variant"], y=df["ideal_ms"], mode="markers", name="ideal from FLOPs",
                    marker=dict(symbol="line-ew-open", size=40, line=dict(width=3, color="black")),
                    hovertemplate="%{x}: ideal %{y:.2f} ms<extra></extra>")
    setup = df["setup"].iloc[0]
    return _layout(fig, f"Same batch, every variant (measured)<br><sup>{setup}</sup>", "", "milliseconds", 400)


def sweep_chart(df: pd.DataFrame, x: str, x_title: str, title: str, log_x: bool = False) -> go.Figure:
    """Median latency of each variant over a sweep (batch size or sparsity)."""
    fig = go.Figure()
    colours = {"dense": DENSE, "masked": "#f39c12", "csr": "#c0392b", "structured": "#27ae60"}
    for variant, rows in df.groupby("variant", sort=False):
        fig.add_scatter(x=rows[x], y=rows["median_ms"], mode="lines+markers", name=variant,
                        line=dict(color=colours.get(variant)),
                        hovertemplate=f"{x} %{{x}}<br>%{{y:.3f}} ms<extra>{variant}</extra>")
    if log_x:
        fig.update_xaxes(type="log")
    return _layout(fig, title, x_title, "milliseconds (median)", 380)


def tradeoff_chart(df: pd.DataFrame, quality_metric: str) -> go.Figure:
    """Quality against measured latency and against parameters removed, for both kinds of pruning."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("quality vs measured latency",
                                                        "quality vs share of parameters removed"))
    colours = {"dense": DENSE, "unstructured (masked)": "#f39c12", "structured (MLP neurons)": "#27ae60"}
    for kind, rows in df.groupby("kind", sort=False):
        text = [f"{s:.0%}" for s in rows["sparsity"]]
        common = dict(mode="markers+lines+text" if kind != "dense" else "markers", name=kind, text=text,
                      textposition="top center", marker=dict(size=11, color=colours.get(kind)))
        fig.add_scatter(x=rows["median_ms"], y=rows["quality"], row=1, col=1, legendgroup=kind,
                        hovertemplate="%{text}: %{x:.2f} ms, " + quality_metric + " %{y:.4g}<extra>" + kind + "</extra>",
                        **common)
        fig.add_scatter(x=rows["params_removed"] * 100, y=rows["quality"], row=1, col=2, legendgroup=kind,
                        showlegend=False, hovertemplate="%{text}: %{x:.1f} % removed, " + quality_metric +
                        " %{y:.4g}<extra>" + kind + "</extra>", **common)
    fig.update_xaxes(title_text="milliseconds (median)", row=1, col=1)
    fig.update_xaxes(title_text="parameters removed (%)", row=1, col=2)
    fig.update_yaxes(title_text=quality_metric, row=1, col=1)
    if quality_metric == "perplexity":
        fig.update_yaxes(type="log", row=1, col=1)
        fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(**_AXIS).update_yaxes(**_AXIS)
    fig.update_layout(title="Speed and size against quality: unstructured vs structured", **_LOOK, height=420, legend=dict(orientation="h", y=-0.25),
                      margin=dict(l=60, r=20, t=80, b=60))
    return fig


def pareto_front(df: pd.DataFrame, x: str, y: str, lower_y_better: bool) -> pd.Series:
    """True for runs no other run beats on both x (lower is better) and quality."""
    sign = 1 if lower_y_better else -1
    pts = list(zip(df[x], sign * df[y]))
    return pd.Series([not any((a <= px and b <= py) and (a < px or b < py) for a, b in pts) for px, py in pts],
                     index=df.index)


def compare_chart(df: pd.DataFrame, x: str, x_title: str, quality_metric: str, dense_quality: float,
                  dense_x: float | None = None, mark_pareto: bool = True, lines: bool = True,
                  series: str = "method") -> go.Figure:
    """Quality of every run against x, one series per value of `series` (the method, or a label that
    also names the allocation); dense baseline; Pareto front ringed."""
    lower = quality_metric == "perplexity"
    fig = go.Figure()
    palette = ["#8e44ad", "#16a085", "#e74c3c", "#2e86de", "#f39c12", "#7f8c8d", "#d35400", "#27ae60"]
    colour = {m: palette[i % len(palette)] for i, m in enumerate(sorted(df[series].unique()))}
    for method, rows in df.sort_values(x).groupby(series, sort=True):
        fig.add_scatter(x=rows[x], y=rows["quality"], mode="lines+markers" if lines else "markers", name=method,
                        marker_color=colour[method], line_color=colour[method],
                        customdata=rows[["sparsity_target", "pattern", "allocation", "seed"]].to_numpy(),
                        hovertemplate=f"{x_title} %{{x:.4g}}<br>{quality_metric} %{{y:.4g}}<br>sparsity "
                                      "%{customdata[0]:.2f}, %{customdata[1]}, %{customdata[2]}, seed "
                                      f"%{{customdata[3]}}<extra>{method}</extra>")
    fig.add_hline(y=dense_quality, line_dash="dash", line_color=DENSE, annotation_text=f"dense {dense_quality:.4g}")
    if dense_x is not None:
        fig.add_scatter(x=[dense_x], y=[dense_quality], mode="markers", name="dense",
                        marker=dict(symbol="star", size=14, color=DENSE))
    if mark_pareto and len(df):
        front = df[pareto_front(df, x, "quality", lower)]
        fig.add_scatter(x=front[x], y=front["quality"], mode="markers", name="Pareto front",
                        marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color="black")),
                        hoverinfo="skip")
    if lower:
        import math

        values = [v for v in list(df["quality"]) + [dense_quality] if v and v > 0]
        fig.update_yaxes(type="log", range=[math.log10(min(values)) - 0.05, math.log10(max(values)) + 0.05])
    return _layout(fig, f"{quality_metric} vs {x_title}", x_title, f"held-out {quality_metric}", 420)


def sensitivity_heatmap(sens: pd.DataFrame, quality_metric: str, group_by: str = "layer") -> go.Figure:
    """Layers (or kinds of layer) x sparsity, coloured by the quality lost when only that group is pruned."""
    table = sens.pivot_table(index="layer", columns="sparsity", values="damage", sort=False)
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(), x=[f"{c:.0%}" for c in table.columns], y=list(table.index), colorscale="Reds",
        colorbar=dict(title="quality lost"),
        hovertemplate="%{y}<br>sparsity %{x}<br>" + quality_metric + " worse by %{z:.4g}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    by_kind = group_by == "kind"
    what = "one kind of layer (all blocks)" if by_kind else "one layer"
    return _layout(fig, f"Sensitivity: {what} pruned at a time (magnitude)",
                   f"sparsity of the pruned {'kind' if by_kind else 'layer'}",
                   "kind of layer" if by_kind else "layer (model order)", max(360, 22 * len(table) + 120))


def allocation_chart(spread: pd.DataFrame, target: float) -> go.Figure:
    """Per-layer sparsity of several allocations side by side."""
    fig = go.Figure()
    colours = {"layer (uniform)": DENSE, "global magnitude": PRUNED, "proposed (from sensitivity)": "#27ae60",
               OWL_LABEL: OWL_COLOUR}
    for name, rows in spread.groupby("allocation", sort=False):
        fig.add_bar(x=rows["layer"], y=rows["sparsity"] * 100, name=name, marker_color=colours.get(name),
                    hovertemplate="%{x}<br>%{y:.1f} % removed<extra>" + name + "</extra>")
    fig.add_hline(y=target * 100, line_dash="dash", line_color="black", annotation_text=f"target {target:.0%}")
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=-60)
    return _layout(fig, "How each allocation spreads the sparsity over the layers", "layer (model order)",
                   "weights removed (%)", 420)


OWL_LABEL, OWL_COLOUR = "OWL (outlier-weighed)", "#8e44ad"


def owl_chart(blocks: pd.DataFrame, target: float, m: float, lam: float) -> go.Figure:
    """OWL per block: outlier ratio (bars, left axis) and the sparsity it gives (line, right axis), with the
    uniform target and its ± λ band. `blocks`: OwlAllocation.frame()."""
    fig = go.Figure()
    fig.add_bar(x=blocks["block"], y=blocks["outlier_ratio"] * 100, name=f"outlier ratio (scores > {m:g} × block mean)",
                marker_color="#d5c4e0", customdata=blocks[["params"]].to_numpy(),
                hovertemplate="block %{x}<br>%{y:.3f} % of its Wanda scores are outliers<br>%{customdata[0]:,} "
                              "weights in scope<extra></extra>")
    fig.add_scatter(x=blocks["block"], y=blocks["sparsity"] * 100, yaxis="y2", mode="lines+markers", name="OWL sparsity",
                    line=dict(color=OWL_COLOUR), hovertemplate="block %{x}<br>%{y:.2f} % removed<extra>OWL</extra>")
    fig.add_scatter(x=blocks["block"], y=[target * 100] * len(blocks), yaxis="y2", mode="lines",
                    name=f"uniform: {target:.0%} everywhere", line=dict(color="black", dash="dash"),
                    hovertemplate="%{y:.0f} %<extra>uniform</extra>")
    pad = 1.5 * max(lam, 0.02)  # the ± λ band and a margin; a flat line (λ = 0) still gets a readable axis
    fig.update_layout(yaxis2=dict(title="weights removed (%)", overlaying="y", side="right", showgrid=False,
                                  range=[max(0.0, target - pad) * 100, min(1.0, target + pad) * 100]))
    fig.update_xaxes(dtick=1 if len(blocks) <= 32 else None)
    return _layout(fig, f"OWL: outliers and sparsity per block (M = {m:g}, λ = {lam:g})",
                   "Transformer block (input side first)", "outlier ratio (% of the block's weights)",
                   400).update_layout(margin=dict(l=60, r=70, t=60, b=60))


KEPT, REMOVED = "#1f618d", "#fbeee6"


def _block_share(mask: np.ndarray, block: int) -> np.ndarray:
    """Share of weights kept in each block x block tile; edge tiles average only the weights they hold."""
    rows, cols = mask.shape
    r, c = -(-rows // block), -(-cols // block)
    padded = np.full((r * block, c * block), np.nan)
    padded[:rows, :cols] = mask
    return np.nanmean(padded.reshape(r, block, c, block), axis=(1, 3))


def mask_heatmap(mask, title: str, crop: int = 64, max_cells: int = 192, group: int | None = None) -> go.Figure:
    """Which weights of one (out_features, in_features) matrix a mask keeps (True = kept).

    Left: the top-left `crop` x `crop` corner, every weight drawn, so N:M groups and unit
    rows/columns are visible (`group`=M draws a line between groups of M inputs). Right: the whole
    matrix, shrunk honestly when it has more than `max_cells` rows or columns: each cell is the
    share kept in a square block (said in the subtitle).
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    block = max(1, -(-max(rows, cols) // max_cells))
    kept = float(mask.mean())
    whole = _block_share(mask, block)
    scale = [[0.0, REMOVED], [1.0, KEPT]]
    bar = dict(title="share kept", tickvals=[0, 0.5, 1], ticktext=["0 (removed)", "0.5", "1 (kept)"])
    panels = []  # (z, x centres, y centres, hover customdata, hover template, panel title)
    cr, cc = min(crop, rows), min(crop, cols)
    if (cr, cc) != (rows, cols):
        z = mask[:cr, :cc].astype(float)
        panels.append((z, np.arange(cc), np.arange(cr), None,
                       "output %{y}, input %{x}: %{z:.0f} (1 = kept, 0 = removed)<extra>corner</extra>",
                       f"first {cr}×{cc} weights (every weight)"))
    starts_y, starts_x = np.arange(whole.shape[0]) * block, np.arange(whole.shape[1]) * block
    ends_y, ends_x = np.minimum(starts_y + block, rows) - 1, np.minimum(starts_x + block, cols) - 1
    custom = np.stack(np.broadcast_arrays(starts_y[:, None], ends_y[:, None], starts_x[None, :], ends_x[None, :]), -1)
    panels.append((whole, (starts_x + ends_x) / 2, (starts_y + ends_y) / 2, custom,
                   "outputs %{customdata[0]}–%{customdata[1]}, inputs %{customdata[2]}–%{customdata[3]}<br>"
                   "%{z:.1%} kept<extra>whole matrix</extra>",
                   f"whole {rows}×{cols} matrix" + (f", each cell = share kept in a {block}×{block} block"
                                                     if block > 1 else " (every weight)")))
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[5] for p in panels], horizontal_spacing=0.12)
    for i, (z, x, y, custom, hover, _) in enumerate(panels, start=1):
        fig.add_heatmap(z=z, x=x, y=y, customdata=custom, hovertemplate=hover, colorscale=scale, zmin=0, zmax=1,
                        showscale=i == len(panels), colorbar=bar, row=1, col=i)
        fig.update_xaxes(title_text="input features (columns)", constrain="domain", row=1, col=i)
        fig.update_yaxes(title_text="output features (rows)", autorange="reversed", constrain="domain",
                         scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    if group and group > 1:  # N:M: separate the groups of M inputs in the full-resolution panel
        for x in np.arange(group, panels[0][0].shape[1], group) - 0.5:
            fig.add_shape(type="line", x0=x, x1=x, y0=-0.5, y1=panels[0][0].shape[0] - 0.5,
                          line=dict(color="#17202a", width=1.5), opacity=0.7, row=1, col=1)
    if len(panels) == 2:  # where the corner lies in the whole matrix
        fig.add_shape(type="rect", x0=-0.5, y0=-0.5, x1=cc - 0.5, y1=cr - 0.5, line=dict(color=PRUNED, width=2),
                      row=1, col=2)
    fig.update_layout(title=f"{title}<br><sup>{kept:.1%} of {mask.size:,} weights kept (dense keeps 100 %); "
                            f"rows = output features, columns = input features</sup>",
                      **_LOOK, height=600, margin=dict(l=60, r=20, t=110, b=60))
    return fig


def tolerance_chart(table: pd.DataFrame) -> go.Figure:
    """Claim (b): the largest share of prunable weights each method removes within the tolerance."""
    fig = go.Figure()
    fig.add_bar(x=table["series"], y=table["share_removed"] * 100, marker_color=PRUNED,
                customdata=table[["max_sparsity", "quality"]].to_numpy(),
                hovertemplate="%{x}<br>%{y:.1f} % of prunable weights removed<br>grid sparsity %{customdata[0]:.0%}"
                              "<br>quality there %{customdata[1]:.4g}<extra></extra>")
    fig.add_hline(y=0, line_color=DENSE, annotation_text="dense: nothing removed", annotation_position="bottom left")
    return _layout(fig, "Most weights removed within the tolerance", "method",
                   "prunable (Linear) weights removed (%)").update_yaxes(range=[0, 100])


def recovery_chart(frame: pd.DataFrame, column: str, title: str, y_title: str) -> go.Figure:
    """Claim (c): one point per seed for each variant, with the mean and the min-max range."""
    fig = go.Figure()
    colours = {"dense": DENSE, "pruned + fine-tuned": PRUNED, "dense + fine-tuned (control)": "#2e86de"}
    data = frame.dropna(subset=[column])
    for variant, part in data.groupby("variant", sort=False):
        q = part[column]
        fig.add_scatter(x=[variant] * len(part), y=q, mode="markers", name=variant, showlegend=False,
                        marker=dict(size=9, color=colours.get(variant, "#8e44ad"), opacity=0.6),
                        customdata=part[["seed"]].to_numpy(),
                        hovertemplate="%{x}<br>seed %{customdata[0]}: %{y:.4g}<extra></extra>")
        fig.add_scatter(x=[variant], y=[q.mean()], mode="markers", showlegend=False,
                        error_y=dict(type="data", symmetric=False, array=[q.max() - q.mean()],
                                     arrayminus=[q.mean() - q.min()]),
                        marker=dict(symbol="line-ew-open", size=30, line=dict(width=3, color="black")),
                        hovertemplate=f"%{{x}}<br>mean %{{y:.4g}} over {len(q)} seed(s), range "
                                      f"{q.min():.4g}–{q.max():.4g}<extra></extra>")
    dense = data.loc[data["variant"] == "dense", column]
    if len(dense):
        fig.add_hline(y=float(dense.mean()), line_dash="dash", line_color=DENSE, annotation_text="dense")
    return _layout(fig, title, "model", y_title)


def training_curve(curve: pd.DataFrame, val_loss_dense: float | None, title: str) -> go.Figure:
    """Fine-tuning: batch loss per step, validation loss at each evaluation, sparsity on the right axis."""
    fig = go.Figure()
    fig.add_scatter(x=curve["step"], y=curve["train_loss"], mode="lines", name="training loss (batch)",
                    line=dict(color=PRUNED, width=1), opacity=0.6,
                    hovertemplate="step %{x}<br>batch loss %{y:.4f}<extra></extra>")
    val = curve.dropna(subset=["val_loss"])
    fig.add_scatter(x=val["step"], y=val["val_loss"], mode="lines+markers", name="validation loss (held-out)",
                    line=dict(color="#2e86de", width=2),
                    hovertemplate="step %{x}<br>validation loss %{y:.4f}<extra></extra>")
    fig.add_scatter(x=curve["step"], y=curve["sparsity"] * 100, mode="lines", name="sparsity (%)", yaxis="y2",
                    line=dict(color="black", dash="dot", width=1),
                    hovertemplate="step %{x}<br>sparsity %{y:.1f} %<extra></extra>")
    if val_loss_dense is not None:  # known once the run has measured the dense model
        fig.add_hline(y=val_loss_dense, line_dash="dash", line_color=DENSE,
                      annotation_text=f"dense validation loss {val_loss_dense:.4f}")
    fig.update_layout(yaxis2=dict(title="weights removed (%)", overlaying="y", side="right", range=[0, 100],
                                  showgrid=False))
    return _layout(fig, title, "optimizer step", "loss (cross-entropy)", 420)


# ---- where two methods disagree (prune_core.disagree) ----------------------------------------------------

CLASS_COLOURS = ("#d5dbdb", "#e67e22", "#2e86de", "#17202a")  # kept by both, only A, only B, pruned by both


def _class_names(a: str, b: str) -> list[str]:
    """The four classes (prune_core.disagree.CLASSES) with the method names filled in."""
    return ["kept by both", f"pruned only by {a}", f"pruned only by {b}", "pruned by both"]


def disagreement_chart(table: pd.DataFrame, a: str, b: str, sparsity: float) -> go.Figure:
    """Stacked bars per layer: share of its weights pruned by both, only by A, only by B (kept by both: the rest)."""
    fig = go.Figure()
    names = _class_names(a, b)
    for code in (3, 1, 2):
        col = ("kept by both", "pruned only by A", "pruned only by B", "pruned by both")[code]
        fig.add_bar(x=table["layer"], y=table[f"share {col}"] * 100, name=names[code], marker_color=CLASS_COLOURS[code],
                    customdata=np.stack([table[col], table["params"], table["overlap"]], -1),
                    hovertemplate="%{x}<br>" + names[code] + ": %{y:.2f} % (%{customdata[0]:,} of %{customdata[1]:,})"
                                  "<br>overlap of the pruned sets %{customdata[2]:.1%}<extra></extra>")
    fig.add_hline(y=sparsity * 100, line_dash="dash", line_color="black",
                  annotation_text=f"each method removes {sparsity:.0%}", annotation_position="top left")
    fig.add_hline(y=0, line_color=DENSE, annotation_text="dense: 0 %", annotation_position="bottom left")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(categoryorder="array", categoryarray=list(table["layer"]), tickangle=-60)
    return _layout(fig, f"Where {a} and {b} disagree, layer by layer", "layer (model order)",
                   "weights of the layer (%)", 440)


def disagreement_heatmap(codes, a: str, b: str, title: str, crop: int = 64, max_cells: int = 192) -> go.Figure:
    """One (out, in) matrix coloured by class (prune_core.disagree codes 0-3), like `mask_heatmap`.

    Left: the top-left `crop` x `crop` corner, every weight in its class colour. Right: the whole matrix;
    when it is shrunk (more than `max_cells` rows or columns), each cell is the share of its block where
    the two methods disagree (pruned by exactly one), and hover gives all four shares."""
    codes = np.asarray(codes, dtype=np.uint8)
    rows, cols = codes.shape
    names = _class_names(a, b)
    block = max(1, -(-max(rows, cols) // max_cells))
    shares = [_block_share(codes == c, block) for c in range(4)]
    from plotly.subplots import make_subplots

    cr, cc = min(crop, rows), min(crop, cols)
    exact_whole = block == 1
    panels = [] if exact_whole and (cr, cc) == (rows, cols) else [f"first {cr}×{cc} weights (every weight)"]
    panels.append(f"whole {rows}×{cols} matrix" + (" (every weight)" if exact_whole else
                                                   f", each cell = share disagreeing in a {block}×{block} block"))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, horizontal_spacing=0.14)
    categorical = [[edge, CLASS_COLOURS[i]] for i in range(4) for edge in (i / 4, (i + 1) / 4)]  # 4 flat bands
    bar = dict(title="class", tickvals=[0.375, 1.125, 1.875, 2.625], ticktext=names, len=0.9)
    hover = np.asarray(names, dtype=object)

    def exact(z: np.ndarray, col: int, show: bool) -> None:
        fig.add_heatmap(z=z.astype(float), customdata=hover[z], colorscale=categorical, zmin=0, zmax=3,
                        showscale=show, colorbar=bar,
                        hovertemplate="output %{y}, input %{x}: %{customdata}<extra></extra>", row=1, col=col)

    if len(panels) == 2:
        exact(codes[:cr, :cc], 1, exact_whole)
    if exact_whole:
        exact(codes, len(panels), True)
    else:
        disagree = shares[1] + shares[2]
        custom = np.stack(shares, -1)
        starts_y, starts_x = np.arange(disagree.shape[0]) * block, np.arange(disagree.shape[1]) * block
        fig.add_heatmap(z=disagree, x=starts_x + (block - 1) / 2, y=starts_y + (block - 1) / 2, customdata=custom,
                        colorscale=[[0, "#ffffff"], [1, "#8e44ad"]], zmin=0, zmax=max(0.05, float(disagree.max())),
                        colorbar=dict(title="share disagreeing", x=1.02),
                        hovertemplate="outputs from %{y:.0f}, inputs from %{x:.0f} (block centre)<br>"
                                      + "<br>".join(f"{n}: %{{customdata[{i}]:.1%}}" for i, n in enumerate(names))
                                      + "<extra>whole matrix</extra>", row=1, col=len(panels))
    for i in range(1, len(panels) + 1):
        fig.update_xaxes(title_text="input features (columns)", constrain="domain", row=1, col=i)
        fig.update_yaxes(title_text="output features (rows)", autorange="reversed", constrain="domain",
                         scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    counts = np.bincount(codes.reshape(-1), minlength=4)
    fig.update_layout(title=f"{title}<br><sup>" + "; ".join(f"{n} {c / codes.size:.1%}" for n, c in zip(names, counts))
                            + "</sup>", template="plotly_white", height=600, margin=dict(l=60, r=20, t=110, b=60))
    return fig


def why_scatter(sample: pd.DataFrame, a: str, b: str, layer: str, tokens: int) -> go.Figure:
    """|w| against the norm of the input feature it multiplies, one point per sampled weight, coloured by class.

    Log-log: Wanda's score |w| * ||X_j|| is constant along lines of slope -1, so its cut is a diagonal band
    where magnitude's is a horizontal one. Weights or norms of exactly 0 cannot be drawn on log axes and are
    counted in the subtitle."""
    names = _class_names(a, b)
    fig = go.Figure()
    drawable = sample[(sample["abs_weight"] > 0) & (sample["input_norm"] > 0)]
    for code in (0, 3, 1, 2):  # the two disagreement classes on top
        part = drawable[drawable["code"] == code]
        fig.add_scattergl(x=part["input_norm"], y=part["abs_weight"], mode="markers", name=f"{names[code]} ({len(part):,})",
                          marker=dict(color=CLASS_COLOURS[code], size=4 if code in (1, 2) else 3,
                                      opacity=0.85 if code in (1, 2) else 0.45),
                          customdata=part[["row", "col"]].to_numpy(),
                          hovertemplate="output %{customdata[0]}, input %{customdata[1]}<br>|w| = %{y:.4g}<br>"
                                        "input norm %{x:.4g}<extra>" + names[code] + "</extra>")
    dropped = len(sample) - len(drawable)
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return _layout(fig, f"Why they disagree: {layer}<br><sup>{len(sample):,} sampled weights"
                        + (f" ({dropped} with |w| or norm 0 not drawn)" if dropped else "")
                        + f"; input norms over {tokens:,} calibration tokens of the dense model</sup>",
                   "‖X_j‖₂: norm of the input feature the weight multiplies (log)", "|w| (log)", 520)


# ---- which examples break first (prune_core.fragile) -----------------------------------------------------

def flip_curve(curve: pd.DataFrame, method: str) -> go.Figure:
    """How many held-out examples have changed their predicted label, as sparsity rises (dense: 0)."""
    n = curve.attrs.get("n")
    x = np.concatenate([[0.0], curve["sparsity"].to_numpy()]) * 100
    flipped = np.concatenate([[0], curve["flipped"].to_numpy()])
    differ = np.concatenate([[0], curve["differ_now"].to_numpy()])
    fig = go.Figure()
    fig.add_scatter(x=x, y=flipped, mode="lines+markers", name="flipped at or below this sparsity",
                    line=dict(color=PRUNED, width=2),
                    hovertemplate="%{x:.0f} % sparsity<br>%{y} examples have flipped<extra></extra>")
    fig.add_scatter(x=x, y=differ, mode="lines", name="differ from dense at this sparsity",
                    line=dict(color="#2e86de", dash="dot"),
                    hovertemplate="%{x:.0f} % sparsity<br>%{y} predictions differ from dense<extra></extra>")
    fig.add_scatter(x=[0], y=[0], mode="markers", name="dense (nothing flipped)", marker=dict(color=DENSE, size=10),
                    hovertemplate="dense model: the reference<extra></extra>")
    return _layout(fig, f"Examples whose predicted label flipped ({method}" + (f", {n} held-out examples)" if n else ")"),
                   "sparsity (% of weights in scope removed)", "examples (count)", 400)


def token_heat_html(frame: pd.DataFrame, vmax: float | None = None) -> str:
    """The window's text as HTML spans, each token's background by how much its loss rose (red) or fell
    (blue) from dense to pruned; hover (title) gives both losses. Every token is HTML-escaped."""
    import html

    rise = frame["rise"].to_numpy(dtype=float)
    vmax = vmax or float(np.nanmax(np.abs(rise))) or 1.0
    spans = []
    for tok, r, d, p in zip(frame["token"], rise, frame["dense_loss"], frame["pruned_loss"]):
        text = html.escape(str(tok)).replace("\n", "↵<br>")
        if np.isnan(r):
            spans.append(f'<span title="first token: not predicted">{text}</span>')
            continue
        a = min(1.0, abs(r) / vmax)
        rgb = "211,84,0" if r > 0 else "46,134,222"
        spans.append(f'<span style="background: rgba({rgb},{a:.2f})" title="loss dense {d:.2f} → pruned {p:.2f} '
                     f'nats ({r:+.2f})">{text}</span>')
    legend = (f'<div style="font-size:0.8em;margin-top:0.5em">colour: loss rise, red up to +{vmax:.2f} nats, '
              f'blue down to −{vmax:.2f}; hover a token for its losses</div>')
    return ('<div style="font-family:monospace;white-space:pre-wrap;line-height:1.7">' + "".join(spans)
            + "</div>" + legend)

def crossover_chart(frame: pd.DataFrame, your_tokens: int | None = None) -> go.Figure:
    """Per layer shape: the tokens per call from which 2:4 beats dense on a recorded GPU (bars, log);
    shapes where it never did are drawn at the largest count measured, hatched and labelled 'never'."""
    fig = go.Figure()
    measured = frame[frame["measured"]] if len(frame) else frame
    for gpu, rows in measured.groupby("gpu", sort=True):
        crossed = rows["tokens"].notna()
        height = rows["tokens"].where(crossed, rows["max_tokens"]).astype(float)
        fig.add_bar(x=rows["shape"] + " " + rows["layers"].str.slice(0, 28), y=height, name=str(gpu),
                    marker_pattern_shape=["" if c else "/" for c in crossed],
                    text=["" if c else "never" for c in crossed], textposition="outside",
                    customdata=[_crossover_hover(r) for r in rows.itertuples()],
                    hovertemplate="%{customdata}<extra>" + str(gpu) + "</extra>")
    if your_tokens:
        fig.add_hline(y=your_tokens, line_dash="dash", line_color=DENSE,
                      annotation_text=f"this page's batch: {your_tokens:,} tokens (dense wins below the bars)")
    missing = frame[~frame["measured"]]["shape"].tolist() if len(frame) else []
    sub = "hatched 'never': 2:4 never beat dense up to the largest batch measured" + (
        f"; not measured: {', '.join(missing)}" if missing else "")
    fig.update_yaxes(type="log")
    return _layout(fig, f"2:4 crossover: tokens per call from which 2:4 beats dense<br><sup>{sub}</sup>",
                   "layer shape (out x in) and its layers", "tokens per call (log)", 400)


def _crossover_hover(r) -> str:
    if pd.isna(r.tokens):
        return f"{r.layers}<br>2:4 never beat dense up to {int(r.max_tokens):,} tokens per call (best {r.best:.2f}x)"
    lost = f" (lost at {int(r.lost_at):,})" if not pd.isna(r.lost_at) else ""
    return f"{r.layers}<br>2:4 beats dense from {int(r.tokens):,} tokens per call{lost}; best {r.best:.2f}x"
