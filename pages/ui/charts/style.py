"""The look every chart shares: colours, the plotly_white style written out, titles and axes."""
from __future__ import annotations

import math

import plotly.graph_objects as go

DENSE, PRUNED = "#7f8c8d", "#d35400"
KIND_COLOURS = {"attention": "#2e86de", "mlp": "#e67e22", "head": "#8e44ad"}


# plotly_white's look, written out: naming the template makes plotly deep-copy all of it into every
# figure (15 of the 20 ms a small chart costs to build, several times per slider move).
AXIS = dict(gridcolor="#EBF0F8", linecolor="#EBF0F8", zerolinecolor="#EBF0F8", automargin=True)
LOOK = dict(template="none", paper_bgcolor="white", plot_bgcolor="white", font=dict(color="#2a3f5f"))


def _look(title: str, x: str, y: str, height: int) -> dict:
    return dict(title=title, height=height, margin=dict(l=60, r=20, t=60, b=60), legend=dict(orientation="h", y=-0.25),
                xaxis=dict(AXIS, title=x), yaxis=dict(AXIS, title=y), **LOOK)


def figure(traces: list, title: str, x: str, y: str, height: int = 380, *, xaxis: dict | None = None,
           yaxis: dict | None = None, rules: tuple = (), **extra) -> go.Figure:
    """A whole chart in one constructor call. plotly validates the layout once: Explore's per-layer chart
    takes 3.4 ms instead of 15 ms built with add_hline and update_layout, and a slider move builds
    five charts while holding the GIL that the other sessions wait for. `rules`: from `rule`."""
    look = _look(title, x, y, height)
    look["xaxis"].update(xaxis or {})
    look["yaxis"].update(yaxis or {})
    shapes = [shape for shape, _ in rules]
    notes = [note for _, note in rules if note is not None] + list(extra.pop("annotations", []))
    return go.Figure(traces, layout=dict(look, shapes=shapes, annotations=notes, **extra))


def rule(axis: str, at: float, colour: str = "black", dash: str | None = None, text: str | None = None,
         where: str = "top left", log: bool = False) -> tuple[dict, dict | None]:
    """A line across the plot at `at` on `axis` ("y": horizontal, its label at `where`: "top left",
    "bottom left", "top right"; "x": vertical, its label at the top right of the line), as (shape,
    annotation) for `figure`. `log`: that axis is logarithmic; plotly places shapes by value there but
    annotations by log10 of it."""
    line = dict(color=colour, width=2, **({"dash": dash} if dash else {}))
    if axis == "y":
        shape = dict(type="line", xref="paper", x0=0, x1=1, y0=at, y1=at, line=line)
    else:
        shape = dict(type="line", yref="paper", y0=0, y1=1, x0=at, x1=at, line=line)
    if text is None:
        return shape, None
    place = math.log10(at) if log else at
    if axis == "y":
        vertical, horizontal = where.split()
        note = dict(xref="paper", x=0 if horizontal == "left" else 1, y=place, xanchor=horizontal,
                    yanchor="bottom" if vertical == "top" else "top")
    else:
        note = dict(yref="paper", y=1, x=place, xanchor="left", yanchor="top")
    return shape, dict(note, text=text, showarrow=False)


def side_by_side(titles: list[str], spacing: float, x: dict, y: dict, square: bool = False) -> dict:
    """Layout of panels in one row with their titles, as make_subplots(rows=1, cols=len(titles)) lays them out,
    without building a figure per call and validating it again for each panel (~10 ms). Axes xaxis, xaxis2, ...
    get `x`, yaxis, yaxis2, ... get `y`; `square`: a unit on y as long as on x. Traces name their axes (x2, y2)."""
    width = (1 - spacing * (len(titles) - 1)) / len(titles)
    out: dict = {"annotations": []}
    for i, title in enumerate(titles):
        left, n = i * (width + spacing), str(i + 1) if i else ""
        out[f"xaxis{n}"] = dict(x, anchor=f"y{n}", domain=[left, left + width])
        out[f"yaxis{n}"] = dict(y, anchor=f"x{n}", domain=[0.0, 1.0], **({"scaleanchor": f"x{n}"} if square else {}))
        out["annotations"].append(dict(text=title, x=left + width / 2, y=1.0, xref="paper", yref="paper",
                                       xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=16)))
    return out


def matrix_panels(titles: list[str], spacing: float) -> dict:
    """`side_by_side` for weight matrices drawn as heatmaps: inputs across, outputs down from the top,
    one unit as long on both axes."""
    return side_by_side(titles, spacing, dict(title="input features (columns)", constrain="domain"),
                        dict(title="output features (rows)", autorange="reversed", constrain="domain"), square=True)


def on_panel(i: int) -> dict:
    """The axes of panel `i` (from 1) of `side_by_side`, as a trace's xaxis/yaxis."""
    n = str(i) if i > 1 else ""
    return dict(xaxis=f"x{n}", yaxis=f"y{n}")


def standalone_html(fig: go.Figure) -> str:
    """The chart as one HTML file with plotly.js inside (~4.6 MB): it opens offline, where a CDN link
    would leave a blank page."""
    return fig.to_html(include_plotlyjs=True, full_html=True)
