"""Per-layer sensitivity: prune one layer at a time and measure the quality lost.

One private working copy is made; each (layer, sparsity) point zeroes that layer's lowest-|w|
weights in place, evaluates, and restores it, so a whole heatmap costs one copy, not one per point.
From the heatmap, `propose_allocation` spends a global sparsity budget where it hurts least.
"""
from __future__ import annotations

import copy
from typing import Callable

import pandas as pd
import torch

from .masks import MaskSet, materialize
from .patterns import lowest_k_mask
from .run import measure_quality
from .targets import as_out_in, find_targets, from_out_in
from .zoo import LoadedModel


def _damage(quality: float, dense: float, metric: str) -> float:
    """How much worse than dense, as a positive number (perplexity up, accuracy down)."""
    return quality - dense if metric == "perplexity" else dense - quality


@torch.no_grad()
def layer_sensitivity(loaded: LoadedModel, sparsities: list[float], scope: str = "all",
                      progress: Callable[[float, str], None] = lambda f, m: None) -> pd.DataFrame:
    """Rows (layer, kind, block, params, sparsity, quality, damage) for magnitude pruning of one layer."""
    work = copy.deepcopy(loaded.model)
    params = dict(work.named_parameters())
    metric = loaded.card.quality_metric
    dense = measure_quality(loaded, work)
    targets = find_targets(work, scope)
    rows = []
    for i, t in enumerate(targets):
        weight = params[t.name]
        original = weight.detach().clone()
        for s in sparsities:
            progress((i + s) / len(targets), f"{t.module} at {s:.0%}")
            keep = lowest_k_mask(as_out_in(original, t).abs(), round(s * t.numel))
            weight.copy_(original * from_out_in(keep, t))
            q = measure_quality(loaded, work)
            rows.append({"layer": t.module, "kind": t.kind, "block": t.block, "params": t.numel, "sparsity": s,
                         "quality": q, "quality_dense": dense, "damage": _damage(q, dense, metric)})
        weight.copy_(original)
    return pd.DataFrame(rows)


def propose_allocation(sens: pd.DataFrame, target: float) -> dict[str, float]:
    """Per-layer sparsities reaching `target` overall, raising first the layers that suffer least.

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


def evaluate_allocation(loaded: LoadedModel, alloc: dict[str, float]) -> tuple[float, float]:
    """(quality, overall sparsity) of magnitude pruning with a per-layer sparsity for each module."""
    targets = find_targets(loaded.model, "all")
    params = dict(loaded.model.named_parameters())
    masks = {t.name: from_out_in(lowest_k_mask(as_out_in(params[t.name], t).abs(),
                                               round(alloc.get(t.module, 0.0) * t.numel)), t) for t in targets}
    removed = sum(int((~m).sum()) for m in masks.values())
    return measure_quality(loaded, materialize(loaded.model, MaskSet(targets, masks))), removed / sum(t.numel for t in targets)
