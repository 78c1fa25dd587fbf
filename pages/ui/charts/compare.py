"""Many runs against each other: the Compare/History chart with its Pareto front, the paper's claims,
fine-tuning curves."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from prune_core.quality import metric_named

from .style import DENSE, PRUNED, figure, rule


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
    metric = metric_named(quality_metric)
    palette = ["#8e44ad", "#16a085", "#e74c3c", "#2e86de", "#f39c12", "#7f8c8d", "#d35400", "#27ae60"]
    colour = {m: palette[i % len(palette)] for i, m in enumerate(sorted(df[series].unique()))}
    traces = [go.Scatter(x=rows[x], y=rows["quality"], mode="lines+markers" if lines else "markers", name=method,
                         marker_color=colour[method], line_color=colour[method],
                         customdata=rows[["sparsity_target", "pattern", "allocation", "seed"]].to_numpy(),
                         hovertemplate=f"{x_title} %{{x:.4g}}<br>{quality_metric} %{{y:.4g}}<br>sparsity "
                                       "%{customdata[0]:.2f}, %{customdata[1]}, %{customdata[2]}, seed "
                                       f"%{{customdata[3]}}<extra>{method}</extra>")
              for method, rows in df.sort_values(x).groupby(series, sort=True)]
    if dense_x is not None:
        traces.append(go.Scatter(x=[dense_x], y=[dense_quality], mode="markers", name="dense",
                                 marker=dict(symbol="star", size=14, color=DENSE)))
    if mark_pareto and len(df):
        front = df[pareto_front(df, x, "quality", metric.lower_is_better)]
        traces.append(go.Scatter(x=front[x], y=front["quality"], mode="markers", name="Pareto front",
                                 marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color="black")),
                                 hoverinfo="skip"))
    yaxis = None
    if metric.log_scale:
        values = [v for v in list(df["quality"]) + [dense_quality] if v and v > 0]
        yaxis = dict(type="log", range=[math.log10(min(values)) - 0.05, math.log10(max(values)) + 0.05])
    return figure(traces, f"{quality_metric} vs {x_title}", x_title, f"held-out {quality_metric}", 420, yaxis=yaxis,
                  rules=(rule("y", dense_quality, DENSE, "dash", f"dense {dense_quality:.4g}", "top right",
                              log=metric.log_scale),))


def tolerance_chart(table: pd.DataFrame) -> go.Figure:
    """Claim (b): the largest share of prunable weights each method removes within the tolerance."""
    bars = go.Bar(x=table["series"], y=table["share_removed"] * 100, marker_color=PRUNED,
                  customdata=table[["max_sparsity", "quality"]].to_numpy(),
                  hovertemplate="%{x}<br>%{y:.1f} % of prunable weights removed<br>grid sparsity %{customdata[0]:.0%}"
                                "<br>quality there %{customdata[1]:.4g}<extra></extra>")
    return figure([bars], "Most weights removed within the tolerance", "method", "prunable (Linear) weights removed (%)",
                  yaxis=dict(range=[0, 100]),
                  rules=(rule("y", 0, DENSE, text="dense: nothing removed", where="bottom left"),))


def recovery_chart(frame: pd.DataFrame, column: str, title: str, y_title: str) -> go.Figure:
    """Claim (c): one point per seed for each variant, with the mean and the min-max range."""
    colours = {"dense": DENSE, "pruned + fine-tuned": PRUNED, "dense + fine-tuned (control)": "#2e86de"}
    data = frame.dropna(subset=[column])
    traces = []
    for variant, part in data.groupby("variant", sort=False):
        q = part[column]
        traces.append(go.Scatter(x=[variant] * len(part), y=q, mode="markers", name=variant, showlegend=False,
                                 marker=dict(size=9, color=colours.get(variant, "#8e44ad"), opacity=0.6),
                                 customdata=part[["seed"]].to_numpy(),
                                 hovertemplate="%{x}<br>seed %{customdata[0]}: %{y:.4g}<extra></extra>"))
        traces.append(go.Scatter(x=[variant], y=[q.mean()], mode="markers", showlegend=False,
                                 error_y=dict(type="data", symmetric=False, array=[q.max() - q.mean()],
                                              arrayminus=[q.mean() - q.min()]),
                                 marker=dict(symbol="line-ew-open", size=30, line=dict(width=3, color="black")),
                                 hovertemplate=f"%{{x}}<br>mean %{{y:.4g}} over {len(q)} seed(s), range "
                                               f"{q.min():.4g}–{q.max():.4g}<extra></extra>"))
    dense = data.loc[data["variant"] == "dense", column]
    rules = (rule("y", float(dense.mean()), DENSE, "dash", "dense", "top right"),) if len(dense) else ()
    return figure(traces, title, "model", y_title, rules=rules)


def training_curve(curve: pd.DataFrame, val_loss_dense: float | None, title: str) -> go.Figure:
    """Fine-tuning: batch loss per step, validation loss at each evaluation, sparsity on the right axis."""
    val = curve.dropna(subset=["val_loss"])
    traces = [go.Scatter(x=curve["step"], y=curve["train_loss"], mode="lines", name="training loss (batch)",
                         line=dict(color=PRUNED, width=1), opacity=0.6,
                         hovertemplate="step %{x}<br>batch loss %{y:.4f}<extra></extra>"),
              go.Scatter(x=val["step"], y=val["val_loss"], mode="lines+markers", name="validation loss (held-out)",
                         line=dict(color="#2e86de", width=2),
                         hovertemplate="step %{x}<br>validation loss %{y:.4f}<extra></extra>"),
              go.Scatter(x=curve["step"], y=curve["sparsity"] * 100, mode="lines", name="sparsity (%)", yaxis="y2",
                         line=dict(color="black", dash="dot", width=1),
                         hovertemplate="step %{x}<br>sparsity %{y:.1f} %<extra></extra>")]
    rules = () if val_loss_dense is None else (  # known once the run has measured the dense model
        rule("y", val_loss_dense, DENSE, "dash", f"dense validation loss {val_loss_dense:.4f}", "top right"),)
    return figure(traces, title, "optimizer step", "loss (cross-entropy)", 420, rules=rules,
                  yaxis2=dict(title="weights removed (%)", overlaying="y", side="right", range=[0, 100], showgrid=False))
