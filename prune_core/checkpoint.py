"""Check a model folder before anything is built from it: someone else's checkpoint is untrusted input.

Order matters: each step is cheaper than the next and guards it.
1. config.json parses, asks for no custom code (`auto_map`) and names a model type transformers
   knows, so transformers can never prompt "Do you wish to run the custom code?";
2. the memory guard: parameter count from the config alone (models built on the `meta` device
   allocate nothing), refused before loading if it would not fit the memory budget;
3. the architecture is one PruneScope prunes: decoder-only or encoder-only, as a causal LM or a sequence
   classifier, with Transformer blocks made of linear layers (found from the model, any family);
4. the safetensors headers hold every tensor the model needs, with the right shapes (a missing
   tensor would otherwise be randomly initialised, silently), and no weight is NaN or infinite;
5. tokenizer files are present (otherwise transformers makes an empty tokenizer and every figure
   is meaningless).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from torch import nn
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
from transformers.conversion_mapping import get_model_conversion_mapping
from transformers.core_model_loading import WeightRenaming, rename_source_key

from .blocks import find_blocks
from .budget import ENV as BUDGET_ENV
from .budget import human, memory_budget
from .configfile import MAX_CONFIG_BYTES, SUPPORTED, first_line, load_config, read_config_json, read_json
from .errors import PruneScopeError
from .targets import find_targets

# Any one of these sets is a tokenizer transformers can build without running code.
TOKENIZER_FILES = ({"tokenizer.json"}, {"vocab.txt"}, {"vocab.json", "merges.txt"}, {"tokenizer.model"},
                   {"spiece.model"}, {"sentencepiece.bpe.model"})
BYTES_PER_PARAM = 4  # PruneScope computes in fp32
COPIES = 2  # the base model and one pruned copy (pruning never edits the shared base model)


@dataclass(frozen=True)
class FolderCheck:
    """What a folder passed: its config (transformers object), task and exact parameter count."""

    config: object
    task: str
    params: int


def task_of(config) -> str:
    """'causal-lm' or 'sequence-classification', from the architecture the config names."""
    archs = " ".join(getattr(config, "architectures", None) or [])
    if getattr(config, "is_encoder_decoder", False):
        raise PruneScopeError(f"{archs or 'this model'} is an encoder-decoder model; PruneScope supports {SUPPORTED}")
    if "ForSequenceClassification" in archs:
        return "sequence-classification"
    if "ForCausalLM" in archs or "LMHeadModel" in archs:
        return "causal-lm"
    raise PruneScopeError(f"architecture {archs or '(none given)'} is not supported; PruneScope supports {SUPPORTED}")


def meta_model(config, task: str) -> nn.Module:
    """The model this config builds, on the meta device: names, shapes and counts, no memory."""
    auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
    try:
        with torch.device("meta"):
            return auto.from_config(config, trust_remote_code=False)
    except Exception as exc:  # no such head for this model type (vision, audio...), impossible sizes
        archs = ", ".join(getattr(config, "architectures", None) or []) or config.model_type
        why = ("transformers has no such model for text" if "Unrecognized configuration class" in str(exc)
               else f"{type(exc).__name__}: {first_line(exc)}")
        raise PruneScopeError(f"{archs} is not supported as a {task} model ({why}); "
                              f"PruneScope supports {SUPPORTED}") from None


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def estimate_params(config, task: str) -> int:
    """Parameter count from the config, fast even for a 400 B config: build 1 and 2 blocks on `meta` and
    extrapolate to the config's block count (blocks are alike; the exact count is checked after)."""
    layers = getattr(config, "num_hidden_layers", None)
    if not isinstance(layers, int) or layers < 1:
        raise PruneScopeError(f"config gives num_hidden_layers={layers!r}; it must be a positive integer")
    if layers <= 2:
        return _count(meta_model(config, task))
    counts = []
    for n in (1, 2):
        small = copy.deepcopy(config)
        small.num_hidden_layers = n
        counts.append(_count(meta_model(small, task)))
    return counts[0] + (layers - 1) * (counts[1] - counts[0])


def check_memory(params: int, what: str) -> None:
    """Refuse, before allocating, a model whose fp32 weights (twice: base + pruned copy) exceed the budget."""
    need = params * BYTES_PER_PARAM * COPIES
    budget = memory_budget()
    if need > budget:
        raise PruneScopeError(
            f"{what} is too large for this server: {params / 1e9:.3g} B parameters need about {human(need)} "
            f"({BYTES_PER_PARAM} bytes each in fp32, for the model and one pruned copy), but the memory budget is "
            f"{human(budget)} (set {BUDGET_ENV} to change it); pick a smaller model")


def check_architecture(model: nn.Module) -> None:
    """The model has Transformer blocks made of linear layers (`blocks.find_blocks`): what every per-weight
    method prunes. Which families can also lose whole units is `structural`'s business, asked when used."""
    try:
        find_blocks(model)
        find_targets(model, "all")
    except PruneScopeError:
        raise PruneScopeError(f"{type(model).__name__} is not supported: PruneScope finds no Transformer blocks made "
                              f"of linear layers in it; PruneScope supports {SUPPORTED}") from None


