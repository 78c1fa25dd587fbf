"""Hostile checkpoints, folders, names and uploads: each is refused with a clear message, before anything
is built, through the library, the CLI (exit 2, one line, no traceback) and the page (st.error).

Fixtures are built in tmp_path from the shipped tiny models; canary files prove no code ran.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from conftest import fingerprint
from conftest import render_page as _page
from prune_core.errors import PruneScopeError
from prune_core.zoo import load_model


from hostile import (ROOT, SUPPORTED, page_error, assert_refused, cli, edit_weights, listing, llama_405b,
                     model_copy, pickle_folder, remote_code_folder, set_config)


# ---- remote code and pickles: the canaries ----------------------------------------------------------
@pytest.mark.parametrize("model_type", ["evilnet", "gpt2"])  # unknown type, and a known one with auto_map
def test_remote_code_never_runs_in_the_cli_even_with_yes_on_stdin(tmp_path, model_type):
    path, canaries = remote_code_folder(tmp_path, model_type)
    before = listing(path)
    proc = cli("prune", "--model", str(path), "--sparsity", "0.5", cwd=tmp_path, stdin="y\ny\n")
    assert_refused(proc, "never runs code", "auto_map")
    assert not any(c.exists() for c in canaries)
    assert listing(path) == before


def test_tokenizer_asking_for_remote_code_is_refused(tmp_path):
    path = model_copy(tmp_path)
    config = json.loads((path / "tokenizer_config.json").read_text())
    (path / "tokenizer_config.json").write_text(json.dumps(config | {"auto_map": {"AutoTokenizer": ["tok_evil.EvilTok",
                                                                                                    None]}}))
    (path / "tok_evil.py").write_text(f"open({str(tmp_path / 'TOK_RAN')!r}, 'w')\n")
    with pytest.raises(PruneScopeError, match="tokenizer .* asks to run its own Python code"):
        load_model(str(path))
    assert not (tmp_path / "TOK_RAN").exists()


def test_unknown_model_type_without_auto_map_is_refused(tmp_path):
    path = model_copy(tmp_path)
    set_config(path, {"model_type": "evilnet", "architectures": ["EvilForCausalLM"]})
    with pytest.raises(PruneScopeError, match="model_type 'evilnet'.*not a model transformers knows.*supported"):
        load_model(str(path))


@pytest.mark.parametrize("keep_safetensors", [False, True])
def test_pickle_checkpoint_is_never_unpickled_in_the_cli(tmp_path, keep_safetensors):
    path, canary = pickle_folder(tmp_path, keep_safetensors)
    args = ("prune", "--model", str(path), "--sparsity", "0.5", "--no-file-size", "--reps", "3")
    proc = cli(*args, cwd=tmp_path, stdin="y\n")
    if keep_safetensors:  # safetensors beside the pickle: the model loads, the .bin is never opened
        assert proc.returncode == 0, proc.stderr
    else:
        assert_refused(proc, "no .safetensors weights", "never loads pickled")
    assert not canary.exists()


def test_canaries_through_the_page(tmp_path):
    remote, code_canaries = remote_code_folder(tmp_path)
    pickled, pickle_canary = pickle_folder(tmp_path)
    assert "never runs code" in page_error(str(remote))
    assert "never loads pickled" in page_error(str(pickled))
    assert not any(c.exists() for c in [*code_canaries, pickle_canary])


# ---- memory guard -----------------------------------------------------------------------------------
def test_405b_config_is_refused_fast_without_allocating(tmp_path):
    """The first call also imports transformers' Llama code (seconds, once per process): time the second."""
    path = llama_405b(tmp_path)
    probe = ("import json, resource, sys, time\nfrom prune_core.zoo import load_model\ntimes = []\n"
             "for _ in range(2):\n    t = time.perf_counter()\n    try:\n        load_model(sys.argv[1])\n"
             "    except Exception as e:\n        msg = str(e)\n    times.append(time.perf_counter() - t)\n"
             "print(json.dumps({'s': times, 'rss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "
             "'msg': msg}))")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PRUNESCOPE_MEMORY_BUDGET": "16G"})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["s"][1] < 0.5 and got["s"][0] < 30 and got["rss"] < 1.5e9, got  # imports alone are ~0.4 GB
    assert "406 B parameters need about 3.2 TB" in got["msg"] and "memory budget is 17.2 GB" in got["msg"]
    assert_refused(cli("prune", "--model", str(path), "--sparsity", "0.5", cwd=tmp_path), "too large", "TB")


def test_memory_budget_is_respected_with_numbers(tmp_path, monkeypatch):
    path = model_copy(tmp_path)
    monkeypatch.setenv("PRUNESCOPE_MEMORY_BUDGET", "1M")
    with pytest.raises(PruneScopeError, match=r"0.00184 B parameters need about 14.8 MB .* memory budget is 1.0 MB"):
        load_model(str(path))


# ---- weights that do not fill the model, or are not finite ------------------------------------------
def test_weights_matching_nothing_are_refused_not_random(tmp_path):
    path = model_copy(tmp_path)
    set_config(path, {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})  # GPT-2 small, 124 M
    save_file({"unrelated": torch.zeros(4)}, str(path / "model.safetensors"))
    with pytest.raises(PruneScopeError, match="lack 148 of the 148 tensors .* would be random"):
        load_model(str(path))


