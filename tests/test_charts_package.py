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


def test_chart_modules_are_not_page_files():
    # Streamlit's legacy multipage mode (a fresh server's first request) lists every pages/*.py file;
    # the charts are a package one folder down, so they never show up as pages.
    page_files = {p.stem for p in (ROOT / "pages").glob("*.py")}
    charts = {p.stem for p in (ROOT / "pages" / "charts").glob("*.py")}
    assert (ROOT / "pages" / "charts" / "__init__.py").is_file() and "charts" not in page_files
    from pages import charts as package

    assert {"run", "speed", "compare", "layers", "disagree", "breaks", "style"} <= charts
    assert all(callable(getattr(package, name)) or name.isupper() for name in package.__all__)
