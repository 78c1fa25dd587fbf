"""Screenshots of the teaching views for the README: an exercise link and a challenge scoreboard.

Run: python3 bench/exercise_screenshots.py [--out docs]
Starts the app on a free port with an empty results store, opens an exercise link in headless Chromium,
submits three settings to the "4x smaller" challenge under three names, and saves
docs/exercise_link.png and docs/scoreboard.png.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

EXERCISE = ("/?model=tiny-shakespeare-gpt&method=magnitude&pattern=unstructured&sparsity=70&reps=3&file=0"
            "&lock=model,method,pattern&hide=seed,allocation,head")
ENTRIES = [("ada", "method=magnitude&sparsity=85"), ("bo", "method=magnitude&sparsity=85&allocation=global"),
           ("cy", "method=random&sparsity=90")]
SETTLED = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m =>
             m.innerText.includes('Held-out') && /[0-9]/.test(m.querySelector('[data-testid="stMetricValue"]').innerText))
             && !document.querySelector('[data-testid="stStatusWidget"]')"""


def settle(page) -> None:
    page.wait_for_selector("text=Weights removed", timeout=180_000)
    page.wait_for_function(SETTLED, timeout=300_000)
    page.wait_for_timeout(1500)  # let the last elements paint


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs", help="folder for the PNG files")
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, streamlit_server(env={"PRUNESCOPE_DATA": data}) as (url, _), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url + EXERCISE)
        settle(page)
        page.screenshot(path=str(out / "exercise_link.png"))
        for name, query in ENTRIES:  # each student opens the challenge with their own setting
            page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
            page.goto(f"{url}/?model=tiny-shakespeare-gpt&reps=3&file=0&challenge=lm-bitmask-4x&{query}")
            settle(page)
            page.get_by_label("Your name on the scoreboard").fill(name)
            page.get_by_role("button", name="Submit these settings").click()
            page.wait_for_selector(f"text=Submitted for {name}", timeout=60_000)
        page.wait_for_function(SETTLED, timeout=300_000)  # the submission's rerun
        page.get_by_role("heading", name="Challenges").evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "scoreboard.png"))
        browser.close()
    print(f"saved {out / 'exercise_link.png'} and {out / 'scoreboard.png'}")


if __name__ == "__main__":
    main()
