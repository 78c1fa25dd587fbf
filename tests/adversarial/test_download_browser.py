"""The Explore download as a user gets it (the running app in headless Chromium): the zip arrives, and
its recipe rebuilds the same weights bit for bit from the command line."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from browser import browser_page, streamlit_server
from test_export_recipe import _same_weights

ROOT = Path(__file__).resolve().parents[2]


def test_explore_download_zip_rebuilds_from_its_recipe(tmp_path):
    with streamlit_server() as (url, _), browser_page() as page:
        page.goto(url, wait_until="domcontentloaded")
        button = page.get_by_role("button", name="Download the pruned model")
        button.wait_for(timeout=240_000)
        with page.expect_download(timeout=120_000) as info:
            button.click()
        assert info.value.suggested_filename.endswith(".zip")
        zipfile.ZipFile(info.value.path()).extractall(tmp_path / "zip")
    got = tmp_path / "zip" / "model"
    assert {"model.safetensors", "recipe.json", "tokenizer.json", "config.json"} <= {p.name for p in got.iterdir()}
    out = subprocess.run([sys.executable, "-m", "prune_core", "prune", "--recipe", str(got / "recipe.json"),
                          "--export", str(tmp_path / "again"), "--reps", "3", "--no-file-size"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr
    _same_weights(got, tmp_path / "again")
