"""Explore's download (safetensors + tokenizer + recipe.json) rebuilds bit-identically from the CLI, and
the downloadable interactive chart carries plotly.js inside (it opens offline)."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import plotly.graph_objects as go
import pytest
import torch
from safetensors.torch import load_file

from conftest import fingerprint
from pages.ui import charts
from prune_core.cli import main
from prune_core.config import PruneConfig
from prune_core.export import zip_export
from prune_core.recipe import export_pruned, read_recipe
from prune_core.run import LatencySpec, run

ROOT = Path(__file__).resolve().parents[2]
FAST = LatencySpec(seq_len=16, reps=3, warmup=1)


def _download(loaded, config: PruneConfig, folder: Path) -> Path:
    """What the Explore page's button gives: the zip of export_pruned, unpacked."""
    result, pruned = run(loaded, config, latency=FAST, measure_file=False)
    zipfile.ZipFile(io.BytesIO(zip_export(lambda f: export_pruned(pruned, loaded, result, config, f)))).extractall(folder)
    return folder / "model"


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for name in wa:
        assert wa[name].dtype == wb[name].dtype and torch.equal(wa[name], wb[name]), name


@pytest.mark.parametrize("which, config", [
    ("gpt", PruneConfig(method="magnitude", sparsity=0.6, allocation="global")),
    ("bert", PruneConfig(method="wanda", sparsity=0.5, pattern="2:4", calib_samples=8)),
    ("gpt", PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron")),
], ids=["gpt-magnitude-global", "bert-wanda-2:4", "gpt-neurons-removed"])
def test_download_rebuilds_bit_identically(request, tmp_path, capsys, which, config):
    loaded = request.getfixturevalue(which)
    before = fingerprint(loaded.model)
    got = _download(loaded, config, tmp_path / "zip")
    names = {p.name for p in got.iterdir()}
    assert {"model.safetensors", "config.json", "recipe.json", "prunescope.json", "card.json"} <= names
    assert any(n.startswith("tokenizer") for n in names)
    model, again, ft, _ = read_recipe(got / "recipe.json")
    assert model == loaded.name and again == config.validated() and ft is None
    rc = main(["prune", "--recipe", str(got / "recipe.json"), "--export", str(tmp_path / "again"), "--reps", "3",
               "--seq-len", "16", "--no-file-size", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert json.loads(out.out)["export_dir"] == str(tmp_path / "again")
    _same_weights(got, tmp_path / "again")
    assert fingerprint(loaded.model) == before  # the shared base model is untouched


def test_recipe_rebuild_in_a_fresh_process(gpt, tmp_path):
    got = _download(gpt, PruneConfig(method="random", sparsity=0.4, seed=7), tmp_path / "zip")
    out = subprocess.run([sys.executable, "-m", "prune_core", "prune", "--recipe", str(got / "recipe.json"),
                          "--export", str(tmp_path / "again"), "--reps", "3", "--no-file-size"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr
    assert "rebuild: python -m prune_core prune --recipe" in out.stdout
    _same_weights(got, tmp_path / "again")


def test_recipe_export_refuses_a_folder_in_use(capsys, tmp_path, gpt):
    got = _download(gpt, PruneConfig(method="magnitude", sparsity=0.3), tmp_path / "zip")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.txt").write_text("do not overwrite")
    assert main(["prune", "--recipe", str(got / "recipe.json"), "--export", str(busy)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: export folder '{busy}' is not empty; choose a new or empty folder"]
    assert [p.name for p in busy.iterdir()] == ["thesis.txt"]


def test_interactive_chart_download_embeds_plotly():
    fig = go.Figure(go.Scatter(x=[1.0, 1.1], y=[0.8, 0.7], name="magnitude"))  # what Compare's latency chart is
    html = charts.standalone_html(fig)
    assert len(html) > 3_000_000 and "plotly.js v" in html  # the library itself, with its version banner
    assert not re.search(r"<script[^>]*\bsrc=", html)  # no script loaded from anywhere (no CDN tag)
