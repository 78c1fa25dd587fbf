"""Which weight matrices a pruning run may touch.

A `Target` names one Linear-like weight and how to view it as (out_features, in_features):
GPT-2's `Conv1D` stores its weight transposed, so N:M groups along the input dimension
need to know. Embeddings and norms are never targets; the LM/classifier head only on request.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from .errors import PruneScopeError

SCOPES = {
    "all": "all linear layers inside the Transformer blocks",
    "attention": "attention projections (Q, K, V, output)",
    "mlp": "MLP / feed-forward layers",
}
_BLOCK_RE = re.compile(r"\.(\d+)\.")
# What a matrix does inside its block, from the end of its module path; first match wins, so
# BERT's "attention.output.dense" is tried before the MLP's "output.dense". GPT-2 / BERT / Llama names.
ROLES: tuple[tuple[str, re.Pattern], ...] = (
    ("attention q/k/v", re.compile(r"(c_attn|query|key|value|q_proj|k_proj|v_proj)$")),
    ("attention output", re.compile(r"(attn\.c_proj|attention\.output\.dense|o_proj)$")),
    ("MLP up/gate", re.compile(r"(c_fc|intermediate\.dense|gate_proj|up_proj)$")),
    ("MLP down", re.compile(r"(mlp\.c_proj|output\.dense|down_proj)$")),
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
        return next((name for name, rule in ROLES if rule.search(self.module)), f"{self.kind} (other)")


def as_out_in(weight: torch.Tensor, target: Target) -> torch.Tensor:
    """View a weight (or a mask of its shape) as (out_features, in_features)."""
    return weight.t() if target.transposed else weight


def from_out_in(matrix: torch.Tensor, target: Target) -> torch.Tensor:
    """Inverse of `as_out_in`: back to the parameter's own layout."""
    return matrix.t().contiguous() if target.transposed else matrix.contiguous()


def _kind(module_name: str, block: int | None) -> str:
    if block is None:
        return "head"
    low = module_name.lower()
    return "attention" if ("attn" in low or "attention" in low) else "mlp"


def find_targets(model: nn.Module, scope: str = "all", include_head: bool = False) -> list[Target]:
    """List the weights a run with this scope may prune, in model order."""
    if scope not in SCOPES:
        raise PruneScopeError(f"unknown scope '{scope}'; choose one of: {', '.join(SCOPES)}")
    canonical = {id(p): n for n, p in model.named_parameters()}
    targets: list[Target] = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, Conv1D)):
            continue
        weight = module.weight
        if id(weight) in seen:
            continue
        match = _BLOCK_RE.search(f".{module_name}.")
        block = int(match.group(1)) if match else None
        kind = _kind(module_name, block)
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
