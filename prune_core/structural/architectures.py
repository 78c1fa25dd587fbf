"""Where each architecture family keeps the matrices a unit owns, resolved on one model.

A unit (an MLP neuron or an attention head) owns slices of several matrices. `ARCHES` says, per
family, which modules of a block those are and how to slice them; `unit_layout` resolves that on a
model, block by block, from the current shapes (so a shrunk model resolves too). Everything else in
the package (importance, plans, surgery, save/load) works on a `Layout`, never on module names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..calibration import find_blocks
from ..errors import PruneScopeError
from ..targets import Target, find_targets

UNITS = {"neuron": "MLP neurons", "head": "attention heads"}
SUPPORTED = ("GPT-2, BERT-style (BERT, RoBERTa), DistilBERT, Llama-style (Llama, Qwen2, Qwen3, Mistral, Gemma, "
             "Gemma 2) and OPT")


@dataclass(frozen=True)
class Part:
    """One matrix that a unit owns a slice of, by its module path inside a block.

    role "in": the matrix *produces* the units (its output rows and bias entries are sliced);
    role "out": it *consumes* them (its input columns are sliced; bias kept).
    `query`: a head unit spans all query heads of its KV group here (Llama q_proj / o_proj).
    `segments`: fused projections hold several unit-indexed blocks side by side (GPT-2 Q|K|V).
    """

    path: str
    role: str
    query: bool = False
    segments: int = 1


@dataclass(frozen=True)
class Arch:
    """Where one architecture family keeps its MLP and attention, and what to update after surgery."""

    name: str
    mlp: tuple[Part, ...]
    attn: tuple[Part, ...]
    attn_module: str  # the module whose forward reshapes into heads
    mlp_module: str
    # attention module -> (head_dim, query heads per unit): read from the module, so re-shrinking works
    head_shape: Callable[[nn.Module], tuple[int, int]]
    set_heads: Callable[[nn.Module, int, int], None] = lambda m, n_query_heads, head_dim: None
    set_neurons: Callable[[nn.Module, int], None] = lambda m, n: None


def _gpt2_set_heads(m: nn.Module, n: int, hd: int) -> None:
    m.num_heads, m.split_size = n, n * hd  # forward splits c_attn's output by split_size


def _bert_set_heads(m: nn.Module, n: int, hd: int) -> None:
    m.num_attention_heads, m.all_head_size = n, n * hd


def _llama_set_neurons(m: nn.Module, n: int) -> None:
    m.intermediate_size = n


def _opt_set_heads(m: nn.Module, n: int, hd: int) -> None:
    m.num_heads, m.embed_dim = n, n * hd  # forward views Q/K/V as num_heads x head_dim


def _distilbert_set_heads(m: nn.Module, n: int, hd: int) -> None:
    m.n_heads, m.dim = n, n * hd


ARCHES: dict[str, Arch] = {
    "gpt2": Arch(
        "GPT-2",
        mlp=(Part("mlp.c_fc", "in"), Part("mlp.c_proj", "out")),
        attn=(Part("attn.c_attn", "in", segments=3), Part("attn.c_proj", "out")),
        attn_module="attn", mlp_module="mlp",
        head_shape=lambda m: (m.head_dim, 1), set_heads=_gpt2_set_heads),
    "bert": Arch(
        "BERT-style",
        mlp=(Part("intermediate.dense", "in"), Part("output.dense", "out")),
        attn=(Part("attention.self.query", "in"), Part("attention.self.key", "in"),
              Part("attention.self.value", "in"), Part("attention.output.dense", "out")),
        attn_module="attention.self", mlp_module="intermediate",
        head_shape=lambda m: (m.attention_head_size, 1), set_heads=_bert_set_heads),
    "llama": Arch(
        "Llama-style",
        mlp=(Part("mlp.gate_proj", "in"), Part("mlp.up_proj", "in"), Part("mlp.down_proj", "out")),
        attn=(Part("self_attn.q_proj", "in", query=True), Part("self_attn.k_proj", "in"),
              Part("self_attn.v_proj", "in"), Part("self_attn.o_proj", "out", query=True)),
        attn_module="self_attn", mlp_module="mlp",
        head_shape=lambda m: (m.head_dim, m.num_key_value_groups), set_neurons=_llama_set_neurons),
    "opt": Arch(
        "OPT",
        mlp=(Part("fc1", "in"), Part("fc2", "out")),
        attn=(Part("self_attn.q_proj", "in"), Part("self_attn.k_proj", "in"), Part("self_attn.v_proj", "in"),
              Part("self_attn.out_proj", "out")),
        attn_module="self_attn", mlp_module="",  # fc1 and fc2 sit on the block itself
        head_shape=lambda m: (m.head_dim, 1), set_heads=_opt_set_heads),
    "distilbert": Arch(
        "DistilBERT",
        mlp=(Part("ffn.lin1", "in"), Part("ffn.lin2", "out")),
        attn=(Part("attention.q_lin", "in"), Part("attention.k_lin", "in"), Part("attention.v_lin", "in"),
              Part("attention.out_lin", "out")),
        attn_module="attention", mlp_module="ffn",
        head_shape=lambda m: (m.attention_head_size, 1), set_heads=_distilbert_set_heads),
}


def detect_arch(model: nn.Module) -> str:
    """Key in ARCHES of the family whose module names this model's blocks have."""
    try:
        _, blocks = find_blocks(model)
    except PruneScopeError:
        blocks = None
    if blocks is not None:
        names = {n for n, _ in blocks[0].named_modules()}
        for key, arch in ARCHES.items():
            paths = [p.path for p in arch.mlp + arch.attn] + [arch.attn_module, arch.mlp_module]
            if all(p in names for p in paths):
                if key == "gpt2" and getattr(model.config, "add_cross_attention", False):
                    break
                return key
    raise PruneScopeError(f"structured pruning does not know the architecture {type(model).__name__}; "
                          f"supported: {SUPPORTED}")


