"""Hostile checkpoints, folders, names and uploads: each is refused with a clear message, before anything
is built, through the library, the CLI (exit 2, one line, no traceback) and the page (st.error).

Fixtures are built in tmp_path from the shipped tiny models; canary files prove no code ran.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from streamlit.testing.v1 import AppTest

from conftest import fingerprint
from conftest import render_page as _page
from prune_core.errors import PruneScopeError
from prune_core.zoo import MODELS_DIR, load_model

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = "GPT-2, BERT and Llama families"


# ---- fixture builders -------------------------------------------------------------------------------
def model_copy(tmp_path: Path, name: str = "tiny-shakespeare-gpt", folder: str = "model") -> Path:
    dst = tmp_path / folder
    shutil.copytree(MODELS_DIR / name, dst)
    return dst


def set_config(path: Path, config: dict) -> None:
    (path / "config.json").write_text(json.dumps(config))


def edit_weights(path: Path, edit) -> None:
    weights = load_file(str(path / "model.safetensors"))
    edit(weights)
    save_file(weights, str(path / "model.safetensors"))


def listing(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def remote_code_folder(tmp_path: Path, model_type: str = "evilnet") -> tuple[Path, list[Path]]:
    """Valid weights and tokenizer, but a config that asks for its own code; the code would drop canaries."""
    path = model_copy(tmp_path, folder="remote")
    canaries = [tmp_path / "CONFIG_CODE_RAN", tmp_path / "MODEL_CODE_RAN"]
    config = json.loads((path / "config.json").read_text())
    config.update(model_type=model_type, architectures=["EvilForCausalLM"],
                  auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                            "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"})
    set_config(path, config)
    for file, canary in zip(("configuration_evil.py", "modeling_evil.py"), canaries):
        (path / file).write_text(f"open({str(canary)!r}, 'w').write('ran')\n"
                                 "from transformers import GPT2Config as EvilConfig, GPT2LMHeadModel as EvilForCausalLM\n")
    return path, canaries


class _Canary:
    """Unpickling this creates a file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickle_folder(tmp_path: Path, keep_safetensors: bool = False) -> tuple[Path, Path]:
    path = model_copy(tmp_path, folder="pickled")
    canary = tmp_path / "PICKLE_RAN"
    if not keep_safetensors:
        (path / "model.safetensors").unlink()
    (path / "pytorch_model.bin").write_bytes(pickle.dumps(_Canary(canary), protocol=2))
    return path, canary


def llama_405b(tmp_path: Path) -> Path:
    """A Llama-3.1-405B config next to one unrelated 16-byte tensor."""
    path = tmp_path / "llama-405b"
    path.mkdir()
    set_config(path, {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 16384,
                      "intermediate_size": 53248, "num_hidden_layers": 126, "num_attention_heads": 128,
                      "num_key_value_heads": 8, "vocab_size": 128256})
    save_file({"x": torch.zeros(4)}, str(path / "model.safetensors"))
    shutil.copy(MODELS_DIR / "tiny-shakespeare-gpt" / "tokenizer.json", path)
    return path


def cli(*args: str, cwd: Path, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    full = {k: v for k, v in full.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "prune_core", *args], cwd=cwd, input=stdin, env=full,
                          capture_output=True, text=True, timeout=300)


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 2, one line on stderr starting 'error:', no traceback, no prompt; returns the line."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in err and "Do you wish to run the custom code" not in proc.stdout + err, err
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    return err


def _page_error(folder: str) -> str:
    at = _page("explore", "other: local folder or hub id…")
    at.text_input(key="model_other").set_value(folder).run()
    assert not at.exception, at.exception
    assert at.error and not at.metric, "the page must stop at the error"
    return at.error[0].value


