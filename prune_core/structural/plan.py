"""What to keep: scores -> per-block kept units (a keep rule), recorded in a `StructuralPlan`.

A plan is plain data (JSON via `to_dict`), so it can be stored, sent to the CLI as a recipe and
applied later to the same base model; `kept_indices` checks that it still fits the model it meets.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn

from ..calibration import calibration_inputs
from ..errors import PruneScopeError
from .architectures import ARCHES, UNITS, Layout, unit_layout
from .importance import get_importance, unit_scores


@dataclass
class StructuralPlan:
    """What to keep: per block, the sorted indices of the units kept, and the scores behind it.

    For Llama-style (GQA) head plans a unit is one KV group: `queries_per_unit` query heads.
    """

    unit: str  # "neuron" | "head"
    method: str  # importance name in IMPORTANCE
    allocation: str  # "layer" | "global"
    sparsity: float  # requested fraction of units to remove
    arch: str  # key in ARCHES
    units: list[int]  # units per block before pruning
    kept: list[list[int]]  # per block, sorted indices kept
    scores: list[list[float]]  # per block, importance of every unit (higher = keep)
    queries_per_unit: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(self.units) - sum(len(k) for k in self.kept)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StructuralPlan":
        return cls(**{**d, "kept": [list(map(int, k)) for k in d["kept"]],
                      "scores": [list(map(float, s)) for s in d["scores"]], "units": list(map(int, d["units"]))})

    def rows(self) -> list[dict]:
        """One row per block, for tables and charts."""
        return [{"block": b, "unit": self.unit, "units": n, "kept": len(k), "removed": n - len(k)}
                for b, (n, k) in enumerate(zip(self.units, self.kept))]


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _pct(x: float) -> str:
    return f"{100 * x:.4g} %"


def _check_sparsity(sparsity: float) -> float:
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise PruneScopeError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if not 0.0 <= s < 1.0:
        raise PruneScopeError(f"sparsity must be in [0, 1) (0.5 removes half the units), got {sparsity}")
    return s


def _layer_keep(scores: list[torch.Tensor], sparsity: float, layout: Layout) -> list[list[int]]:
    """Every block loses the same fraction of its units (rounded half up; at least 1 kept)."""
    kept = []
    for b, s in enumerate(scores):
        n = s.numel()
        k = _round_half_up(sparsity * n)
        if sparsity > 0 and k == 0:
            raise PruneScopeError(
                f"{_pct(sparsity)} of the {n} {layout.unit_word(n)} in block {b} is {sparsity * n:.3g}, which rounds "
                f"to 0 units: nothing would be removed. Use at least {_pct(0.5 / n)} (removes 1 of {n}), "
                f"or 'global' allocation")
        if k >= n:
            raise PruneScopeError(
                f"{_pct(sparsity)} of the {n} {layout.unit_word(n)} in block {b} rounds to {k}: all of them. "
                f"A block must keep at least 1; use a sparsity below {_pct((n - 0.5) / n)} "
                f"(at most {n - 1} of {n} removed)")
        order = torch.argsort(s, stable=True)  # ascending: the first k go
        kept.append(sorted(order[k:].tolist()))
    return kept


def _global_keep(scores: list[torch.Tensor], sparsity: float, layout: Layout) -> list[list[int]]:
    """One ranking across blocks (scores divided by their block's mean |score|): blocks end up unequal."""
    total = sum(s.numel() for s in scores)
    k = _round_half_up(sparsity * total)
    if sparsity > 0 and k == 0:
        raise PruneScopeError(f"{_pct(sparsity)} of the {total} {layout.unit_word(total)} is "
                              f"{sparsity * total:.3g}, which rounds to 0 units: nothing would be removed; "
                              f"use at least {_pct(0.5 / total)}")
    if k > total - len(scores):
        raise PruneScopeError(f"{_pct(sparsity)} of the {total} {layout.unit_word(total)} is {k}, but every "
                              f"block must keep at least 1: at most {total - len(scores)} can go")
    # comparable across blocks: each block's scores divided by their mean magnitude
    normed = [s / s.abs().mean().clamp_min(1e-30) for s in scores]
    flat = torch.cat(normed)
    owner = torch.cat([torch.full((s.numel(),), b) for b, s in enumerate(scores)])
    local = torch.cat([torch.arange(s.numel()) for s in scores])
    left = [s.numel() for s in scores]
    remove: list[set[int]] = [set() for _ in scores]
    for i in torch.argsort(flat, stable=True).tolist():
        if k == 0:
            break
        b = int(owner[i])
        if left[b] > 1:  # never the last unit of a block
            remove[b].add(int(local[i]))
            left[b] -= 1
            k -= 1
    return [[j for j in range(s.numel()) if j not in r] for s, r in zip(scores, remove)]


KEEP_RULES: dict[str, Callable[[list[torch.Tensor], float, Layout], list[list[int]]]] = {
    "layer": _layer_keep,
    "global": _global_keep,
}


def plan_units(model: nn.Module, unit: str, sparsity: float, method: str = "magnitude",
               allocation: str = "layer", samples: list | None = None) -> StructuralPlan:
    """Score the units and choose which to keep; the model is only read.

    >>> plan = plan_units(loaded.model, "neuron", 0.5)          # half the MLP neurons of each block
    >>> small = shrink(loaded.model, plan)
    """
    sparsity = _check_sparsity(sparsity)
    if allocation not in KEEP_RULES:
        raise PruneScopeError(f"unknown allocation '{allocation}'; choose one of: {', '.join(KEEP_RULES)}")
    layout = unit_layout(model, unit)
    get_importance(method, unit)
    return plan_from_scores(layout, unit_scores(model, unit, method, samples), method, allocation, sparsity)


def plan_from_scores(layout: Layout, scores: list[torch.Tensor], method: str, allocation: str,
                     sparsity: float) -> StructuralPlan:
    """The plan a keep rule makes of given scores (checked arguments): also for scores computed once and reused."""
    kept = KEEP_RULES[allocation](scores, sparsity, layout)
    return StructuralPlan(layout.unit, method, allocation, sparsity, layout.arch_key, layout.units, kept,
                          [s.tolist() for s in scores], layout.queries_per_unit)


def plan_for(loaded, unit: str, sparsity: float, method: str = "magnitude", allocation: str = "layer",
             calib_samples: int = 16, calib_seq_len: int = 128, seed: int = 0) -> StructuralPlan:
    """`plan_units` for a zoo model, drawing calibration data from its training split if needed."""
    samples = None
    if get_importance(method, unit).needs_calibration:
        samples = calibration_inputs(loaded, calib_samples, calib_seq_len, seed)
    return plan_units(loaded.model, unit, sparsity, method, allocation, samples)


def kept_indices(layout: Layout, plan: StructuralPlan) -> list[torch.Tensor]:
    """Per block, the plan's kept unit indices as tensors, once the plan is checked to fit `layout`
    (same architecture and unit counts, sorted in-range indices, no block emptied)."""
    if plan.unit not in UNITS:
        raise PruneScopeError(f"unknown unit '{plan.unit}' in plan; choose 'neuron' or 'head'")
    if plan.arch != layout.arch_key:
        raise PruneScopeError(f"this plan was made for a {ARCHES[plan.arch].name if plan.arch in ARCHES else plan.arch} "
                              f"model, not a {ARCHES[layout.arch_key].name} one")
    if list(plan.units) != layout.units or len(plan.kept) != len(layout.blocks):
        raise PruneScopeError(f"this plan was made for a model with {plan.units} {UNITS[plan.unit]} per block; "
                              f"this one has {layout.units}")
    out = []
    for b, (keep, n) in enumerate(zip(plan.kept, layout.units)):
        if not keep:
            raise PruneScopeError(f"the plan removes all {n} {layout.unit_word(n)} of block {b}; "
                                  "removing a whole layer is not supported: keep at least 1")
        if sorted(set(keep)) != list(keep) or keep[0] < 0 or keep[-1] >= n:
            raise PruneScopeError(f"block {b}: kept indices must be sorted, distinct and in 0..{n - 1}; got {keep}")
        out.append(torch.tensor(keep, dtype=torch.long))
    return out
