"""Charts redrawn in place on every slider move (Explore), instead of mounted anew.

`st.plotly_chart` gives a chart a new identity whenever its figure changes, so the browser throws the
old chart away and builds the new one from nothing: on Explore that was most of the browser's work per
move (0.28 of 0.51 s of one core for the tiny GPT), and in a class the students' browsers may share the
server's cores. This component keeps one chart per key and hands the new figure to `Plotly.react`,
which updates what changed. plotly.js (the copy inside the plotly package) is loaded once per browser
page from the app's static folder (`.streamlit/config.toml`: server.enableStaticServing); the chart
uses that copy only, never the one Streamlit's own charts put on `window.Plotly`.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit as st


STATIC = Path(__file__).resolve().parents[2] / "static"
SOURCE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_JS = f"plotly-{plotly.__version__}.min.js"  # the version in the name: a served file is never stale
FONT = '"Source Sans", "Source Sans Pro", sans-serif'  # the app's own, which st.plotly_chart would apply
_log = logging.getLogger(__name__)
_served = threading.Lock()

_JS = """
function plotlyJs(src) {  // one load per page, shared by every chart; retried after a failure
  if (!window.__prunescopePlotly) {
    window.__prunescopePlotly = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = () => window.Plotly ? resolve(window.Plotly) : reject(new Error(src + ' defined no Plotly'));
      script.onerror = () => reject(new Error('could not load ' + src));
      document.head.appendChild(script);
    }).catch(error => { window.__prunescopePlotly = null; throw error; });
  }
  return window.__prunescopePlotly;
}

export default function (component) {
  const { data, parentElement } = component;
  const el = parentElement.querySelector('.prunescope-chart');
  const figure = JSON.parse(data.figure);
  figure.layout.font = Object.assign({ family: data.font }, figure.layout.font);
  if (figure.layout.title) {  // left and bold, as Streamlit's theme sets the app's other charts
    figure.layout.title = Object.assign({ x: 0, xanchor: 'left', font: { size: 16, weight: 'bold' } },
                                        figure.layout.title);
  }
  let plotly = null;
  plotlyJs(data.src)
    .then(P => { plotly = P; return P.react(el, figure.data, figure.layout, data.config); })
    .catch(error => { el.textContent = 'This chart could not be drawn (' + error.message + '); reload the page.'; });
  return () => { if (!el.isConnected && plotly) plotly.purge(el); };  // unmounted: drop its listeners
}
"""
_CHART = st.components.v2.component("prunescope_live_chart", html='<div class="prunescope-chart"></div>',
                                     css=".prunescope-chart { width: 100%; }", js=_JS, isolate_styles=False)


def serve_plotly_js() -> None:
    """Put plotly.js in the static folder Streamlit serves, once; written to a temporary file and renamed,
    so a browser or another server never reads half a file. A folder that cannot be written is logged:
    the charts then say they could not be drawn."""
    target = STATIC / PLOTLY_JS
    with _served:
        if target.exists():
            return
        part = None
        try:
            STATIC.mkdir(exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=STATIC, suffix=".part", delete=False) as part:
                part.write(SOURCE.read_bytes())
            os.replace(part.name, target)
        except OSError as exc:
            _log.warning("cannot serve plotly.js from %s: %s", STATIC, exc)
            if part is not None:
                Path(part.name).unlink(missing_ok=True)


def live_chart(fig: go.Figure, key: str) -> None:
    """Draw `fig` under `key`; the next run's figure under the same key updates this chart in place.
    One call per key and run (a second raises Streamlit's duplicate-key error)."""
    # the figure as one JSON string, parsed in the browser: no walk of plotly's nested dicts here
    _CHART(key=key, data={"figure": fig.to_json(), "font": FONT, "src": f"app/static/{PLOTLY_JS}",
                          "config": {"responsive": True, "displaylogo": False}}, height="content")
