"""Per-layer sensitivity: prune one layer (or one kind of layer) at a time and measure the quality lost.

One private working copy is made; each (group, sparsity) point zeroes the lowest-|w| weights of the
group's matrices in place, evaluates, and restores them, so a whole heatmap costs one copy, not one
per point. A group is one matrix (`group_by="layer"`) or every matrix of one kind (`"kind"`).
From the heatmap, `propose_allocation` spends a global sparsity budget where it hurts least, and
`propose` measures that allocation beside uniform magnitude pruning (the Layers and Compare pages).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from .errors import PruneScopeError
from .masks import MaskSet, materialize
from .patterns import lowest_k_mask
from .progress import Progress, no_progress
from .run import measure_quality
from .targets import Target, as_out_in, find_targets, from_out_in
from .zoo import LoadedModel


GROUPINGS = {
    "layer": "one weight matrix at a time",
    "kind": "one kind of layer at a time (e.g. every MLP down projection), all blocks together",
}


def group_of(target: Target, group_by: str) -> str:
    """The row label a target belongs to: its module path, or its kind of layer (`Target.role`)."""
    if group_by not in GROUPINGS:
        raise PruneScopeError(f"unknown grouping '{group_by}'; choose one of: {', '.join(GROUPINGS)}")
    return target.module if group_by == "layer" else target.role


def groups(targets: list[Target], group_by: str) -> dict[str, list[Target]]:
    """Targets by group label, in model order of each group's first member."""
    out: dict[str, list[Target]] = {}
    for t in targets:
        out.setdefault(group_of(t, group_by), []).append(t)
    return out


@torch.no_grad()
def layer_sensitivity(loaded: LoadedModel, sparsities: list[float], scope: str = "all",
                      progress: Progress = no_progress,
                      group_by: str = "layer") -> pd.DataFrame:
    """Rows (layer, kind, block, params, matrices, sparsity, quality, damage): magnitude pruning of one
    group at a time. `group_by="kind"` prunes every matrix of one kind together (each to that sparsity),
    so "layer" then holds the kind's name, e.g. "MLP down"."""
    work = copy.deepcopy(loaded.model)
    params = dict(work.named_parameters())
    metric = loaded.card.metric
    dense = measure_quality(loaded, work)
    grouped = groups(find_targets(work, scope), group_by)
    rows = []
    for i, (label, members) in enumerate(grouped.items()):
        originals = {t.name: params[t.name].detach().clone() for t in members}
        first = members[0]
        for j, s in enumerate(sparsities):
            progress((i + j / len(sparsities)) / len(grouped), f"{label} at {s:.0%}")
            for t in members:
                keep = lowest_k_mask(as_out_in(originals[t.name], t).abs(), round(s * t.numel))
                params[t.name].copy_(originals[t.name] * from_out_in(keep, t))
            q = measure_quality(loaded, work)
            rows.append({"layer": label, "kind": first.kind, "block": first.block if group_by == "layer" else None,
                         "params": sum(t.numel for t in members), "matrices": len(members), "sparsity": s,
                         "quality": q, "quality_dense": dense, "damage": metric.damage(dense, q)})
        for t in members:
            params[t.name].copy_(originals[t.name])
    return pd.DataFrame(rows)


def propose_allocation(sens: pd.DataFrame, target: float) -> dict[str, float]:
    """Per-layer (or per-kind: one row label per group) sparsities reaching `target` overall,
    raising first the groups that suffer least.

    Greedy on the measured grid: every step moves one layer to its next sparsity level, the one with
    the smallest damage increase per weight removed, until the weights removed reach the target.
    """
    levels = sorted(sens["sparsity"].unique())
    table = {layer: dict(zip(g["sparsity"], g["damage"])) for layer, g in sens.groupby("layer", sort=False)}
    size = sens.drop_duplicates("layer").set_index("layer")["params"].to_dict()
    alloc = {layer: 0.0 for layer in table}
    damage = {layer: 0.0 for layer in table}
    need = target * sum(size.values())
    removed = 0.0
    while removed < need:
        best, best_cost = None, float("inf")
        for layer, now in alloc.items():
            nxt = [lv for lv in levels if lv > now]
            if not nxt:
                continue
            gain = (nxt[0] - now) * size[layer]
            cost = (max(table[layer][nxt[0]], 0.0) - max(damage[layer], 0.0)) / gain
            if cost < best_cost:
                best, best_cost = layer, cost
        if best is None:
            break
        nxt = min(lv for lv in levels if lv > alloc[best])
        removed += (nxt - alloc[best]) * size[best]
        alloc[best], damage[best] = float(nxt), float(table[best][nxt])
    return alloc


def expand_allocation(model: nn.Module, alloc: dict[str, float], group_by: str) -> dict[str, float]:
    """Per-group sparsities (e.g. by kind) -> one sparsity per module, for `evaluate_allocation`."""
    return {t.module: alloc.get(group_of(t, group_by), 0.0) for t in find_targets(model, "all")}


def evaluate_allocation(loaded: LoadedModel, alloc: dict[str, float]) -> tuple[float, float]:
    """(quality, overall sparsity) of magnitude pruning with a per-layer sparsity for each module."""
    targets = find_targets(loaded.model, "all")
    params = dict(loaded.model.named_parameters())
    masks = {t.name: from_out_in(lowest_k_mask(as_out_in(params[t.name], t).abs(),
                                               round(alloc.get(t.module, 0.0) * t.numel)), t) for t in targets}
    removed = sum(int((~m).sum()) for m in masks.values())
    return measure_quality(loaded, materialize(loaded.model, MaskSet(targets, masks))), removed / sum(t.numel for t in targets)


@dataclass(frozen=True)
class Proposal:
    """Magnitude pruning with a sensitivity-proposed per-layer allocation, beside the uniform one."""

    allocation: dict[str, float]  # module -> sparsity
    quality: float  # held-out quality of the proposed allocation
    sparsity: float  # overall share of weights removed (at or above the target: greedy on the grid)
    uniform_quality: float  # every layer at the target, on the same data
    uniform_sparsity: float


def propose(loaded: LoadedModel, sens: pd.DataFrame, target: float, group_by: str = "layer") -> Proposal:
    """The allocation proposed from `sens` (layer_sensitivity with the same `group_by`) for an overall
    `target`, one sparsity per module, evaluated beside uniform magnitude pruning at the target."""
    alloc = expand_allocation(loaded.model, propose_allocation(sens, target), group_by)
    quality, sparsity = evaluate_allocation(loaded, alloc)
    uniform_quality, uniform_sparsity = evaluate_allocation(loaded, {k: target for k in alloc})
    return Proposal(allocation=alloc, quality=quality, sparsity=sparsity, uniform_quality=uniform_quality,
                    uniform_sparsity=uniform_sparsity)