def _zip(files: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symlink entry
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


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
    assert "never runs code" in _page_error(str(remote))
    assert "never loads pickled" in _page_error(str(pickled))
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
    from pages.common import cached_model

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


# ---- uploads ----------------------------------------------------------------------------------------
@pytest.fixture
def upload_dir(tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    monkeypatch.setenv("PRUNESCOPE_UPLOAD_DIR", str(folder))
    monkeypatch.delenv("PRUNESCOPE_SHARE_UPLOADS", raising=False)
    return folder


def _model_zip(name: str = "tiny-shakespeare-gpt", extra: dict[str, bytes] | None = None) -> bytes:
    files = {f"{name}/{p.name}": p.read_bytes() for p in (MODELS_DIR / name).iterdir()}
    return _zip(files | (extra or {}))


@pytest.mark.parametrize("files,links,words", [
    ({"../escaped.txt": b"x", "config.json": b"{}"}, (), "unsafe path '../escaped.txt'"),
    ({"/abs/config.json": b"{}"}, (), "unsafe path '/abs/config.json'"),
    ({"config.json": b"{}"}, ("model.safetensors",), "a link 'model.safetensors'"),
    ({"README.md": b"hello"}, (), "no config.json"),
])
def test_hostile_zips_are_refused_and_write_nothing_outside(tmp_path, upload_dir, files, links, words):
    from prune_core.uploads import save_upload

    with pytest.raises(PruneScopeError, match=words.replace("(", r"\(")):
        save_upload([("m.zip", _zip(files, links))], "session1")
    assert not (tmp_path / "escaped.txt").exists() and not Path("/abs").exists()
    leftovers = [p for p in upload_dir.rglob("*") if p.is_file()] if upload_dir.exists() else []
    assert leftovers == []


def test_zip_bomb_stops_at_the_limit(tmp_path, upload_dir, monkeypatch):
    from prune_core import uploads

    monkeypatch.setattr(uploads, "MAX_EXTRACTED", 1_000_000)
    bomb = _zip({"config.json": b"{}", "model.safetensors": bytes(50_000_000)})  # 50 MB of zeros, ~50 KB zipped
    assert len(bomb) < 200_000
    with pytest.raises(PruneScopeError, match="expands to more than 1.0 MB"):
        uploads.save_upload([("bomb.zip", bomb)], "session1")
    assert not [p for p in upload_dir.rglob("*") if p.is_file()]


def test_upload_keeps_only_model_files_and_is_private_unless_shared(upload_dir, monkeypatch):
    from prune_core.uploads import save_upload, shared_uploads

    data = _model_zip(extra={"tiny-shakespeare-gpt/modeling_evil.py": b"open('/tmp/x','w')",
                             "tiny-shakespeare-gpt/pytorch_model.bin": b"not read"})
    a = save_upload([("gpt.zip", data)], "sessionA")
    b = save_upload([("gpt.zip", data)], "sessionB")
    assert a.path != b.path and a.path.parent.name == "sessionA"
    assert sorted(a.ignored) == ["card.json", "modeling_evil.py", "pytorch_model.bin"]  # our own card.json only
    assert not list(a.path.glob("*.py")) and not list(a.path.glob("*.bin"))
    assert load_model(str(a.path)).card.name == "gpt"
    assert shared_uploads() == {}
    monkeypatch.setenv("PRUNESCOPE_SHARE_UPLOADS", "1")
    shared = save_upload([("gpt.zip", data)], "shared")
    assert shared_uploads() == {f"gpt ({shared.path.name[:8]})": shared.path}


def test_upload_through_the_page_is_checked_and_private(upload_dir, tmp_path):
    from pages.common import UPLOAD

    at = _page("explore", UPLOAD)
    at.file_uploader(key="model_upload").set_value(("gpt.zip", _model_zip(), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric and at.session_state["model"].startswith(str(upload_dir / at.session_state["upload_scope"]))
    other = _page("explore", UPLOAD)  # a second browser session
    other.file_uploader(key="model_upload").set_value(("gpt.zip", _model_zip(), "application/zip")).run()
    assert other.session_state["model"] != at.session_state["model"]

    remote, canaries = remote_code_folder(tmp_path)
    evil = _zip({p.name: p.read_bytes() for p in remote.iterdir()})
    bad = _page("explore", UPLOAD)
    bad.file_uploader(key="model_upload").set_value(("evil.zip", evil, "application/zip")).run()
    assert not bad.exception and bad.error and "never runs code" in bad.error[0].value
    assert not any(c.exists() for c in canaries)
    assert not list(upload_dir.rglob("*.py"))
