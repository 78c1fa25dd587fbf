"""Which weight matrices a pruning run may touch.

A `Target` names one Linear-like weight and how to view it as (out_features, in_features):
GPT-2's `Conv1D` stores its weight transposed, so N:M groups along the input dimension
need to know. Targets are found from the model itself: the linear layers inside its Transformer blocks,
named attention or MLP by generic name rules (`ROLES`). Embeddings and norms are never targets; the
LM/classifier head (any linear layer outside the blocks) only on request.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from .blocks import find_blocks
from .errors import PruneScopeError

SCOPES = {
    "all": "all linear layers inside the Transformer blocks",
    "attention": "attention projections (Q, K, V, output)",
    "mlp": "MLP / feed-forward layers",
}


def _rule(*names: str) -> re.Pattern:
    """Module paths ending in one of `names` (whole path components)."""
    return re.compile(rf"(?:^|\.)(?:{'|'.join(names)})$")


# What a matrix does inside its block, from the end of its module path: (role, kind, rule). First match
# wins, so BERT's "attention.output.dense" is tried before the MLP's "output.dense". Fused projections
# (GPT-2 c_attn, Phi-3 qkv_proj / gate_up_proj, GPT-NeoX and Falcon query_key_value, ModernBERT Wqkv / Wi)
# are one matrix each. Names of GPT-2, BERT/RoBERTa, DistilBERT, ModernBERT, Llama/Qwen/Mistral/Gemma,
# Phi-3, OPT, GPT-NeoX, Falcon and GPT-J.
ROLES: tuple[tuple[str, str, re.Pattern], ...] = (
    ("attention q/k/v", "attention", _rule("c_attn", "query", "key", "value", "q_proj", "k_proj", "v_proj",
                                           "qkv_proj", "query_key_value", "q_lin", "k_lin", "v_lin", "Wqkv")),
    ("attention output", "attention", _rule(r"attn\.c_proj", r"attention\.output\.dense", "o_proj", "out_proj",
                                            r"(?:self_)?attention\.dense", "out_lin", r"attn\.Wo")),
    ("MLP up/gate", "mlp", _rule("c_fc", r"intermediate\.dense", "gate_proj", "up_proj", "gate_up_proj", "fc1",
                                 "fc_in", "dense_h_to_4h", "lin1", "Wi")),
    ("MLP down", "mlp", _rule(r"mlp\.c_proj", r"output\.dense", "down_proj", "fc2", "fc_out", "dense_4h_to_h",
                              "lin2", r"mlp\.Wo")),
)


@dataclass(frozen=True)
class Target:
    """One prunable weight matrix."""

    name: str  # canonical parameter name, as in model.named_parameters()
    module: str  # module path, e.g. "transformer.h.0.attn.c_attn"
    kind: str  # "attention" | "mlp" | "head"
    block: int | None  # Transformer block index, None for the head
    transposed: bool  # True for Conv1D, whose weight is (in, out)
    out_features: int
    in_features: int

    @property
    def numel(self) -> int:
        return self.out_features * self.in_features

    @property
    def role(self) -> str:
        """The kind of layer, finer than `kind`: e.g. "attention q/k/v" or "MLP down" (see ROLES)."""
        if self.kind == "head":
            return "head"
        return next((name for name, _, rule in ROLES if rule.search(self.module)), f"{self.kind} (other)")


def as_out_in(weight: torch.Tensor, target: Target) -> torch.Tensor:
    """View a weight (or a mask of its shape) as (out_features, in_features)."""
    return weight.t() if target.transposed else weight


def from_out_in(matrix: torch.Tensor, target: Target) -> torch.Tensor:
    """Inverse of `as_out_in`: back to the parameter's own layout."""
    return matrix.t().contiguous() if target.transposed else matrix.contiguous()


def _kind(module_name: str) -> str:
    """'attention' or 'mlp' for a matrix inside a block: by its role, else by its path."""
    kind = next((kind for _, kind, rule in ROLES if rule.search(module_name)), None)
    if kind is None:
        low = module_name.lower()
        kind = "attention" if ("attn" in low or "attention" in low) else "mlp"
    return kind


def _block_of(module_name: str, blocks_path: str | None) -> int | None:
    """Index of the Transformer block a module sits in, None outside the blocks (embeddings, head)."""
    if blocks_path is None or not module_name.startswith(blocks_path + "."):
        return None
    return int(module_name[len(blocks_path) + 1:].split(".")[0])


def find_targets(model: nn.Module, scope: str = "all", include_head: bool = False) -> list[Target]:
    """List the weights a run with this scope may prune, in model order: the linear layers of the
    Transformer blocks (`blocks.find_blocks`), and those outside them (the head) only on request."""
    if scope not in SCOPES:
        raise PruneScopeError(f"unknown scope '{scope}'; choose one of: {', '.join(SCOPES)}")
    try:
        blocks_path: str | None = find_blocks(model)[0]
    except PruneScopeError:
        blocks_path = None
    canonical = {id(p): n for n, p in model.named_parameters()}
    targets: list[Target] = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, Conv1D)):
            continue
        weight = module.weight
        if id(weight) in seen:
            continue
        block = _block_of(module_name, blocks_path)
        kind = "head" if block is None else _kind(module_name)
        if kind == "head" and not include_head:
            continue
        if kind != "head" and scope != "all" and kind != scope:
            continue
        seen.add(id(weight))
        transposed = isinstance(module, Conv1D)
        out_f, in_f = (weight.shape[1], weight.shape[0]) if transposed else tuple(weight.shape)
        targets.append(Target(canonical[id(weight)], module_name, kind, block, transposed, out_f, in_f))
    if not targets:
        raise PruneScopeError(f"no linear layers found for scope '{scope}' in this model")
    return targets


def tied_head_note(model: nn.Module, targets: list[Target]) -> str | None:
    """Say so when a pruned head shares its matrix with the input embeddings."""
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if emb is None:
        return None
    params = dict(model.named_parameters())
    for t in targets:
        if t.kind == "head" and params[t.name] is emb.weight:
            return (f"'{t.module}' shares its weights with the input embeddings, so pruning it "
                    "prunes the embeddings too")
    return None
