"""Save and reload a shrunk model: safetensors weights plus the per-layer sizes its config cannot hold.

transformers' config has one size for all blocks, so `from_pretrained` cannot rebuild a model whose
blocks were shrunk unequally; `prunescope_structure.json` records each block's sizes (and the plans),
and `load_structured` builds the dense model from the config, cuts it to those sizes, then loads the
weights strictly.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Sequence

import torch
import transformers
from safetensors.torch import load_file, save_model
from torch import nn

from ..configfile import load_config, read_config_json
from ..errors import PruneScopeError
from ..export import check_export_dir
from .architectures import SUPPORTED, unit_layout
from .plan import StructuralPlan
from .surgery import apply_keeps

STRUCTURE_FILE = "prunescope_structure.json"
FORMAT_VERSION = 1


def structure_of(model: nn.Module) -> dict:
    """Per-block sizes of a (possibly shrunk) model, as written to prunescope_structure.json."""
    neurons, heads = unit_layout(model, "neuron"), unit_layout(model, "head")
    return {
        "format": FORMAT_VERSION, "arch": neurons.arch_key, "blocks_path": neurons.blocks_path,
        "head_dim": heads.head_dim, "queries_per_unit": heads.queries_per_unit,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "layers": [{"block": b, "mlp_neurons": n, "head_units": h, "query_heads": h * heads.queries_per_unit}
                   for b, (n, h) in enumerate(zip(neurons.units, heads.units))],
    }


def save_structured(model: nn.Module, tokenizer, plan: StructuralPlan | Sequence[StructuralPlan],
                    out_dir: str | Path) -> Path:
    """safetensors weights + config + tokenizer + prunescope_structure.json (per-layer sizes, plans).

    The config stays the dense one (it cannot express per-layer sizes), so plain
    `from_pretrained` refuses these weights; use `load_structured`. Tied tensors are stored once.
    """
    out = check_export_dir(out_dir)
    plans = [plan] if isinstance(plan, StructuralPlan) else list(plan)
    record = {**structure_of(model), "plans": [p.to_dict() for p in plans]}
    config = copy.deepcopy(model.config)
    config.architectures = [type(model).__name__]
    if hasattr(config, "quantization_config"):  # GGUF models are dequantized to fp32 on load: plain now
        del config.quantization_config
    try:
        out.mkdir(parents=True, exist_ok=True)
        # written directly: save_pretrained refuses models that were loaded from GGUF
        save_model(model, str(out / "model.safetensors"), metadata={"format": "pt"})
        config.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        (out / STRUCTURE_FILE).write_text(json.dumps(record, indent=2))
    except OSError as exc:
        raise PruneScopeError(f"could not write to '{out}': {exc.strerror or exc}") from None
    return out


def _resize(model: nn.Module, unit: str, sizes: list[int]) -> None:
    """Give each block `sizes[b]` units (the first ones: the weights are about to be overwritten)."""
    layout = unit_layout(model, unit)
    if len(sizes) != len(layout.blocks):
        raise PruneScopeError(f"{STRUCTURE_FILE} describes {len(sizes)} blocks; the config builds {len(layout.blocks)}")
    apply_keeps(model, layout, [torch.arange(min(s, n)) for s, n in zip(sizes, layout.units)])


def load_structured(path: str | Path) -> nn.Module:
    """Rebuild a model written by `save_structured`: config -> per-layer shapes -> strict safetensors load."""
    path = Path(path)
    try:
        record = json.loads((path / STRUCTURE_FILE).read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise PruneScopeError(f"'{path}' holds no readable {STRUCTURE_FILE} ({exc}); was it written by "
                              "save_structured?") from None
    if record.get("format") != FORMAT_VERSION:
        raise PruneScopeError(f"{STRUCTURE_FILE} has format {record.get('format')}; this PruneScope reads {FORMAT_VERSION}")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise PruneScopeError(f"'{path}' has no .safetensors weights")
    read_config_json(path)  # no custom code, a model type transformers knows
    config = load_config(path)
    arch_names = getattr(config, "architectures", None) or []
    cls = getattr(transformers, arch_names[0], None) if arch_names else None
    if cls is None or not issubclass(cls, transformers.PreTrainedModel):
        raise PruneScopeError(f"config names architecture {arch_names or '(none)'}, which transformers does not "
                              f"provide; supported: {SUPPORTED}")
    kwargs = {"attn_implementation": record["attn_implementation"]} if record.get("attn_implementation") else {}
    model = cls._from_config(config, dtype=torch.float32, **kwargs)
    layers = record["layers"]
    _resize(model, "neuron", [layer["mlp_neurons"] for layer in layers])
    _resize(model, "head", [layer["head_units"] for layer in layers])
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    expected = model.state_dict()
    aliases = _aliases(model)
    missing = sorted(k for k in set(expected) - set(state) if not aliases[k] & set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise PruneScopeError(f"weights in '{path}' do not match {STRUCTURE_FILE}: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
    model.load_state_dict(state, strict=False)  # strict above, modulo tied names stored once
    model.eval()
    return model


def _aliases(model: nn.Module) -> dict[str, set[str]]:
    """For each state-dict name, the names sharing its storage (a tied LM head and the embeddings)."""
    by_ptr: dict[int, set[str]] = {}
    entries = model.state_dict(keep_vars=True)
    for name, t in entries.items():
        by_ptr.setdefault(t.data_ptr(), set()).add(name)
    return {name: by_ptr[t.data_ptr()] for name, t in entries.items()}
