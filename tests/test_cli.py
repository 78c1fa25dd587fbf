"""The CLI as a user runs it: a real subprocess, real models, exit codes and one-line errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "prune_core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_models_and_methods():
    out = cli("models")
    assert out.returncode == 0
    for name in ("tiny-shakespeare-gpt", "tiny-sentiment-bert", "minilm-l6", "smollm2-135m"):
        assert name in out.stdout
    out = cli("methods")
    assert out.returncode == 0 and "magnitude" in out.stdout and "random" in out.stdout and "2:4" in out.stdout


def test_prune_json_and_export(tmp_path):
    out = cli("prune", "--model", "tiny-sentiment-bert", "--method", "magnitude", "--sparsity", "0.5",
              "--pattern", "2:4", "--seed", "1", "--reps", "3", "--json", "--export", str(tmp_path / "x"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("model", "method", "pattern", "allocation", "sparsity_target", "sparsity_actual",
                "params_total", "params_nonzero", "quality_metric", "quality_dense", "quality",
                "latency_ms_dense", "latency_ms"):
        assert key in data
    assert data["pattern"] == "2:4" and data["sparsity_actual"] == pytest.approx(0.5)
    assert data["quality_metric"] == "accuracy" and 0 <= data["quality"] <= 1
    assert (tmp_path / "x" / "model.safetensors").is_file() and (tmp_path / "x" / "prunescope.json").is_file()
    again = cli("prune", "--model", str(tmp_path / "x"), "--sparsity", "0", "--reps", "3", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["quality_dense"] == pytest.approx(data["quality"])


def test_prune_human_readable():
    out = cli("prune", "--model", "tiny-shakespeare-gpt", "--sparsity", "0.3", "--allocation", "global",
              "--reps", "3", "--no-file-size")
    assert out.returncode == 0, out.stderr
    assert "perplexity" in out.stdout and "not faster" in out.stdout


@pytest.mark.parametrize("args,match", [
    (["prune", "--model", "nope", "--sparsity", "0.5"], "unknown model 'nope'"),
    (["prune", "--model", "tiny-sentiment-bert", "--sparsity", "1.2"], "sparsity must be in"),
    (["prune", "--model", "tiny-sentiment-bert", "--sparsity", "0.286", "--pattern", "5:7"], "divide by 7"),
    (["prune", "--model", "tiny-sentiment-bert", "--sparsity", "0.5", "--method", "x"], "unknown method"),
    (["prune", "--model", "a/b", "--sparsity", "0.5"], "offline"),
    (["prune", "--model", "tiny-sentiment-bert"], "required: --sparsity"),
    (["prune", "--model", "tiny-sentiment-bert", "--sparsity", "half"], "invalid float"),
    (["explode"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(args, match):
    out = cli(*args)
    assert out.returncode == 2
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert __import__("re").search(match, lines[0]), lines[0]
    assert "Traceback" not in out.stderr


def test_structural_prune_exports_a_smaller_model_that_reloads(tmp_path):
    out = cli("prune", "--model", "tiny-shakespeare-gpt", "--method", "magnitude", "--pattern", "neuron",
              "--sparsity", "0.5", "--reps", "3", "--json", "--export", str(tmp_path / "small"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["params_total"] < data["size_dense_params_total"]
    assert data["size_pruned_dense_fp32"] < data["size_dense_dense_fp32"]  # genuinely smaller
    from prune_core.structural import load_structured

    model = load_structured(tmp_path / "small")
    assert sum(p.numel() for p in model.parameters()) == data["params_total"]


def test_sparsegpt_export_carries_updated_weights(tmp_path):
    from safetensors.torch import load_file

    from prune_core.zoo import MODELS_DIR

    out = cli("prune", "--model", "tiny-shakespeare-gpt", "--method", "sparsegpt", "--sparsity", "0.5",
              "--calib-samples", "4", "--reps", "3", "--no-file-size", "--json", "--export", str(tmp_path / "sg"))
    assert out.returncode == 0, out.stderr
    new = load_file(str(tmp_path / "sg" / "model.safetensors"))
    old = load_file(str(MODELS_DIR / "tiny-shakespeare-gpt" / "model.safetensors"))
    name = "transformer.h.0.mlp.c_fc.weight"
    kept = new[name] != 0
    assert float((kept.float().mean())) == pytest.approx(0.5, abs=1e-3)
    assert not torch.equal(new[name][kept], old[name][kept])  # OBS updates survive the export


def test_sweep_and_history(tmp_path):
    store = str(tmp_path / "r.sqlite")
    out = cli("sweep", "--model", "tiny-sentiment-bert", "--methods", "random,magnitude", "--sparsity", "0:0.8:0.4",
              "--store", store, "--out", str(tmp_path / "t.csv"))
    assert out.returncode == 0, out.stderr
    assert "6 runs" in out.stdout and (tmp_path / "t.csv").read_text().count("\n") == 7
    hist = cli("history", "--store", store, "--method", "magnitude")
    assert hist.returncode == 0 and hist.stdout.count("magnitude") == 3
    bad = cli("sweep", "--model", "tiny-sentiment-bert", "--sparsity", "0:oops", "--store", store)
    assert bad.returncode == 2 and "cannot read the sparsity grid" in bad.stderr
