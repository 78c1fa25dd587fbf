"""Screenshots of the teaching views (docs/disagree*.png, docs/breaks_*.png, docs/stepmode.png) and of OWL
on Layers and Compare (docs/layers_owl.png, docs/compare_owl.png) from the real app in headless Chromium.
Re-run: `python3 bench/teaching_screenshots.py [--owl]` (a few minutes on 2 cores; --owl: only the OWL views)."""
from __future__ import annotations

import os
import subprocess
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


def _open(page, url: str, path: str, heading: str, ready: str) -> None:
    """Go to a page, wait for its heading, then for the text that says the section is drawn."""
    page.goto(f"{url}/{path}")
    page.wait_for_selector(heading, timeout=WAIT)
    _idle(page)
    page.wait_for_selector(ready, timeout=WAIT)
    _idle(page)


def _owl_runs(data: str) -> None:
    """Stored runs for Compare: magnitude and Wanda, per-layer and OWL, on the tiny GPT (CLI sweeps)."""
    for allocation in ("layer", "owl"):
        subprocess.run([sys.executable, "-m", "prune_core", "sweep", "--model", "tiny-shakespeare-gpt",
                        "--methods", "magnitude,wanda", "--sparsity", "0.3:0.8:0.1", "--allocation", allocation],
                       cwd=ROOT, env=dict(os.environ, PRUNESCOPE_DATA=data, HF_HUB_OFFLINE="1"), check=True,
                       stdout=subprocess.DEVNULL)


def _layers_without_sensitivity(url: str, page) -> None:
    """The Layers page with its sensitivity analysis switched off (it would take minutes)."""
    page.goto(f"{url}/layers")
    page.wait_for_selector("h1:has-text('Layers')", timeout=WAIT)
    page.locator(".st-key-layers_run label").first.click()
    _idle(page)


def owl_shots(url: str, page) -> None:
    _layers_without_sensitivity(url, page)
    page.wait_for_selector("text=Line: the sparsity OWL gives the block", timeout=WAIT)
    _idle(page)
    _shot(page, ".st-key-layers_owl", ".st-key-layers_run", DOCS / "layers_owl.png")
    _open(page, url, "compare", "h1:has-text('Compare')", "text=+ OWL")
    _shot(page, "[data-testid='stPlotlyChart']", "[data-testid='stPlotlyChart']", DOCS / "compare_owl.png")


def main() -> None:
    data = tempfile.mkdtemp(prefix="prunescope-shots-")
    if "--owl" in sys.argv:  # only the OWL views
        _owl_runs(data)
        with streamlit_server(env={"PRUNESCOPE_DATA": data}) as (url, _), browser_page(1400, 3000) as page:
            owl_shots(url, page)
        return
    with streamlit_server(env={"PRUNESCOPE_DATA": data}) as (url, _), browser_page(1400, 6000) as page:
        _layers_without_sensitivity(url, page)
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

        _open(page, url, "compare", "h3:has-text('Which examples break first')", "text=Tokens whose loss rose most")
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
