"""The look every chart shares: colours, the plotly_white style written out, titles and axes."""
from __future__ import annotations

import plotly.graph_objects as go

DENSE, PRUNED = "#7f8c8d", "#d35400"
KIND_COLOURS = {"attention": "#2e86de", "mlp": "#e67e22", "head": "#8e44ad"}


# plotly_white's look, written out: naming the template makes plotly deep-copy all of it into every
# figure (15 of the 20 ms a small chart costs to build, several times per slider move).
AXIS = dict(gridcolor="#EBF0F8", linecolor="#EBF0F8", zerolinecolor="#EBF0F8", automargin=True)
LOOK = dict(template="none", paper_bgcolor="white", plot_bgcolor="white", font=dict(color="#2a3f5f"))


def layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=60, b=60),
                      legend=dict(orientation="h", y=-0.25), xaxis=dict(AXIS, title=x), yaxis=dict(AXIS, title=y),
                      **LOOK)
    return fig


def standalone_html(fig: go.Figure) -> str:
    """The chart as one HTML file with plotly.js inside (~4.6 MB): it opens offline, where a CDN link
    would leave a blank page."""
    return fig.to_html(include_plotlyjs=True, full_html=True)
