"""Masks: computed without touching the model, applied only to a private copy.

The base model is cached once and shared by every browser session, so it is never written to.
`materialize` deep-copies it and zeroes the pruned weights in the copy (the copy is a plain
model: no hooks, no `weight_orig`, so its latency is that of a dense model with zeros).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .targets import Target, as_out_in


@dataclass
class MaskSet:
    """What a method returns: keep-masks in each parameter's own layout (True = kept)."""

    targets: list[Target]
    masks: dict[str, torch.Tensor]
    # Methods that also update the kept weights (SparseGPT) put the new values here.
    new_weights: dict[str, torch.Tensor] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)  # |w| cut, where one exists
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. "damping was raised for ..."
    plan: object | None = None  # structural.StructuralPlan when whole units were removed
    allocation: object | None = None  # owl.OwlAllocation when OWL set each layer's share


@dataclass
class LayerStats:
    """Per-layer figures, one row of the per-layer table and charts."""

    name: str
    module: str
    kind: str
    block: int | None
    out_features: int
    in_features: int
    params: int
    nonzero: int
    sparsity: float
    threshold: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
@torch.no_grad()
def materialize(model: nn.Module, mask_set: MaskSet, share_unpruned: bool = False) -> nn.Module:
    """A pruned copy of `model`; `model` itself is left bit-identical.

    `share_unpruned`: the copy reuses the tensors pruning does not touch (embeddings, norms, biases:
    113 MB of SmolLM2's 540) instead of copying them. Only for copies that are never trained or
    written to (measuring, generating, exporting); training such a copy would change `model`.
    """
    params = dict(model.named_parameters())
    memo: dict[int, object] = {}
    for name in mask_set.masks.keys() | mask_set.new_weights.keys():  # each pruned tensor made once, directly
        p = params[name]
        new = mask_set.new_weights.get(name, p.detach())
        keep = mask_set.masks.get(name)
        memo[id(p)] = nn.Parameter(new * keep.to(new.dtype) if keep is not None else new.clone(),
                                   requires_grad=p.requires_grad)
    if share_unpruned:
        memo.update({id(p): p for p in params.values() if id(p) not in memo})
    return copy.deepcopy(model, memo)


@torch.no_grad()
def layer_stats(model: nn.Module, mask_set: MaskSet) -> list[LayerStats]:
    """Count what each target layer keeps, from the masks (and new weights, if any)."""
    params = dict(model.named_parameters())
    rows = []
    for t in mask_set.targets:
        weight = mask_set.new_weights.get(t.name, params[t.name])
        keep = mask_set.masks.get(t.name)
        nonzero = int(((weight != 0) & keep).sum()) if keep is not None else int((weight != 0).sum())
        rows.append(LayerStats(t.name, t.module, t.kind, t.block, t.out_features, t.in_features,
                               t.numel, nonzero, 1.0 - nonzero / t.numel, mask_set.thresholds.get(t.name)))
    return rows


def is_nm(mask: torch.Tensor, target: Target, n: int, m: int) -> bool:
    """True when every group of m consecutive inputs of each row keeps at most n weights."""
    view = as_out_in(mask, target)
    if view.shape[1] % m:
        return False
    return bool((view.reshape(view.shape[0], -1, m).sum(-1) <= n).all())
