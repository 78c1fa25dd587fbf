"""A full-page screenshot of each of the eight pages, from the real app in headless Chromium, for a person
to look at after a change (they go to a folder of your choice, not into the repository by default).

Each page is opened by its link on the default model, waited for until the app is idle and Plotly has
drawn, checked for a traceback or an error box, and saved as <folder>/<page>.png.
Run: `python3 bench/page_screenshots.py [--out /tmp/pages] [--width 1400]` (a few minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from browser import browser_page, streamlit_server  # noqa: E402
from pages.ui.nav import PAGES  # noqa: E402

WAIT = 600_000  # ms: a loaded 2-core machine is slow


def _idle(page) -> None:
    page.wait_for_timeout(1500)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=WAIT)
    page.wait_for_timeout(2500)  # plotly draws after the script ends


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/prunescope-pages", help="folder for the screenshots")
    ap.add_argument("--width", type=int, default=1400, help="viewport width in pixels")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    with streamlit_server() as (url, _proc), browser_page(width=args.width, height=1000) as page:
        for spec in PAGES:
            page.goto(f"{url}/{spec.path}")
            page.wait_for_selector("h1", timeout=WAIT)
            _idle(page)
            errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
            if errors or "Traceback" in page.inner_text("body"):
                problems.append(f"{spec.path}: {errors} error box(es)")
            page.screenshot(path=str(out / f"{spec.path}.png"), full_page=True)
            print(f"{spec.path:<10} {'errors: ' + str(errors) if errors else 'ok'}  -> {out / spec.path}.png")
    print("\n".join(problems) or "no page shows an error")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
