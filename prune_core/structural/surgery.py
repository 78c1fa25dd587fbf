"""Model surgery: a copy of the model with a plan's removed units physically gone (or zeroed).

The given model is never changed (it may be the base model every session shares): `shrink` and
`mask_units` work on deep copies, `unit_masks` only reads. The Linear/Conv1D modules that own units
are replaced by smaller ones built from the kept rows or columns.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from ..targets import as_out_in, from_out_in
from .architectures import ARCHES, Layout, Slot, feature_indices, unit_layout
from .plan import StructuralPlan, kept_indices


def _smaller(slot: Slot, rows: torch.Tensor) -> nn.Module:
    """A new Linear/Conv1D holding only the given features of the sliced dimension."""
    old = slot.module
    w = as_out_in(old.weight.detach(), slot.target)
    bias = old.bias.detach() if old.bias is not None else None
    if slot.part.role == "in":
        w = w.index_select(0, rows)
        bias = bias.index_select(0, rows) if bias is not None else None
    else:
        w = w.index_select(1, rows)
    out_f, in_f = w.shape
    if isinstance(old, Conv1D):
        new = Conv1D(out_f, in_f)
    else:
        new = torch.nn.utils.skip_init(nn.Linear, in_f, out_f, bias=bias is not None,
                                       dtype=old.weight.dtype, device=old.weight.device)
    new.weight = nn.Parameter(from_out_in(w, slot.target).clone(), requires_grad=old.weight.requires_grad)
    if bias is not None:
        new.bias = nn.Parameter(bias.clone(), requires_grad=old.bias.requires_grad)
    new.train(old.training)
    return new


def apply_keeps(model: nn.Module, layout: Layout, keeps: list[torch.Tensor]) -> None:
    """Keep `keeps[b]` units in block b: replace the unit-owning modules of `model` (already a private
    copy) and update the head/neuron counts its forward reads."""
    arch = ARCHES[layout.arch_key]
    for slots, keep in zip(layout.blocks, keeps):
        for slot in slots:
            model.set_submodule(slot.module_path, _smaller(slot, feature_indices(keep, slot)))
        block_path = slots[0].module_path[: -len(slots[0].part.path) - 1]
        block = model.get_submodule(block_path)
        if layout.unit == "head":
            arch.set_heads(block.get_submodule(arch.attn_module), len(keep) * layout.queries_per_unit, layout.head_dim)
        else:
            arch.set_neurons(block.get_submodule(arch.mlp_module), len(keep))


def shrink(model: nn.Module, plan: StructuralPlan) -> nn.Module:
    """A deep copy of `model` with the plan's removed units physically gone; `model` is untouched.

    Neurons: rows of the up (and gate) matrices, columns of the down matrix. Heads: Q/K/V rows and
    output-projection columns, and the attention module's head count. For Llama-style GQA a head
    unit is a whole KV group (its K/V head and the query heads sharing it).
    """
    keeps = kept_indices(unit_layout(model, plan.unit), plan)
    small = copy.deepcopy(model)
    apply_keeps(small, unit_layout(small, plan.unit), keeps)
    return small


@torch.no_grad()
def mask_units(model: nn.Module, plan: StructuralPlan) -> nn.Module:
    """A dense copy in which the removed units' outgoing columns are zero: same function as `shrink`."""
    layout = unit_layout(model, plan.unit)
    keeps = kept_indices(layout, plan)
    masked = copy.deepcopy(model)
    params = dict(masked.named_parameters())
    for slots, keep, n in zip(layout.blocks, keeps, layout.units):
        gone = torch.tensor(sorted(set(range(n)) - set(keep.tolist())), dtype=torch.long)
        for slot in slots:
            if slot.part.role == "out" and gone.numel():
                as_out_in(params[slot.target.name], slot.target)[:, feature_indices(gone, slot)] = 0
    return masked


def unit_masks(model: nn.Module, plan: StructuralPlan) -> dict[str, torch.Tensor]:
    """Keep-masks (each parameter's layout) of the weights a plan removes: rows of the matrices
    that produce the removed units, columns of those that consume them. For per-layer counts."""
    layout = unit_layout(model, plan.unit)
    keeps = kept_indices(layout, plan)
    params = dict(model.named_parameters())
    masks: dict[str, torch.Tensor] = {}
    for slots, keep, n in zip(layout.blocks, keeps, layout.units):
        gone = torch.tensor(sorted(set(range(n)) - set(keep.tolist())), dtype=torch.long)
        for slot in slots:
            t = slot.target
            mask = masks.setdefault(t.name, torch.ones_like(params[t.name], dtype=torch.bool))
            if gone.numel():
                view = as_out_in(mask, t)
                idx = feature_indices(gone, slot)
                if slot.part.role == "in":
                    view[idx, :] = False
                else:
                    view[:, idx] = False
    return masks
