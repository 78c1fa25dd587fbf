"""Time from a one-step slider move on Explore to the cheap figures, and to full results, in Chromium.

Starts `streamlit run app.py` (headless), opens it in headless Chromium (playwright), picks each
zoo model, waits for it to load and warm up, then moves the sparsity slider one step (5 %) N times,
every sparsity new (no cache helps). For each move it times, from the key press:
  cheap: the "Weights removed" card shows the new sparsity and the per-layer chart its new target line;
  full:  quality, latency and the dense-vs-pruned outputs are on screen and the app is idle.
Prints median and max per model. Timings include the browser round trip and Streamlit's rerun.
Run: python3 bench/slider_latency.py [--models a,b] [--moves 5] [--screenshots docs]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import streamlit_server  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MODELS = ["tiny-shakespeare-gpt", "tiny-sentiment-bert", "minilm-l6", "smollm2-135m"]

CHEAP_JS = """(pct) => {
  const card = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(e => e.innerText.includes('Weights removed'));
  if (!card || card.querySelector('[data-testid="stMetricValue"]').innerText.trim() !== pct + '.0%') return false;
  return [...document.querySelectorAll('.js-plotly-plot')].some(p => p.textContent.includes('target ' + pct + '%'));
}"""
FULL_JS = """() => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  const vals = [...document.querySelectorAll('[data-testid="stMetricValue"]')].map(e => e.innerText);
  const text = document.body.innerText;
  // the outputs come last; their caption is written after them (and an old one was replaced by a
  // placeholder before the quality card, checked here, got its number)
  return vals.length >= 4 && !vals.some(v => v.includes('measuring')) && !text.includes('after the measurement')
    && !text.includes('Running...') && (text.includes('Same prompt, same random seed') || text.includes('Same sentences'));
}"""


def pick_model(page, name: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]', has_text="Transformer to prune")
    box.click()
    page.keyboard.type(name)
    page.keyboard.press("Enter")


def settle(page, timeout_s: float) -> None:
    try:
        page.wait_for_function(FULL_JS, timeout=timeout_s * 1000, polling=50)
    except Exception:
        page.screenshot(path="/tmp/slider_latency_timeout.png", full_page=False)
        print(page.inner_text("body")[-3000:], file=sys.stderr)
        raise


def bench_model(page, name: str, moves: int, shots: Path | None) -> tuple[list[float], list[float]]:
    pick_model(page, name)
    page.wait_for_function(f"() => document.body.innerText.includes('{name}') && "
                           "document.body.innerText.includes('parameters ·')", timeout=600_000)
    settle(page, 600)
    time.sleep(3)  # let the background warm-up of the model's facts finish
    slider = page.get_by_role("slider").first

    def value() -> int:
        return int(page.locator('[data-testid="stSliderThumbValue"]').first.inner_text())

    def step() -> str:
        """Focus the slider; the value one step left (5 %) of where it is (it keeps its value across models)."""
        pct = str(value() - 5)
        slider.focus()
        return pct

    if value() < 5 * (moves + 2):
        slider.focus()
        page.keyboard.press("End")  # 95 %: room for every step down
        page.wait_for_function(CHEAP_JS, arg="95", timeout=600_000, polling="raf")
        settle(page, 600)
    # a first move warms what a move needs (the dense baseline, this setting's caches); not counted
    pct = step()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(CHEAP_JS, arg=pct, timeout=600_000, polling="raf")
    settle(page, 600)
    cheap, full = [], []
    for i in range(moves):  # each a sparsity not computed before in this server (models differ)
        pct = step()
        start = time.perf_counter()
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(CHEAP_JS, arg=pct, timeout=120_000, polling="raf")
        cheap.append(time.perf_counter() - start)
        if shots is not None and i == 0:
            page.screenshot(path=str(shots / f"explore_streaming_{name}.png"), full_page=False)
        settle(page, 600)
        full.append(time.perf_counter() - start)
        if shots is not None and i == 0:
            page.screenshot(path=str(shots / f"explore_measured_{name}.png"), full_page=False)
    return cheap, full


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--moves", type=int, default=5)
    ap.add_argument("--screenshots", default=None, help="folder for screenshots of the streaming states")
    args = ap.parse_args()
    shots = Path(args.screenshots) if args.screenshots else None
    rows = []
    with streamlit_server(timeout=180) as (url, proc), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        # tall enough that a screenshot shows the whole page (Streamlit scrolls inside, not the body)
        page = browser.new_page(viewport={"width": 1500, "height": 3400 if shots else 1100})
        page.goto(url)
        page.wait_for_selector("text=Weights removed", timeout=300_000)
        for name in args.models.split(","):
            cheap, full = bench_model(page, name, args.moves, shots)
            rows.append((name, cheap, full))
            print(f"{name}: cheap {[round(c, 3) for c in cheap]} full {[round(f, 3) for f in full]}", flush=True)
        browser.close()
    print(f"\n{'model':<22}{'cheap p50 s':>12}{'cheap max s':>12}{'full p50 s':>12}{'full max s':>12}  "
          f"({args.moves} one-step moves of 5 %, each to a new sparsity)")
    for name, cheap, full in rows:
        print(f"{name:<22}{statistics.median(cheap):12.3f}{max(cheap):12.3f}{statistics.median(full):12.3f}"
              f"{max(full):12.3f}")


if __name__ == "__main__":
    main()
