"""The Compare page in headless Chromium: a user starts a long sweep, presses Stop, keeps the finished runs."""
import os
import re
import shutil

import pytest

from browser import CHROMIUM, browser_page, streamlit_server
from prune_core.store import Store

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM),
                                reason="Debian chromium not installed (scripts/install.sh --dev installs it)")


def test_stop_button_stops_the_sweep_and_keeps_finished_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))  # the server inherits it
    with streamlit_server() as (url, proc), browser_page() as page:
        page.goto(f"{url}/compare")
        page.wait_for_selector("h1:has-text('Compare methods')", timeout=120_000)
        page.wait_for_selector("text=No stored runs for this model yet", timeout=120_000)
        assert "30 runs" in page.inner_text("body")  # random, magnitude, wanda x 0:0.9:0.1
        run = page.locator(".st-key-cmp_run").get_by_role("button", name="Run sweep")
        assert run.is_enabled()
        run.click()
        # wait until at least one run is finished and stored, then stop
        page.wait_for_function("() => /[1-9][0-9]*\\/30 done/.test(document.body.innerText)", timeout=240_000)
        assert page.locator(".st-key-cmp_run").get_by_role("button", name="Run sweep").is_disabled()  # no second sweep while one runs
        page.locator(".st-key-cmp_stop").get_by_role("button", name="Stop").click()
        page.wait_for_selector("text=Sweep stopped:", timeout=240_000)
        body = page.inner_text("body")
        kept = int(re.search(r"Sweep stopped: (\d+) of 30 runs kept", body).group(1))
        assert 1 <= kept < 30
        runs = Store(tmp_path / "results.sqlite").runs()
        assert len(runs) == kept and runs["sweep"].nunique() == 1
        assert runs["sweep"].iloc[0] in body  # the message names the partial sweep
        # the kept runs are charted, the Stop button is gone and Run is usable again
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.wait_for_selector(".st-key-cmp_stop", state="detached", timeout=120_000)  # gone once the page settles
        assert page.locator(".st-key-cmp_run").get_by_role("button", name="Run sweep").is_enabled()
        assert page.locator('[data-testid="stException"]').count() == 0 and "Traceback" not in body
        page.screenshot(path=str(tmp_path / "stopped.png"), full_page=True)
        # nothing more is written after the stop: the interrupted run was dropped, not stored late
        page.wait_for_timeout(3000)
        assert len(Store(tmp_path / "results.sqlite").runs()) == kept
