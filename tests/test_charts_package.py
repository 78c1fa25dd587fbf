"""Charts live beside the pages: the core never imports plotly, and no chart module is a page file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_core_never_imports_plotly():
    code = ("import sys, prune_core.run, prune_core.cli, prune_core.paper, prune_core.sweep, prune_core.store; "
            "assert 'plotly' not in sys.modules, sorted(m for m in sys.modules if m.startswith('plotly'))[:3]")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert not [p for p in (ROOT / "prune_core").rglob("*.py") if "plotly" in p.read_text(encoding="utf-8")]


def test_pages_folder_holds_only_the_real_pages():
    # Streamlit's legacy multipage mode (a fresh server's first request) lists every pages/*.py file:
    # those are exactly the navigation's pages, each handing over to app.py; helpers and charts live
    # in pages/ui/, a package it never lists.
    from pages.ui import charts as package
    from pages.ui.nav import PAGE_PATHS

    page_files = {p.stem: p.read_text(encoding="utf-8") for p in (ROOT / "pages").glob("*.py")}
    assert set(page_files) == set(PAGE_PATHS)
    assert all('hand_over(__file__)' in text for text in page_files.values())
    assert not [p for p in (ROOT / "pages" / "ui").rglob("*.py") if "\n    hand_over(__file__)" in p.read_text()]
    charts = {p.stem for p in (ROOT / "pages" / "ui" / "charts").glob("*.py")}
    assert {"run", "speed", "compare", "layers", "disagree", "breaks", "style"} <= charts
    assert all(callable(getattr(package, name)) or name.isupper() for name in package.__all__)


def test_a_line_label_sits_on_its_line_on_a_log_axis():
    """plotly places shapes by value but annotations by log10 of it on a log axis: the dense line's label of a
    perplexity chart (log y) must be at log10 of the dense figure, the line itself at the figure."""
    import pandas as pd

    from pages.ui import charts

    runs = pd.DataFrame({"method": ["magnitude", "wanda"], "quality": [30.0, 25.0], "latency_ms": [5.0, 5.1],
                         "sparsity_target": [0.5, 0.5], "pattern": ["unstructured"] * 2,
                         "allocation": ["layer"] * 2, "seed": [0, 0]})
    fig = charts.compare_chart(runs, "latency_ms", "latency (ms)", "perplexity", dense_quality=20.0)
    assert fig.layout.yaxis.type == "log"
    line = next(s for s in fig.layout.shapes if s.y0 == 20.0)
    label = next(a for a in fig.layout.annotations if a.text.startswith("dense"))
    assert line.y1 == 20.0 and abs(label.y - 1.3010299956639813) < 1e-12
    linear = charts.compare_chart(runs.assign(quality=[0.8, 0.7]), "latency_ms", "latency (ms)", "accuracy",
                                  dense_quality=0.9)
    assert next(a for a in linear.layout.annotations if a.text.startswith("dense")).y == 0.9