def _aliases(model: nn.Module, name: str) -> list[str]:
    """Names a checkpoint may store a parameter under: with or without the base-model prefix, and
    old LayerNorm names (gamma/beta), as transformers itself accepts."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    names = [name, name[len(prefix):] if name.startswith(prefix) else prefix + name]
    for new, old in ((".weight", ".gamma"), (".bias", ".beta")):
        names += [n[: -len(new)] + old for n in names[:2] if n.endswith(new)]
    return names


@dataclass(frozen=True)
class Stored:
    """One tensor as its safetensors header describes it."""

    shape: tuple[int, ...]
    dtype: str  # safetensors' name: "F32", "BF16", "I32", ...
    file: Path

    @property
    def floating(self) -> bool:
        return self.dtype.startswith(("F", "BF"))


def _headers(path: Path) -> dict[str, Stored]:
    """Tensor name -> shape, dtype and file from the safetensors headers; reads no tensor data."""
    out: dict[str, Stored] = {}
    for file in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt") as f:
                for key in f.keys():
                    found = f.get_slice(key)
                    out[key] = Stored(tuple(found.get_shape()), str(found.get_dtype()), file)
        except Exception as exc:  # truncated or forged header
            raise PruneScopeError(f"'{file.name}' in '{path}' is not a readable safetensors file "
                                  f"({type(exc).__name__}: {first_line(exc)})") from None
    return out


def _renaming(model: nn.Module) -> Callable[[str], str]:
    """Stored tensor name -> the parameter transformers loads it into, by transformers' own renaming rules
    for this model (GPT-NeoX stores its LM head as `embed_out`, ...). Identity where transformers has none."""
    try:
        renamings = [t for t in get_model_conversion_mapping(model) if isinstance(t, WeightRenaming)]
    except Exception:  # a model transformers has no rules for: names are taken as stored
        return lambda key: key
    return lambda key: rename_source_key(key, renamings, [])[0]


def check_weights(path: Path, model: nn.Module) -> None:
    """Every parameter the model needs is in the files, with its shape; tied copies count once."""
    rename = _renaming(model)
    stored = {rename(key): found for key, found in _headers(path).items()}
    groups: dict[int, list[str]] = {}  # tied parameters share one object
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters(remove_duplicate=False)}
    missing, wrong, integer = [], [], []
    for names in groups.values():
        found = next((a for n in names for a in _aliases(model, n) if a in stored), None)
        if found is None:
            missing.append(names[0])
        elif stored[found].shape != shapes[names[0]]:
            wrong.append(f"{found} {list(stored[found].shape)} (the config needs {list(shapes[names[0]])})")
        elif not stored[found].floating:
            integer.append(f"{found} ({stored[found].dtype})")
    if missing:
        raise PruneScopeError(
            f"the weights in '{path}' lack {len(missing)} of the {len(groups)} tensors this config needs (e.g. "
            f"{', '.join(missing[:3])}); they would be random, so PruneScope refuses the model")
    if wrong:
        raise PruneScopeError(f"the weights in '{path}' do not match config.json: {len(wrong)} tensors have the "
                              f"wrong shape, e.g. {'; '.join(wrong[:2])}")
    if integer:
        raise PruneScopeError(f"the weights in '{path}' hold {len(integer)} parameters as whole numbers, not "
                              f"floating-point weights (e.g. {', '.join(integer[:2])}); a quantized checkpoint must "
                              "be converted back to floating point first")


def check_finite(path: Path) -> None:
    """No NaN or infinity in any floating-point tensor (one tensor in memory at a time)."""
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                t = f.get_tensor(key)
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    bad = int((~torch.isfinite(t)).sum())
                    raise PruneScopeError(f"tensor '{key}' in '{file.name}' holds {bad} NaN or infinite values; "
                                          "every figure from this model would be meaningless")


def check_tokenizer(path: Path) -> None:
    """Tokenizer files are there, and tokenizer_config.json asks for no custom code either."""
    present = {p.name for p in path.iterdir()}
    if not any(need <= present for need in TOKENIZER_FILES):
        raise PruneScopeError(f"'{path}' has no tokenizer files (tokenizer.json, vocab.txt, vocab.json + merges.txt "
                              "or tokenizer.model); without them every figure would be meaningless")
    file = path / "tokenizer_config.json"
    if not file.is_file():
        return
    raw = read_json(file, f"tokenizer_config.json in '{path}'", MAX_CONFIG_BYTES)
    if isinstance(raw, dict) and "auto_map" in raw:
        raise PruneScopeError(f"the tokenizer in '{path}' asks to run its own Python code (tokenizer_config.json "
                              "has an 'auto_map'); PruneScope never runs code shipped with a model")


def check_vocabulary(model: nn.Module, tokenizer, where: str) -> None:
    """Every id the tokenizer can produce has a row in the model's embedding table."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    rows = getattr(embedding, "num_embeddings", None)
    if rows is not None and len(tokenizer) > rows:
        raise PruneScopeError(f"the tokenizer of {where} has {len(tokenizer):,} tokens, but the model's embedding table "
                              f"has only {rows:,} rows: token ids from {rows:,} on have no embedding; use the tokenizer "
                              "the model was trained with")


def check_folder(path: Path) -> FolderCheck:
    """All checks, cheapest first; raises PruneScopeError on the first failure."""
    read_config_json(path)
    if not list(path.glob("*.safetensors")):
        raise PruneScopeError(f"'{path}' has no .safetensors weights (PruneScope never loads pickled "
                              ".bin checkpoints, which can run code)")
    check_tokenizer(path)
    config = load_config(path)
    task = task_of(config)
    check_memory(estimate_params(config, task), f"the model in '{path}'")
    model = meta_model(config, task)
    check_architecture(model)
    params = _count(model)
    check_memory(params, f"the model in '{path}'")  # the exact count, in case the estimate was low
    check_weights(path, model)
    check_finite(path)
    return FolderCheck(config, task, params)

