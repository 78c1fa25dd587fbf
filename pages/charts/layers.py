"""Per-layer views (the Layers page): sensitivity, allocations, OWL, and which weights a mask keeps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import DENSE, LOOK, PRUNED, layout


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
    return layout(fig, f"Sensitivity: {what} pruned at a time (magnitude)",
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
    return layout(fig, "How each allocation spreads the sparsity over the layers", "layer (model order)",
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
    return layout(fig, f"OWL: outliers and sparsity per block (M = {m:g}, λ = {lam:g})",
                   "Transformer block (input side first)", "outlier ratio (% of the block's weights)",
                   400).update_layout(margin=dict(l=60, r=70, t=60, b=60))


KEPT, REMOVED = "#1f618d", "#fbeee6"


def block_share(mask: np.ndarray, block: int) -> np.ndarray:
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
    whole = block_share(mask, block)
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
                      **LOOK, height=600, margin=dict(l=60, r=20, t=110, b=60))
    return fig
