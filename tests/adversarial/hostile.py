"""Builders of hostile checkpoints, folders, zips and the CLI runner, shared by the adversarial tests."""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from conftest import render_page as _page
from prune_core.zoo import MODELS_DIR


ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = "decoder-only or encoder-only Transformers whose blocks are made of linear layers"


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


def page_error(folder: str) -> str:
    at = _page("explore", "other: local folder or hub id…")
    at.text_input(key="model_other").set_value(folder).run()
    assert not at.exception, at.exception
    assert at.error and not at.metric, "the page must stop at the error"
    return at.error[0].value


def make_zip(files: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symlink entry
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


