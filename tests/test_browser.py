"""The running app in headless Chromium: a user moves a control and the charts redraw."""
import re
import shutil

import pytest

from browser import CHROMIUM, browser_page, streamlit_server

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None and not __import__("os").path.exists(CHROMIUM),
                                reason="Debian chromium not installed (scripts/install.sh --dev installs it)")


def _metric(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def _wait_measured(page) -> None:
    """Counts come first; wait until the quality card holds a measured number, not "measuring…"."""
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stMetric"]')]
        .some(e => e.innerText.includes('Held-out') && /[0-9]/.test(e.querySelector('[data-testid="stMetricValue"]').innerText))""",
                           timeout=120_000)


def test_slider_moves_and_charts_redraw(tmp_path):
    with streamlit_server() as (url, proc), browser_page() as page:
        page.goto(url)
        page.wait_for_selector("text=Weights removed", timeout=120_000)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert _metric(page, "Weights removed") == "50.0%"
        _wait_measured(page)
        ppl_before = float(_metric(page, "Held-out perplexity"))
        n_plots = page.locator(".js-plotly-plot").count()
        assert n_plots >= 3  # sparsity per layer, histogram, sizes, latency
        page.screenshot(path=str(tmp_path / "before.png"))

        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(6):  # 50 % -> 80 %, 5 % per key press
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                     .some(e => e.innerText.trim() === '80.0%')""", timeout=120_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
        _wait_measured(page)
        assert float(_metric(page, "Held-out perplexity")) > ppl_before
        # the per-layer chart redrew with the new target line
        page.wait_for_selector("text=target 80%", timeout=60_000)
        page.screenshot(path=str(tmp_path / "after.png"))
        body = page.inner_text("body")
        assert "Traceback" not in body and "pages/ directory" not in body

        page.get_by_role("link", name=re.compile("Model zoo")).click()
        page.wait_for_selector("h1:has-text('Model zoo')", timeout=60_000)
        page.wait_for_selector("td:has-text('smollm2-135m'), th:has-text('smollm2-135m')", timeout=60_000)


def test_every_page_reachable_by_link_and_by_url_on_a_fresh_server():
    # The first request to a fresh server is a deep link: Streamlit runs it in its legacy pages/
    # mode; our page hands over to app.py, which must land on the page that was asked for.
    with streamlit_server() as (url, proc), browser_page() as page:
        page.goto(f"{url}/models")
        page.wait_for_selector("h1:has-text('Model zoo')", timeout=120_000)
        assert page.url.endswith("/models")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Explore" in nav and "Speed" in nav and "common" not in nav  # no legacy page list
        page.get_by_role("link", name=re.compile("Speed")).click()
        page.wait_for_selector("text=Timing mode", timeout=300_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        body = page.inner_text("body")
        assert "no CUDA GPU" in body and "NVIDIA H100" in page.content()
        page.get_by_role("link", name=re.compile("Paper")).click()
        page.wait_for_selector("h1:has-text('Paper')", timeout=120_000)
        assert "abstract is public" in page.inner_text("body")
        assert page.locator('[data-testid="stException"]').count() == 0


def test_predict_then_reveal_in_the_browser():
    with streamlit_server() as (url, proc), browser_page() as page:
        page.goto(url)
        page.wait_for_selector("text=Weights removed", timeout=120_000)
        page.get_by_text("Predict, then reveal").click()
        page.wait_for_selector("text=Your turn", timeout=60_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
        page.wait_for_function("""() => document.querySelectorAll('[data-testid="stMetric"]').length === 0""",
                               timeout=60_000)  # results held back until the guess
        box = page.get_by_label(re.compile("Your guess"))
        box.fill("9.5")
        page.get_by_role("button", name="Reveal", exact=True).click()
        page.wait_for_selector("text=You guessed 9.5", timeout=120_000)
        page.wait_for_function("""() => document.querySelectorAll('[data-testid="stMetric"]').length >= 4""",
                               timeout=120_000)  # the results, revealed


def test_finetune_live_curves_and_stop_keeps_a_partial_result():
    with streamlit_server() as (url, proc), browser_page() as page:
        page.goto(f"{url}/finetune")
        page.wait_for_selector("h1:has-text('Fine-tune')", timeout=120_000)
        page.get_by_role("button", name="Fine-tune", exact=True).click()
        page.wait_for_selector("text=Fine-tuning (live)", timeout=120_000)  # the live curve is drawing
        page.wait_for_function("() => /step ([2-9]|[1-9][0-9])\\//.test(document.body.innerText)", timeout=120_000)
        page.get_by_role("button", name="Stop").click()
        page.wait_for_selector("text=these are partial results", timeout=120_000)
        page.wait_for_selector("text=Download the fine-tuned model", timeout=120_000)
        assert page.locator('[data-testid="stException"]').count() == 0
