"""The running app in headless Chromium: a user moves a control and the charts redraw."""
import re
import time
import shutil
from pathlib import Path

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


def _sent(frames: list[bytes]) -> tuple[list[str], list[str]]:
    """(element types of the deltas, other message types) of the first script run that finished in the
    server's websocket frames; ([], []) while none has (the end of an earlier run may come first)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    runs: list[list] = []
    for frame in frames:
        msg = ForwardMsg()
        msg.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            runs.append([])
        if runs:
            runs[-1].append(msg)
    for run in runs:
        kinds = [msg.WhichOneof("type") for msg in run]
        if "script_finished" in kinds:
            return ([msg.delta.new_element.WhichOneof("type") for msg in run
                     if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element"],
                    [k for k in kinds if k != "delta"])
    return [], []


def test_slider_moves_and_charts_redraw(tmp_path):
    with streamlit_server() as (url, proc), browser_page() as page:
        frames = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
        page.goto(url)
        page.wait_for_selector("text=Weights removed", timeout=120_000)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert _metric(page, "Weights removed") == "50.0%"
        _wait_measured(page)
        ppl_before = float(_metric(page, "Held-out perplexity"))
        # sparsity per layer, histogram, sizes (then quality and latency): Plotly draws them asynchronously
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=60_000)
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
        # one more move: the charts are updated in place and the URL is rewritten once (the sparsity), not
        # once per control
        frames.clear()
        page.evaluate("() => document.querySelectorAll('.js-plotly-plot').forEach((c, i) => c.dataset.tag = i)")
        slider.focus()
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                                  .some(e => e.innerText.trim() === '75.0%')""", timeout=120_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
        _wait_measured(page)
        page.wait_for_function("""() => !document.querySelector('[data-testid="stStatusWidget"]')
                                  && !document.body.innerText.includes('measuring…')""", timeout=120_000)
        for _ in range(50):  # frame events reach this process a little after the page has drawn them
            elements, messages = _sent(frames)
            if elements:
                break
            page.wait_for_timeout(100)
        # a large message the browser already holds (a figure seen on the way to 80 %) comes as a ref_hash
        assert 4 <= elements.count("bidi_component") + messages.count("ref_hash") and "plotly_chart" not in elements
        # every chart was updated in place (pages/ui/live_chart.py), none thrown away and built anew
        assert page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].map(c => c.dataset.tag)") == \
            ["0", "1", "2", "3"]
        page.wait_for_selector("text=target 75%", timeout=60_000)
        # the greying of the last move's measured chart (a style keyed on its element) matched it and is gone
        measured = page.locator(".st-key-explore_measured")
        assert measured.locator(".js-plotly-plot").count() == 1
        assert measured.evaluate("e => [getComputedStyle(e).opacity, getComputedStyle(e).pointerEvents]") == \
            ["1", "auto"]
        assert 1 <= messages.count("page_info_changed") <= 2 and "sparsity=75" in page.url
        body = page.inner_text("body")
        assert "Traceback" not in body and "pages/ directory" not in body

        page.get_by_role("link", name=re.compile("Model zoo")).click()
        page.wait_for_selector("h1:has-text('Model zoo')", timeout=60_000)
        page.wait_for_selector("td:has-text('smollm2-135m'), th:has-text('smollm2-135m')", timeout=60_000)


def _sidebar_while_loading(page, heading: str, timeout: float = 120) -> set[str]:
    """Every text the sidebar showed from the first paint until `heading` is on screen."""
    seen, deadline = set(), time.time() + timeout
    while time.time() < deadline:
        sidebar = page.locator('[data-testid="stSidebar"]')
        if sidebar.count():
            seen.add(sidebar.inner_text())
        if page.locator(f"h1:has-text('{heading}')").count():
            return seen
        time.sleep(0.1)
    raise AssertionError(f"'{heading}' never appeared; the sidebar showed {seen}")


def test_every_page_reachable_by_link_and_by_url_on_a_fresh_server():
    # The first request to a fresh server is a deep link: Streamlit runs it in its legacy pages/
    # mode; our page hands over to app.py, which must land on the page that was asked for, and
    # no helper module (pages/ui/) may ever be listed, not even for a moment.
    with streamlit_server() as (url, proc), browser_page() as page:
        page.goto(f"{url}/models")
        seen = _sidebar_while_loading(page, "Model zoo")
        assert page.url.endswith("/models")
        assert not any(_lists_a_helper(text) for text in seen), seen
        page.wait_for_selector(".st-key-nav a:has-text('Model zoo')", timeout=60_000)
        nav = page.locator(".st-key-nav").inner_text()
        assert "Explore" in nav and "Speed" in nav and not _lists_a_helper(nav)
        page.get_by_role("link", name=re.compile("Speed")).click()
        page.wait_for_selector("text=Timing mode", timeout=300_000)
        # the page draws in steps (its heavy parts may wait for a slot): wait for the GPU section itself
        page.wait_for_function("() => document.body.innerText.includes('no CUDA GPU') && "
                               "document.documentElement.innerHTML.includes('NVIDIA H100')", timeout=300_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.get_by_role("link", name=re.compile("Paper")).click()
        page.wait_for_selector("h1:has-text('Paper')", timeout=120_000)
        assert "abstract is public" in page.inner_text("body")
        assert page.locator('[data-testid="stException"]').count() == 0


def _lists_a_helper(text: str) -> bool:
    """Whether a sidebar text names a module of pages/ui/ (a helper shown as a page)."""
    helpers = {p.stem for p in (Path(__file__).resolve().parents[1] / "pages" / "ui").glob("*.py")} - {"__init__"}
    return any(line.strip() in helpers for line in text.splitlines())


@pytest.mark.parametrize("path,heading", [("compare", "Compare"), ("caches", "Explore")])
def test_first_request_deep_link(path, heading):
    """A page's link works as a fresh server's first request; a helper module is no page."""
    with streamlit_server() as (url, proc), browser_page() as page:
        page.goto(f"{url}/{path}")
        seen = _sidebar_while_loading(page, heading)
        assert not any(_lists_a_helper(text) for text in seen), seen
        if path == "compare":
            assert page.get_by_text("Page not found").count() == 0 and page.url.endswith("/compare")


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


def test_charts_say_so_when_plotly_js_cannot_load():
    """Explore's in-place charts load plotly.js from the app's static folder; if that fails, each chart
    says it could not be drawn (instead of an empty space), and the rest of the page works."""
    with streamlit_server() as (url, proc), browser_page() as page:
        page.route("**/app/static/plotly-*.min.js", lambda route: route.abort())
        page.goto(url)
        page.wait_for_selector("text=Weights removed", timeout=120_000)
        _wait_measured(page)
        # each chart tries the script itself (a failed load is retried), so they fail one after another
        page.wait_for_function("""() => [...document.querySelectorAll('.prunescope-chart')]
            .filter(c => c.textContent.startsWith('This chart could not be drawn (could not load')).length == 4""",
                               timeout=60_000)
        assert page.locator(".js-plotly-plot").count() == 0
