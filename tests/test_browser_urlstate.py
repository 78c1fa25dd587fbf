"""Shared links in headless Chromium: a link opened in a fresh browser context (no cookies, no session)
shows the same settings and the same measured figures; an exercise link locks and hides controls;
a setting submitted to a challenge is ranked with its link."""
import os
import shutil

import pytest

from browser import CHROMIUM, CHROMIUM_ARGS, browser_page, streamlit_server

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM),
                                reason="Debian chromium not installed (scripts/install.sh --dev installs it)")

MEASURED = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
             m.innerText.includes('Held-out') &&
             /[0-9]/.test(m.querySelector('[data-testid="stMetricValue"]').innerText))"""
FIGURES = ("Weights removed", "Nonzero parameters", "Held-out perplexity", "Dense fp32 size")
LINK = "/explore?model=tiny-shakespeare-gpt&method=random&sparsity=70&seed=3&reps=3&file=0"


def _metric(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _settled(page) -> dict[str, str]:
    """Wait for the measured figures of the current setting; return them by label."""
    page.wait_for_function(MEASURED, timeout=180_000)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=180_000)
    page.wait_for_function(MEASURED, timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    return {label: _metric(page, label) for label in FIGURES}


def _copied_link(page) -> str:
    page.get_by_text("Copy link to this experiment").click()
    code = page.locator('[data-testid="stCode"]', has_text="model=").first
    code.wait_for(timeout=30_000)
    return code.inner_text().strip()


def open_fresh(browser, link: str):
    """A new browser context: what a student gets who opens the link on another machine."""
    page = browser.new_context(viewport={"width": 1500, "height": 1800}).new_page()
    page.goto(link)
    page.wait_for_selector("text=Weights removed", timeout=180_000)
    return page


def test_a_copied_link_reproduces_the_figures_in_a_fresh_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    with streamlit_server(env={"PRUNESCOPE_DATA": str(tmp_path)}) as (url, proc), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        # the fresh server's first request is the link itself (Streamlit's legacy pages/ route hands it over)
        teacher = open_fresh(browser, url + LINK)
        original = _settled(teacher)
        assert original["Weights removed"] == "70.0%"
        # the teacher moves the slider once more (70 -> 80 %), then copies the link
        teacher.get_by_role("slider").first.focus()
        teacher.keyboard.press("ArrowRight")
        teacher.keyboard.press("ArrowRight")
        teacher.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                                     .some(e => e.innerText.trim() === '80.0%')""", timeout=120_000)
        original = _settled(teacher)
        link = _copied_link(teacher)
        assert link.startswith(url) and "sparsity=80" in link and "method=random" in link and "seed=3" in link
        assert "sparsity=80" in teacher.evaluate("location.href")  # the address bar follows the controls too

        student = open_fresh(browser, link)
        assert _settled(student) == original
        assert "Page not found" not in student.inner_text("body")

        exercise = open_fresh(browser, link + "&lock=method,pattern&hide=seed")
        assert _settled(exercise) == original
        banner = exercise.locator('[data-testid="stAlert"]', has_text="This is an exercise").inner_text()
        assert "method = random" in banner and "pattern = unstructured" in banner and "seed" in banner
        assert exercise.locator(".st-key-method_weights input").is_disabled()
        assert exercise.locator(".st-key-pattern input").is_disabled()
        assert exercise.locator(".st-key-seed").is_hidden()
        assert exercise.locator(".st-key-sparsity").is_visible()
        exercise.screenshot(path=str(tmp_path / "exercise.png"))

        bad = open_fresh(browser, url + "/explore?model=tiny-shakespeare-gpt&sparsity=3&method=astrology&reps=3&file=0")
        notes = bad.locator('[data-testid="stAlert"]', has_text="was ignored").all_inner_texts()
        assert any("sparsity=3" in n for n in notes) and any("method=astrology" in n for n in notes)
        assert _settled(bad)["Weights removed"] == "50.0%"

        speed = browser.new_context(viewport={"width": 1500, "height": 1800}).new_page()
        speed.goto(url + "/speed?model=tiny-sentiment-bert&sparsity=70&batch=2&reps=3&tradeoff=0&sweep=0&lock=batch")
        speed.wait_for_selector("h1:has-text('Speed')", timeout=120_000)
        speed.wait_for_selector('[data-testid="stMetric"]', timeout=180_000)
        assert speed.locator(".st-key-speed_sparsity input").input_value() == "70"
        assert speed.locator(".st-key-speed_batch input").input_value() == "2"
        assert speed.locator(".st-key-speed_batch input").is_disabled()
        speed.get_by_text("Copy link to this experiment").click()
        assert speed.locator('[data-testid="stCode"]', has_text="model=").first.inner_text().startswith(url + "/speed?")
        browser.close()
        assert proc.poll() is None


def test_a_fresh_servers_first_request_for_another_page_keeps_the_links_settings(tmp_path):
    """/layers?... as the very first request of a fresh server: Streamlit's legacy pages/ mode runs
    pages/layers.py, which hands over to app.py (pages/ui/nav.py); the user lands on Layers, with the
    link's model and sparsity, and the address keeps them."""
    with streamlit_server(env={"PRUNESCOPE_DATA": str(tmp_path)}) as (url, proc), browser_page() as page:
        page.goto(url + "/layers?model=tiny-sentiment-bert&sparsity=30&sensitivity=0")
        page.wait_for_selector("h1:has-text('Layers')", timeout=120_000)
        page.wait_for_function("""() => document.querySelector('.st-key-layers_target input[type="range"]')
                                  ?.value === '30'""", timeout=120_000)
        picked = page.locator(".st-key-model_choice input").first
        assert "tiny-sentiment-bert" in (picked.input_value() or picked.get_attribute("aria-label") or "")
        page.wait_for_function("() => location.pathname.endsWith('/layers') && location.search.includes('sparsity=30')"
                               " && location.search.includes('model=tiny-sentiment-bert')", timeout=60_000)
        assert "Page not found" not in page.inner_text("body")
        assert page.locator('[data-testid="stException"]').count() == 0


def test_a_challenge_entry_is_ranked_with_its_link(tmp_path):
    from playwright.sync_api import sync_playwright

    with streamlit_server(env={"PRUNESCOPE_DATA": str(tmp_path)}) as (url, proc), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = open_fresh(browser, url + "/explore?model=tiny-shakespeare-gpt&sparsity=85&reps=3&file=0"
                                         "&challenge=lm-bitmask-4x")
        figures = _settled(page)
        page.wait_for_selector("text=These settings meet the goal", timeout=60_000)
        page.get_by_label("Your name on the scoreboard").fill("ada")
        page.get_by_role("button", name="Submit these settings").click()
        page.wait_for_selector("text=Submitted for ada", timeout=60_000)
        page.wait_for_selector("text=Scoreboard: 4x smaller", timeout=60_000)
        page.locator("text=Scoreboard: 4x smaller").scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "scoreboard.png"))

        from prune_core.store import Store

        (query,) = Store(tmp_path / "results.sqlite").entries("lm-bitmask-4x")["query"]
        again = open_fresh(browser, f"{url}/explore?{query}")
        assert _settled(again) == figures  # the entry's link reproduces what was scored
        browser.close()
