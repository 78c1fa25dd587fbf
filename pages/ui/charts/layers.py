"""Per-layer views (the Layers page): sensitivity, allocations, OWL, and which weights a mask keeps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .style import DENSE, LOOK, PRUNED, figure, matrix_panels, on_panel, rule


def sensitivity_heatmap(sens: pd.DataFrame, quality_metric: str, group_by: str = "layer") -> go.Figure:
    """Layers (or kinds of layer) x sparsity, coloured by the quality lost when only that group is pruned."""
    table = sens.pivot_table(index="layer", columns="sparsity", values="damage", sort=False)
    heat = go.Heatmap(z=table.to_numpy(), x=[f"{c:.0%}" for c in table.columns], y=list(table.index), colorscale="Reds",
                      colorbar=dict(title="quality lost"),
                      hovertemplate="%{y}<br>sparsity %{x}<br>" + quality_metric + " worse by %{z:.4g}<extra></extra>")
    by_kind = group_by == "kind"
    what = "one kind of layer (all blocks)" if by_kind else "one layer"
    return figure([heat], f"Sensitivity: {what} pruned at a time (magnitude)",
                  f"sparsity of the pruned {'kind' if by_kind else 'layer'}",
                  "kind of layer" if by_kind else "layer (model order)", max(360, 22 * len(table) + 120),
                  yaxis=dict(autorange="reversed"))


def allocation_chart(spread: pd.DataFrame, target: float) -> go.Figure:
    """Per-layer sparsity of several allocations side by side."""
    colours = {"layer (uniform)": DENSE, "global magnitude": PRUNED, "proposed (from sensitivity)": "#27ae60",
               OWL_LABEL: OWL_COLOUR}
    bars = [go.Bar(x=rows["layer"], y=rows["sparsity"] * 100, name=name, marker_color=colours.get(name),
                   hovertemplate="%{x}<br>%{y:.1f} % removed<extra>" + name + "</extra>")
            for name, rows in spread.groupby("allocation", sort=False)]
    return figure(bars, "How each allocation spreads the sparsity over the layers", "layer (model order)",
                  "weights removed (%)", 420, xaxis=dict(tickangle=-60), barmode="group",
                  rules=(rule("y", target * 100, dash="dash", text=f"target {target:.0%}", where="top right"),))


OWL_LABEL, OWL_COLOUR = "OWL (outlier-weighed)", "#8e44ad"


def owl_chart(blocks: pd.DataFrame, target: float, m: float, lam: float) -> go.Figure:
    """OWL per block: outlier ratio (bars, left axis) and the sparsity it gives (line, right axis), with the
    uniform target and its ± λ band. `blocks`: OwlAllocation.frame()."""
    traces = [go.Bar(x=blocks["block"], y=blocks["outlier_ratio"] * 100, name=f"outlier ratio (scores > {m:g} × block mean)",
                     marker_color="#d5c4e0", customdata=blocks[["params"]].to_numpy(),
                     hovertemplate="block %{x}<br>%{y:.3f} % of its Wanda scores are outliers<br>%{customdata[0]:,} "
                                   "weights in scope<extra></extra>"),
              go.Scatter(x=blocks["block"], y=blocks["sparsity"] * 100, yaxis="y2", mode="lines+markers",
                         name="OWL sparsity", line=dict(color=OWL_COLOUR),
                         hovertemplate="block %{x}<br>%{y:.2f} % removed<extra>OWL</extra>"),
              go.Scatter(x=blocks["block"], y=[target * 100] * len(blocks), yaxis="y2", mode="lines",
                         name=f"uniform: {target:.0%} everywhere", line=dict(color="black", dash="dash"),
                         hovertemplate="%{y:.0f} %<extra>uniform</extra>")]
    pad = 1.5 * max(lam, 0.02)  # the ± λ band and a margin; a flat line (λ = 0) still gets a readable axis
    return figure(traces, f"OWL: outliers and sparsity per block (M = {m:g}, λ = {lam:g})",
                  "Transformer block (input side first)", "outlier ratio (% of the block's weights)", 400,
                  xaxis=dict(dtick=1) if len(blocks) <= 32 else None, margin=dict(l=60, r=70, t=60, b=60),
                  yaxis2=dict(title="weights removed (%)", overlaying="y", side="right", showgrid=False,
                              range=[max(0.0, target - pad) * 100, min(1.0, target + pad) * 100]))


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
    grid = matrix_panels([p[5] for p in panels], 0.12)
    heat = [go.Heatmap(z=z, x=x, y=y, customdata=custom, hovertemplate=hover, colorscale=scale, zmin=0, zmax=1,
                       showscale=i == len(panels), colorbar=bar, **on_panel(i))
            for i, (z, x, y, custom, hover, _) in enumerate(panels, start=1)]
    lines = []
    if group and group > 1:  # N:M: separate the groups of M inputs in the full-resolution panel
        lines = [dict(type="line", x0=x, x1=x, y0=-0.5, y1=panels[0][0].shape[0] - 0.5, xref="x", yref="y",
                      line=dict(color="#17202a", width=1.5), opacity=0.7)
                 for x in np.arange(group, panels[0][0].shape[1], group) - 0.5]
    if len(panels) == 2:  # where the corner lies in the whole matrix
        lines.append(dict(type="rect", x0=-0.5, y0=-0.5, x1=cc - 0.5, y1=cr - 0.5, xref="x2", yref="y2",
                          line=dict(color=PRUNED, width=2)))
    return go.Figure(heat, layout=dict(LOOK, title=f"{title}<br><sup>{kept:.1%} of {mask.size:,} weights kept (dense "
                                                   "keeps 100 %); rows = output features, columns = input features"
                                                   "</sup>", height=600, margin=dict(l=60, r=20, t=110, b=60),
                                       shapes=lines, **grid))
