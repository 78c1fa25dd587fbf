"""Where two methods disagree (prune_core.disagree): per-layer classes, the matrix, the 'why' scatter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .layers import block_share
from .style import DENSE, layout

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
    return layout(fig, f"Where {a} and {b} disagree, layer by layer", "layer (model order)",
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
    shares = [block_share(codes == c, block) for c in range(4)]
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
    return layout(fig, f"Why they disagree: {layer}<br><sup>{len(sample):,} sampled weights"
                        + (f" ({dropped} with |w| or norm 0 not drawn)" if dropped else "")
                        + f"; input norms over {tokens:,} calibration tokens of the dense model</sup>",
                   "‖X_j‖₂: norm of the input feature the weight multiplies (log)", "|w| (log)", 520)
