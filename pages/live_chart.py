"""Charts redrawn in place on every slider move (Explore), instead of mounted anew.

`st.plotly_chart` gives a chart a new identity whenever its figure changes, so the browser throws the
old chart away and builds the new one from nothing: on Explore that was most of the browser's work per
move (0.28 of 0.51 s of one core for the tiny GPT), and in a class the students' browsers may share the
server's cores. This component keeps one chart per key and hands the new figure to `Plotly.react`,
which updates what changed. plotly.js (the copy inside the plotly package) is served once per page from
the app's static folder (`.streamlit/config.toml`: server.enableStaticServing).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit as st

from pages.nav import hand_over

STATIC = Path(__file__).resolve().parents[1] / "static"
PLOTLY_JS = "plotly.min.js"
SOURCE = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
FONT = '"Source Sans", "Source Sans Pro", sans-serif'  # the app's own, which st.plotly_chart would apply

_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const el = parentElement.querySelector('.prunescope-chart');
  const figure = JSON.parse(data.figure);
  figure.layout.font = Object.assign({ family: data.font }, figure.layout.font);
  if (figure.layout.title) {  // left and bold, as Streamlit's theme sets the app's other charts
    figure.layout.title = Object.assign({ x: 0, xanchor: 'left', font: { size: 16, weight: 'bold' } },
                                        figure.layout.title);
  }
  const draw = () => window.Plotly.react(el, figure.data, figure.layout, data.config);
  if (window.Plotly) { draw(); return; }
  let script = document.getElementById('prunescope-plotly-js');
  if (!script) {
    script = document.createElement('script');
    script.id = 'prunescope-plotly-js';
    script.src = data.src;
    document.head.appendChild(script);
  }
  script.addEventListener('load', draw, { once: true });
}
"""
_CHART = st.components.v2.component("prunescope_live_chart", html='<div class="prunescope-chart"></div>',
                                     css=".prunescope-chart { width: 100%; }", js=_JS, isolate_styles=False)


def serve_plotly_js() -> None:
    """Put plotly.js in the static folder Streamlit serves (once per server; refreshed if the plotly
    package changed)."""
    target = STATIC / PLOTLY_JS
    if not target.exists() or target.stat().st_size != SOURCE.stat().st_size:
        STATIC.mkdir(exist_ok=True)
        shutil.copyfile(SOURCE, target)


def live_chart(fig: go.Figure, key: str) -> None:
    """Draw `fig` under `key`; the next run's figure under the same key updates this chart in place."""
    # the figure as one JSON string, parsed in the browser: Streamlit serializes and hashes what it is
    # given, and a string costs it nothing to walk (the GIL the other sessions wait for)
    _CHART(key=key, data={"figure": fig.to_json(), "font": FONT, "src": f"app/static/{PLOTLY_JS}",
                          "config": {"responsive": True, "displaylogo": False}}, height="content")


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/nav.py)
    hand_over(__file__)