def test_one_missing_tensor_is_named(tmp_path):
    path = model_copy(tmp_path)
    edit_weights(path, lambda w: w.pop("transformer.h.1.mlp.c_fc.weight"))
    with pytest.raises(PruneScopeError, match=r"lack 1 of the \d+ tensors .*transformer\.h\.1\.mlp\.c_fc\.weight"):
        load_model(str(path))


def test_shapes_that_disagree_with_the_config(tmp_path):
    path = model_copy(tmp_path)
    config = json.loads((path / "config.json").read_text())
    set_config(path, config | {"n_inner": 4 * config["n_embd"] + 8})
    with pytest.raises(PruneScopeError, match="do not match config.json: .* wrong shape, e.g. transformer.h.0.mlp"):
        load_model(str(path))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_with_the_tensor_name(tmp_path, bad):
    path = model_copy(tmp_path, "tiny-sentiment-bert")

    def poison(w):
        w["bert.encoder.layer.0.output.dense.weight"][3, 5] = bad
    edit_weights(path, poison)
    with pytest.raises(PruneScopeError, match="'bert.encoder.layer.0.output.dense.weight' .* 1 NaN or infinite"):
        load_model(str(path))


def test_half_precision_weights_still_load(tmp_path, gpt):
    path = model_copy(tmp_path)
    edit_weights(path, lambda w: w.update({k: v.half() for k, v in w.items()}))
    loaded = load_model(str(path))
    assert loaded.key == str(path.resolve()) and loaded.card.params == gpt.card.params


def test_folder_without_tokenizer_files(tmp_path):
    path = model_copy(tmp_path)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (path / f).unlink()
    with pytest.raises(PruneScopeError, match="no tokenizer files"):
        load_model(str(path))
    assert_refused(cli("prune", "--model", str(path), "--sparsity", "0.5", cwd=tmp_path), "no tokenizer files")


def test_config_that_is_not_json(tmp_path):
    path = model_copy(tmp_path)
    (path / "config.json").write_text("{'model_type': gpt2")
    with pytest.raises(PruneScopeError, match="config.json in .* is not valid JSON"):
        load_model(str(path))


# ---- architectures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("config,words", [
    ({"model_type": "t5", "architectures": ["T5ForSequenceClassification"], "d_model": 64, "num_layers": 2,
      "num_heads": 2, "d_ff": 128, "d_kv": 32, "vocab_size": 256}, "encoder-decoder"),
    ({"model_type": "vit", "architectures": ["ViTForImageClassification"]}, "ViTForImageClassification is not"),
    ({"model_type": "wav2vec2", "architectures": ["Wav2Vec2ForSequenceClassification"], "num_hidden_layers": 2},
     "Wav2Vec2ForSequenceClassification is not supported"),
])
def test_unsupported_architectures_name_what_is_supported(tmp_path, config, words):
    path = model_copy(tmp_path)
    set_config(path, config)
    with pytest.raises(PruneScopeError, match=f"{words}.*{SUPPORTED}"):
        load_model(str(path))
    if config["model_type"] == "t5":
        assert_refused(cli("prune", "--model", str(path), "--sparsity", "0.5", cwd=tmp_path), SUPPORTED)


# ---- names: folders, typos, hub ids -----------------------------------------------------------------
def test_mistyped_folders_are_no_such_folder(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    for typo in ("models/my-typo", "./my-typo", "~/prunescope-no-such-model", str(tmp_path / "nope"), "a/b/c"):
        with pytest.raises(PruneScopeError, match="no such folder"):
            load_model(typo)
    assert_refused(cli("prune", "--model", "models/my-typo", "--sparsity", "0.5", cwd=tmp_path), "no such folder")


def test_hub_id_without_network_fails_fast_with_one_message(tmp_path):
    env = {"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens on port 9
    start = time.perf_counter()
    proc = cli("prune", "--model", "someone/some-model", "--sparsity", "0.5", cwd=tmp_path, env=env)
    assert time.perf_counter() - start < 60  # imports only; no retries (this took 25 s before)
    assert_refused(proc, "cannot be reached", "embedded models")
    assert "Warning" not in proc.stderr and "Retrying" not in proc.stderr


# ---- identity: a folder named like a zoo model is its own model -------------------------------------
def _dense_accuracy(at: AppTest) -> float:
    metric = next(m for m in at.metric if m.label == "Held-out accuracy")
    return float(metric.delta.split("vs dense ")[1])


def test_folder_named_like_a_zoo_model_shows_its_own_figures(tmp_path):
    from pages.ui.caches import cached_model

    zoo = _page("explore", "tiny-sentiment-bert")
    zoo_acc = _dense_accuracy(zoo)
    before = fingerprint(cached_model("tiny-sentiment-bert").model)
    path = model_copy(tmp_path, "tiny-sentiment-bert", folder="tiny-sentiment-bert")

    def flip(w):  # negated logits: every prediction flips, so accuracy becomes 1 - accuracy
        w["classifier.weight"].neg_()
        w["classifier.bias"].neg_()
    edit_weights(path, flip)
    at = _page("explore", "other: local folder or hub id…")
    at.text_input(key="model_other").set_value(str(path)).run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert _dense_accuracy(at) == pytest.approx(1 - zoo_acc, abs=2e-3)
    assert any(str(path) in c.value for c in at.caption)
    assert fingerprint(cached_model("tiny-sentiment-bert").model) == before