@dataclass
class Slot:
    """A Part resolved in one block: the module, its Target (for the weight layout) and widths."""

    part: Part
    module_path: str  # full path in the model
    module: nn.Module
    target: Target
    width: int  # features per unit per segment
    units: int


@dataclass
class Layout:
    """Per block, the resolved Parts of one unit kind."""

    arch_key: str
    unit: str
    blocks_path: str
    blocks: list[list[Slot]]
    queries_per_unit: int = 1
    head_dim: int = 1

    @property
    def units(self) -> list[int]:
        return [slots[0].units for slots in self.blocks]

    def unit_word(self, count: int | None = None) -> str:
        """What a unit is called in messages ("KV groups" for grouped-query attention)."""
        if self.unit == "neuron":
            return "MLP neuron" if count == 1 else "MLP neurons"
        if self.queries_per_unit > 1:
            g = "KV group" if count == 1 else "KV groups"
            return f"{g} (a key/value head with its {self.queries_per_unit} query heads)"
        return "attention head" if count == 1 else "attention heads"


def unit_layout(model: nn.Module, unit: str) -> Layout:
    """Resolve the unit's Parts in every block; unit counts come from the current shapes."""
    if unit not in UNITS:
        raise PruneScopeError(f"unknown unit '{unit}'; choose 'neuron' ({UNITS['neuron']}) or 'head' ({UNITS['head']})")
    key = detect_arch(model)
    arch = ARCHES[key]
    blocks_path, blocks = find_blocks(model)
    targets = {t.module: t for t in find_targets(model, "all")}
    layout = Layout(key, unit, blocks_path, [])
    for b, block in enumerate(blocks):
        prefix = f"{blocks_path}.{b}"
        if unit == "head":
            head_dim, qpu = arch.head_shape(block.get_submodule(arch.attn_module))
            layout.head_dim, layout.queries_per_unit = head_dim, qpu
        slots = []
        for part in (arch.mlp if unit == "neuron" else arch.attn):
            module = block.get_submodule(part.path)
            target = targets[f"{prefix}.{part.path}"]
            width = 1 if unit == "neuron" else head_dim * (layout.queries_per_unit if part.query else 1)
            size = target.out_features if part.role == "in" else target.in_features
            slots.append(Slot(part, f"{prefix}.{part.path}", module, target, width, size // (width * part.segments)))
        if len({s.units for s in slots}) != 1:
            raise PruneScopeError(f"block {b} of this {arch.name} model has inconsistent {UNITS[unit]} sizes "
                                  f"({[s.units for s in slots]}); it cannot be pruned structurally")
        layout.blocks.append(slots)
    return layout


def feature_indices(units: torch.Tensor, slot: Slot) -> torch.Tensor:
    """Feature indices (along the sliced dimension) owned by `units`, segment by segment."""
    w, n = slot.width, slot.units
    per = (units[:, None] * w + torch.arange(w)).reshape(-1)  # (len(units) * w,)
    return torch.cat([s * n * w + per for s in range(slot.part.segments)])
