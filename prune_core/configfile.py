"""A model folder's config.json, read without ever letting transformers run (or ask to run) its code.

Below `checkpoint` (the full folder check) and `structural.io` (reloading a shrunk model): both read
configs of untrusted folders the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

from transformers import CONFIG_MAPPING, AutoConfig

from .errors import PruneScopeError

SUPPORTED = ("decoder-only or encoder-only Transformers whose blocks are made of linear layers (e.g. GPT-2, BERT, "
             "RoBERTa, DistilBERT, ModernBERT, Llama, Qwen, Mistral, Gemma, Phi-3, OPT, GPT-NeoX, Falcon, GPT-J), as a "
             "causal LM (*ForCausalLM, *LMHeadModel) or a sequence classifier (*ForSequenceClassification)")


MAX_CONFIG_BYTES = 16 * 1024**2  # a real config.json is kilobytes (a 20 000-label classifier's, a megabyte)


def read_json(file: Path, what: str, max_bytes: int) -> object:
    """A JSON file written by someone else: refused with one clear message when it is too big, not text,
    not JSON, or nested too deeply for Python's parser."""
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise PruneScopeError(f"{what} is {size:,} bytes; at most {max_bytes:,} are read")
        return json.loads(file.read_text(encoding="utf-8"))
    except RecursionError:
        raise PruneScopeError(f"{what} is nested too deeply to read") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PruneScopeError(f"{what} is not valid JSON ({exc})") from None


def read_config_json(path: Path) -> dict:
    """config.json as a dict; refuses what would make transformers run or ask to run code."""
    file = path / "config.json"
    if not file.is_file():
        raise PruneScopeError(f"'{path}' holds no Transformer: there is no config.json in it")
    raw = read_json(file, f"config.json in '{path}'", MAX_CONFIG_BYTES)
    if not isinstance(raw, dict):
        raise PruneScopeError(f"config.json in '{path}' is not a JSON object")
    check_config_dict(raw, str(path))
    return raw


def check_config_dict(raw: dict, where: str) -> None:
    """Refuse custom code and unknown model types (transformers would otherwise ask to run code)."""
    if "auto_map" in raw:
        raise PruneScopeError(f"the model in '{where}' asks to run its own Python code (config.json has an "
                              "'auto_map'); PruneScope never runs code shipped with a model")
    model_type = raw.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise PruneScopeError(f"config.json in '{where}' names no model_type; supported: {SUPPORTED}")
    if model_type not in CONFIG_MAPPING:
        raise PruneScopeError(f"model_type '{model_type}' in '{where}' is not a model transformers knows (it "
                              f"would need custom code, which PruneScope never runs); supported: {SUPPORTED}")


def load_config(path: Path):
    """The transformers config of a folder already checked by `read_config_json`."""
    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # wrong field types, impossible values: the user's file
        raise PruneScopeError(f"config.json in '{path}' does not describe a valid model "
                              f"({type(exc).__name__}: {first_line(exc)})") from None


def first_line(exc: Exception) -> str:
    """The first line of an exception's message: transformers' errors run to many lines."""
    return str(exc).splitlines()[0] if str(exc) else "no detail"
