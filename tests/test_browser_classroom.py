"""One server, three students at once: each browser session gets its own correct results."""
import os
import shutil

import pytest

from browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM),
                                reason="Debian chromium not installed (scripts/install.sh --dev installs it)")

SHOWS = """(pct) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
             m.innerText.includes('Weights removed') &&
             m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === pct)"""


MEASURED = """(label) => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
             m.innerText.includes(label) &&
             !m.querySelector('[data-testid="stMetricValue"]').innerText.includes('measuring'))"""


def _metric(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_three_sessions_with_different_settings_at_once(gpt, monkeypatch):
    from playwright.sync_api import sync_playwright

    from prune_core.config import PruneConfig
    from prune_core.run import prune_model, quality_estimate

    moves = {0: ["ArrowRight"], 1: ["ArrowRight"] * 3, 2: ["ArrowLeft"] * 2}  # 50 % -> 55, 65, 40 %
    targets = {0: 55, 1: 65, 2: 40}
    expected = {i: quality_estimate(gpt, prune_model(gpt, PruneConfig(method="magnitude", sparsity=s / 100))[1],
                                    "quick").value
                for i, s in targets.items()}  # the page's default evaluation
    monkeypatch.setenv("PRUNESCOPE_MAX_JOBS", "1")  # the three runs queue behind each other
    with streamlit_server() as (url, proc), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in moves]
        for page in pages:
            page.goto(url)
        for page in pages:
            page.wait_for_function(SHOWS, arg="50.0%", timeout=180_000)
            page.get_by_role("slider").first.focus()
        for i, page in enumerate(pages):  # all three move before any has its results
            for key in moves[i]:
                page.keyboard.press(key)
        for i, page in enumerate(pages):
            page.wait_for_function(SHOWS, arg=f"{targets[i]:.1f}%", timeout=180_000)
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=180_000)
            page.wait_for_function(SHOWS, arg=f"{targets[i]:.1f}%", timeout=10_000)  # still its own
            page.wait_for_function(MEASURED, arg="Held-out perplexity", timeout=180_000)  # counts come first
            shown = float(_metric(page, "Held-out perplexity"))
            assert shown == pytest.approx(expected[i], rel=1e-3), (i, shown, expected[i])
            assert page.locator('[data-testid="stException"]').count() == 0
            # the per-layer chart redrew; Plotly draws after the metrics (its promise chain), so wait for it
            page.wait_for_selector(f"text=target {targets[i]}%", timeout=30_000)
        assert len({_metric(p, "Held-out perplexity") for p in pages}) == 3
        browser.close()
        assert proc.poll() is None  # the server is still up
