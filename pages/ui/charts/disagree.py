"""Where two methods disagree (prune_core.disagree): per-layer classes, the matrix, the 'why' scatter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .layers import block_share
from .style import DENSE, LOOK, figure, matrix_panels, on_panel, rule

CLASS_COLOURS = ("#d5dbdb", "#e67e22", "#2e86de", "#17202a")  # kept by both, only A, only B, pruned by both


def _class_names(a: str, b: str) -> list[str]:
    """The four classes (prune_core.disagree.CLASSES) with the method names filled in."""
    return ["kept by both", f"pruned only by {a}", f"pruned only by {b}", "pruned by both"]


def disagreement_chart(table: pd.DataFrame, a: str, b: str, sparsity: float) -> go.Figure:
    """Stacked bars per layer: share of its weights pruned by both, only by A, only by B (kept by both: the rest)."""
    names = _class_names(a, b)
    columns = ("kept by both", "pruned only by A", "pruned only by B", "pruned by both")
    bars = [go.Bar(x=table["layer"], y=table[f"share {columns[code]}"] * 100, name=names[code],
                   marker_color=CLASS_COLOURS[code],
                   customdata=np.stack([table[columns[code]], table["params"], table["overlap"]], -1),
                   hovertemplate="%{x}<br>" + names[code] + ": %{y:.2f} % (%{customdata[0]:,} of %{customdata[1]:,})"
                                 "<br>overlap of the pruned sets %{customdata[2]:.1%}<extra></extra>")
            for code in (3, 1, 2)]
    return figure(bars, f"Where {a} and {b} disagree, layer by layer", "layer (model order)",
                  "weights of the layer (%)", 440, barmode="stack",
                  xaxis=dict(categoryorder="array", categoryarray=list(table["layer"]), tickangle=-60),
                  rules=(rule("y", sparsity * 100, dash="dash", text=f"each method removes {sparsity:.0%}"),
                         rule("y", 0, DENSE, text="dense: 0 %", where="bottom left")))


def disagreement_heatmap(codes, a: str, b: str, title: str, crop: int = 64, max_cells: int = 192) -> go.Figure:
    """One (out, in) matrix coloured by class (prune_core.disagree codes 0-3), like `mask_heatmap`.

    Left: the top-left `crop` x `crop` corner, every weight in its class colour. Right: the whole matrix;
    when it is shrunk (more than `max_cells` rows or columns), each cell is the share of its block where
    the two methods disagree (pruned by exactly one), and hover gives all four shares."""
    codes = np.asarray(codes, dtype=np.uint8)
    rows, cols = codes.shape
    names = _class_names(a, b)
    block = max(1, -(-max(rows, cols) // max_cells))
    shares = [block_share(codes == c, block) for c in range(4)]
    cr, cc = min(crop, rows), min(crop, cols)
    exact_whole = block == 1
    panels = [] if exact_whole and (cr, cc) == (rows, cols) else [f"first {cr}×{cc} weights (every weight)"]
    panels.append(f"whole {rows}×{cols} matrix" + (" (every weight)" if exact_whole else
                                                   f", each cell = share disagreeing in a {block}×{block} block"))
    categorical = [[edge, CLASS_COLOURS[i]] for i in range(4) for edge in (i / 4, (i + 1) / 4)]  # 4 flat bands
    bar = dict(title="class", tickvals=[0.375, 1.125, 1.875, 2.625], ticktext=names, len=0.9)
    hover = np.asarray(names, dtype=object)

    def exact(z: np.ndarray, col: int, show: bool) -> go.Heatmap:
        return go.Heatmap(z=z.astype(float), customdata=hover[z], colorscale=categorical, zmin=0, zmax=3,
                          showscale=show, colorbar=bar, hovertemplate="output %{y}, input %{x}: %{customdata}"
                          "<extra></extra>", **on_panel(col))

    heat = [exact(codes[:cr, :cc], 1, exact_whole)] if len(panels) == 2 else []
    if exact_whole:
        heat.append(exact(codes, len(panels), True))
    else:
        disagree = shares[1] + shares[2]
        starts_y, starts_x = np.arange(disagree.shape[0]) * block, np.arange(disagree.shape[1]) * block
        heat.append(go.Heatmap(z=disagree, x=starts_x + (block - 1) / 2, y=starts_y + (block - 1) / 2,
                               customdata=np.stack(shares, -1), colorscale=[[0, "#ffffff"], [1, "#8e44ad"]], zmin=0,
                               zmax=max(0.05, float(disagree.max())), colorbar=dict(title="share disagreeing", x=1.02),
                               hovertemplate="outputs from %{y:.0f}, inputs from %{x:.0f} (block centre)<br>"
                                             + "<br>".join(f"{n}: %{{customdata[{i}]:.1%}}" for i, n in enumerate(names))
                                             + "<extra>whole matrix</extra>",
                               **on_panel(len(panels))))
    grid = matrix_panels(panels, 0.14)
    counts = np.bincount(codes.reshape(-1), minlength=4)
    return go.Figure(heat, layout=dict(LOOK, title=f"{title}<br><sup>" + "; ".join(f"{n} {c / codes.size:.1%}" for n, c
                                                                                  in zip(names, counts)) + "</sup>",
                                       height=600, margin=dict(l=60, r=20, t=110, b=60), **grid))


def why_scatter(sample: pd.DataFrame, a: str, b: str, layer: str, tokens: int) -> go.Figure:
    """|w| against the norm of the input feature it multiplies, one point per sampled weight, coloured by class.

    Log-log: Wanda's score |w| * ||X_j|| is constant along lines of slope -1, so its cut is a diagonal band
    where magnitude's is a horizontal one. Weights or norms of exactly 0 cannot be drawn on log axes and are
    counted in the subtitle."""
    names = _class_names(a, b)
    drawable = sample[(sample["abs_weight"] > 0) & (sample["input_norm"] > 0)]
    points = []
    for code in (0, 3, 1, 2):  # the two disagreement classes on top
        part = drawable[drawable["code"] == code]
        points.append(go.Scattergl(x=part["input_norm"], y=part["abs_weight"], mode="markers",
                                   name=f"{names[code]} ({len(part):,})",
                                   marker=dict(color=CLASS_COLOURS[code], size=4 if code in (1, 2) else 3,
                                               opacity=0.85 if code in (1, 2) else 0.45),
                                   customdata=part[["row", "col"]].to_numpy(),
                                   hovertemplate="output %{customdata[0]}, input %{customdata[1]}<br>|w| = %{y:.4g}<br>"
                                                 "input norm %{x:.4g}<extra>" + names[code] + "</extra>"))
    dropped = len(sample) - len(drawable)
    return figure(points, f"Why they disagree: {layer}<br><sup>{len(sample):,} sampled weights"
                          + (f" ({dropped} with |w| or norm 0 not drawn)" if dropped else "")
                          + f"; input norms over {tokens:,} calibration tokens of the dense model</sup>",
                  "‖X_j‖₂: norm of the input feature the weight multiplies (log)", "|w| (log)", 520,
                  xaxis=dict(type="log"), yaxis=dict(type="log"))
