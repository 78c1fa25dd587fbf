"""Screenshots of the teaching views (docs/disagree*.png, docs/breaks_*.png, docs/stepmode.png) from the real app
in headless Chromium. Re-run: `python3 bench/teaching_screenshots.py` (a few minutes on 2 cores)."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from browser import browser_page, streamlit_server  # noqa: E402

DOCS = ROOT / "docs"
WAIT = 600_000  # ms: a loaded 2-core machine is slow


def _idle(page) -> None:
    page.wait_for_timeout(1500)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=WAIT)
    page.wait_for_timeout(2500)  # plotly draws after the script ends


def _pick_model(page, name: str) -> None:
    page.locator(".st-key-model_choice").click()
    page.get_by_role("option", name=name, exact=True).click()
    _idle(page)


def _shot(page, top_selector: str, bottom_selector: str, path: Path) -> None:
    """Clip from the top of one element to the bottom of another (the viewport is tall: nothing scrolls)."""
    top = page.locator(top_selector).first.bounding_box()
    bottom = page.locator(bottom_selector).last.bounding_box()
    main = page.locator('[data-testid="stMain"]').bounding_box()
    clip = {"x": main["x"], "y": top["y"] - 10, "width": main["width"],
            "height": bottom["y"] + bottom["height"] - top["y"] + 20}
    page.screenshot(path=str(path), clip=clip)
    print("wrote", path.relative_to(ROOT), f"{clip['width']:.0f}x{clip['height']:.0f}")


def main() -> None:
    data = tempfile.mkdtemp(prefix="prunescope-shots-")
    with streamlit_server(env={"PRUNESCOPE_DATA": data}) as (url, _), browser_page(1400, 6000) as page:
        page.goto(f"{url}/layers")
        page.wait_for_selector("h1:has-text('Layers')", timeout=WAIT)
        page.locator(".st-key-layers_run label").first.click()  # skip the sensitivity runs
        _idle(page)
        page.wait_for_selector("text=Why they disagree", timeout=WAIT)
        _idle(page)
        _shot(page, "h3:has-text('Where two methods disagree')", ".st-key-dis_matrix + div .js-plotly-plot, "
              "[data-testid='stPlotlyChart']", DOCS / "disagree.png")

        page.goto(f"{url}/finetune")
        page.wait_for_selector("h3:has-text('Step mode')", timeout=WAIT)
        for step in range(2, 14, 2):  # each click runs Δt = 2 steps; wait for it to show before the next
            page.locator(".st-key-step_step").get_by_role("button").click()
            page.wait_for_function(f"() => document.body.innerText.includes('{step} / 40')", timeout=WAIT)
            _idle(page)
        _shot(page, "h3:has-text('Step mode')", "[data-testid='stPlotlyChart']", DOCS / "stepmode.png")

        page.goto(f"{url}/compare")
        page.wait_for_selector("h3:has-text('Which examples break first')", timeout=WAIT)
        _idle(page)
        page.wait_for_selector("text=Tokens whose loss rose most", timeout=WAIT)
        _idle(page)
        _shot(page, "h3:has-text('Which examples break first')", "[data-testid='stDataFrame']", DOCS / "breaks_lm.png")

        _pick_model(page, "tiny-sentiment-bert")
        page.wait_for_selector("h3:has-text('Which examples break first')", timeout=WAIT)
        page.locator(".st-key-brk_run").get_by_role("button").click()
        page.wait_for_selector("text=The 10 most fragile examples", timeout=WAIT)
        _idle(page)
        _shot(page, "h3:has-text('Which examples break first')", "[data-testid='stDataFrame']",
              DOCS / "breaks_classifier.png")


if __name__ == "__main__":
    main()
