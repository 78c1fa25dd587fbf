"""Speed (the Speed page): GPU speed-ups, variants, batch and sparsity sweeps, the trade-off, 2:4 crossover."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from prune_core.quality import metric_named

from .style import AXIS, DENSE, LOOK, PRUNED, figure, on_panel, rule, side_by_side


def gpu_speedup_chart(df: pd.DataFrame, mode: str, how: str = "recorded") -> go.Figure:
    """2:4-vs-dense speedups on a GPU (recorded or measured live), per layer shape and end to end."""
    part = df[df["mode"] == mode]
    lines = [go.Scatter(x=rows["tokens"], y=rows["speedup"], mode="lines+markers", name=name,
                        customdata=rows[["dense_ms", "sparse_ms", "batch", "shape"]].to_numpy(),
                        hovertemplate="%{x} tokens (batch %{customdata[2]})<br>speedup %{y:.2f}x<br>dense "
                                      "%{customdata[0]:.3f} ms, 2:4 %{customdata[1]:.3f} ms<br>%{customdata[3]}"
                                      "<extra>" + name + "</extra>")
             for name, rows in part.groupby("name", sort=False)]
    meta = part.iloc[0] if len(part) else None
    sub = f"{meta['gpu']}, torch {meta['torch']}, {meta['dtype']}, {mode}, {how} {meta['date']}" if meta is not None else ""
    return figure(lines, f"2:4 semi-structured vs dense on GPU<br><sup>{sub}</sup>", "tokens per call (log)",
                  "speedup over dense (x)", 420, xaxis=dict(type="log"),
                  rules=(rule("y", 1.0, DENSE, "dash", "dense = 1x", "top right"),
                         rule("y", 2.0, "black", "dot", "ideal 2:4 limit 2x", "top right")))


def speed_bars(df: pd.DataFrame) -> go.Figure:
    """Measured latency of each speed variant, with the FLOP-ideal as a marker."""
    measured = go.Bar(x=df["variant"], y=df["median_ms"], name="measured",
                      marker_color=[DENSE if v == "dense" else PRUNED for v in df["variant"]],
                      error_y=dict(type="data", symmetric=False, array=df["q3_ms"] - df["median_ms"],
                                   arrayminus=df["median_ms"] - df["q1_ms"]),
                      customdata=df[["gflops", "ideal_ms"]].to_numpy(),
                      hovertemplate="%{x}: %{y:.2f} ms (median)<br>%{customdata[0]:.3f} GFLOP in linear layers"
                                    "<br>FLOP-ideal %{customdata[1]:.2f} ms<extra></extra>")
    ideal = go.Scatter(x=df["variant"], y=df["ideal_ms"], mode="markers", name="ideal from FLOPs",
                       marker=dict(symbol="line-ew-open", size=40, line=dict(width=3, color="black")),
                       hovertemplate="%{x}: ideal %{y:.2f} ms<extra></extra>")
    setup = df["setup"].iloc[0]
    return figure([measured, ideal], f"Same batch, every variant (measured)<br><sup>{setup}</sup>", "", "milliseconds",
                  400)


def sweep_chart(df: pd.DataFrame, x: str, x_title: str, title: str, log_x: bool = False) -> go.Figure:
    """Median latency of each variant over a sweep (batch size or sparsity)."""
    colours = {"dense": DENSE, "masked": "#f39c12", "csr": "#c0392b", "structured": "#27ae60"}
    lines = [go.Scatter(x=rows[x], y=rows["median_ms"], mode="lines+markers", name=variant,
                        line=dict(color=colours.get(variant)),
                        hovertemplate=f"{x} %{{x}}<br>%{{y:.3f}} ms<extra>{variant}</extra>")
             for variant, rows in df.groupby("variant", sort=False)]
    return figure(lines, title, x_title, "milliseconds (median)", 380, xaxis=dict(type="log") if log_x else None)


def tradeoff_chart(df: pd.DataFrame, quality_metric: str) -> go.Figure:
    """Quality against measured latency and against parameters removed, for both kinds of pruning."""
    colours = {"dense": DENSE, "unstructured (masked)": "#f39c12", "structured (MLP neurons)": "#27ae60"}
    traces = []
    for kind, rows in df.groupby("kind", sort=False):
        text = [f"{s:.0%}" for s in rows["sparsity"]]
        common = dict(mode="markers+lines+text" if kind != "dense" else "markers", name=kind, text=text,
                      textposition="top center", marker=dict(size=11, color=colours.get(kind)), legendgroup=kind)
        traces.append(go.Scatter(x=rows["median_ms"], y=rows["quality"], **on_panel(1),
                                 hovertemplate="%{text}: %{x:.2f} ms, " + quality_metric + " %{y:.4g}<extra>" + kind
                                               + "</extra>", **common))
        traces.append(go.Scatter(x=rows["params_removed"] * 100, y=rows["quality"], **on_panel(2),
                                 showlegend=False, hovertemplate="%{text}: %{x:.1f} % removed, " + quality_metric +
                                 " %{y:.4g}<extra>" + kind + "</extra>", **common))
    panels = side_by_side(["quality vs measured latency", "quality vs share of parameters removed"], 0.1, AXIS,
                          dict(AXIS, type="log") if metric_named(quality_metric).log_scale else AXIS)
    panels["xaxis"]["title"], panels["xaxis2"]["title"] = "milliseconds (median)", "parameters removed (%)"
    panels["yaxis"]["title"] = quality_metric
    return go.Figure(traces, layout=dict(LOOK, title="Speed and size against quality: unstructured vs structured",
                                         height=420, legend=dict(orientation="h", y=-0.25),
                                         margin=dict(l=60, r=20, t=80, b=60), **panels))


def crossover_chart(frame: pd.DataFrame, your_tokens: int | None = None) -> go.Figure:
    """Per layer shape: the tokens per call from which 2:4 beats dense on a recorded GPU (bars, log);
    shapes where it never did are drawn at the largest count measured, hatched and labelled 'never'."""
    measured = frame[frame["measured"]] if len(frame) else frame
    bars = []
    for gpu, rows in measured.groupby("gpu", sort=True):
        crossed = rows["tokens"].notna()
        height = rows["tokens"].where(crossed, rows["max_tokens"]).astype(float)
        bars.append(go.Bar(x=rows["shape"] + " " + rows["layers"].str.slice(0, 28), y=height, name=str(gpu),
                           marker_pattern_shape=["" if c else "/" for c in crossed],
                           text=["" if c else "never" for c in crossed], textposition="outside",
                           customdata=[_crossover_hover(r) for r in rows.itertuples()],
                           hovertemplate="%{customdata}<extra>" + str(gpu) + "</extra>"))
    rules = (rule("y", your_tokens, DENSE, "dash", f"this page's batch: {your_tokens:,} tokens (dense wins below the "
                  "bars)", "top right", log=True),) if your_tokens else ()
    missing = frame[~frame["measured"]]["shape"].tolist() if len(frame) else []
    sub = "hatched 'never': 2:4 never beat dense up to the largest batch measured" + (
        f"; not measured: {', '.join(missing)}" if missing else "")
    return figure(bars, f"2:4 crossover: tokens per call from which 2:4 beats dense<br><sup>{sub}</sup>",
                  "layer shape (out x in) and its layers", "tokens per call (log)", 400, yaxis=dict(type="log"),
                  rules=rules)


def _crossover_hover(r) -> str:
    if pd.isna(r.tokens):
        return f"{r.layers}<br>2:4 never beat dense up to {int(r.max_tokens):,} tokens per call (best {r.best:.2f}x)"
    lost = f" (lost at {int(r.lost_at):,})" if not pd.isna(r.lost_at) else ""
    return f"{r.layers}<br>2:4 beats dense from {int(r.tokens):,} tokens per call{lost}; best {r.best:.2f}x"
