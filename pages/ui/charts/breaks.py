"""Which examples break first (prune_core.fragile): the flip curve and the per-token loss heat."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .style import DENSE, PRUNED, figure


def flip_curve(curve: pd.DataFrame, method: str) -> go.Figure:
    """How many held-out examples have changed their predicted label, as sparsity rises (dense: 0)."""
    n = curve.attrs.get("n")
    x = np.concatenate([[0.0], curve["sparsity"].to_numpy()]) * 100
    flipped = np.concatenate([[0], curve["flipped"].to_numpy()])
    differ = np.concatenate([[0], curve["differ_now"].to_numpy()])
    lines = [go.Scatter(x=x, y=flipped, mode="lines+markers", name="flipped at or below this sparsity",
                        line=dict(color=PRUNED, width=2),
                        hovertemplate="%{x:.0f} % sparsity<br>%{y} examples have flipped<extra></extra>"),
             go.Scatter(x=x, y=differ, mode="lines", name="differ from dense at this sparsity",
                        line=dict(color="#2e86de", dash="dot"),
                        hovertemplate="%{x:.0f} % sparsity<br>%{y} predictions differ from dense<extra></extra>"),
             go.Scatter(x=[0], y=[0], mode="markers", name="dense (nothing flipped)", marker=dict(color=DENSE, size=10),
                        hovertemplate="dense model: the reference<extra></extra>")]
    return figure(lines, f"Examples whose predicted label flipped ({method}" + (f", {n} held-out examples)" if n else ")"),
                  "sparsity (% of weights in scope removed)", "examples (count)", 400)


def token_heat_html(frame: pd.DataFrame, vmax: float | None = None) -> str:
    """The window's text as HTML spans, each token's background by how much its loss rose (red) or fell
    (blue) from dense to pruned; hover (title) gives both losses. Every token is HTML-escaped."""
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
