"""Unit importances, registered by name: how much each MLP neuron or attention head matters.

A plan keeps the highest-scoring units. Scores are computed per block from a `Layout`; those that
need activations (calibration data) run on a private copy of the model, because forward hooks or
ablations on a shared model would also fire in other sessions' forwards.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PruneScopeError
from ..targets import as_out_in
from .architectures import UNITS, Layout, Slot, feature_indices, unit_layout


@dataclass(frozen=True)
class Importance:
    """A unit importance score, registered by name. Higher = more important = kept."""

    name: str
    description: str
    units: tuple[str, ...]
    needs_calibration: bool
    score: Callable[[nn.Module, Layout, list], list[torch.Tensor]]  # (model, layout, samples) -> per block (units,)


IMPORTANCE: dict[str, Importance] = {}


def register(name: str, description: str, units: tuple[str, ...], needs_calibration: bool):
    """Decorator: a new importance is one function `(model, layout, samples) -> per-block scores`."""

    def wrap(fn):
        IMPORTANCE[name] = Importance(name, description, units, needs_calibration, fn)
        return fn
    return wrap


def _sq_norms(slot: Slot) -> torch.Tensor:
    """Sum of squared weights each unit owns in one matrix: (units,)."""
    w = as_out_in(slot.module.weight.detach(), slot.target).float()
    n, width, seg = slot.units, slot.width, slot.part.segments
    if slot.part.role == "in":
        return (w.reshape(seg, n, width, -1) ** 2).sum((0, 2, 3))
    return (w.reshape(w.shape[0], n, width) ** 2).sum((0, 2))


@register("magnitude", "L2 norm of all the weights a unit owns (rows it produces, columns it feeds)",
          ("neuron", "head"), needs_calibration=False)
@torch.no_grad()
def magnitude_importance(model: nn.Module, layout: Layout, samples) -> list[torch.Tensor]:
    return [torch.sqrt(sum(_sq_norms(s) for s in slots)) for slots in layout.blocks]


def _private(model: nn.Module, unit: str) -> tuple[nn.Module, Layout]:
    """A copy to run hooks/ablations on (the given model may be shared), and its layout."""
    twin = copy.deepcopy(model).eval()
    return twin, unit_layout(twin, unit)


@register("activation", "mean |activation| of the unit on calibration data x norm of its outgoing weights "
          "(heads: mean L2 norm of the head's attention output)", ("neuron", "head"), needs_calibration=True)
@torch.inference_mode()
def activation_importance(model: nn.Module, layout: Layout, samples) -> list[torch.Tensor]:
    twin, lay = _private(model, layout.unit)
    outs = [next(s for s in slots if s.part.role == "out") for slots in lay.blocks]
    sums = [torch.zeros(s.units, dtype=torch.float64) for s in outs]
    tokens = [0] * len(outs)

    def make_hook(b: int, slot: Slot):
        def hook(module, args):
            x = args[0].detach().reshape(-1, slot.units, slot.width)  # (tokens, units, width)
            sums[b] += x.double().norm(dim=-1).sum(0)
            tokens[b] += x.shape[0]
        return hook

    handles = [s.module.register_forward_pre_hook(make_hook(b, s)) for b, s in enumerate(outs)]
    try:
        for batch in samples:
            twin(**batch)
    finally:
        for h in handles:
            h.remove()
    return [(sums[b] / max(tokens[b], 1)).float() * torch.sqrt(_sq_norms(s)) for b, s in enumerate(outs)]


def _is_causal_lm(model: nn.Module) -> bool:
    name = type(model).__name__
    return "ForCausalLM" in name or "LMHeadModel" in name


def _calibration_loss(model: nn.Module, samples: list, reference: list[torch.Tensor] | None) -> float:
    """LM: mean next-token loss. Classifier: mean KL(dense || this) of class probabilities."""
    total = 0.0
    for i, batch in enumerate(samples):
        if reference is None:
            total += float(model(**batch, labels=batch["input_ids"]).loss)
        else:
            logp = F.log_softmax(model(**batch).logits.float(), -1)
            total += float(F.kl_div(logp, reference[i], log_target=True, reduction="batchmean"))
    return total / len(samples)


@register("loss", "increase of the calibration loss when the unit alone is removed (LMs: next-token loss; "
          "classifiers: KL divergence of the class probabilities from the dense model's)",
          ("head",), needs_calibration=True)
@torch.inference_mode()
def loss_importance(model: nn.Module, layout: Layout, samples) -> list[torch.Tensor]:
    twin, lay = _private(model, layout.unit)
    causal = _is_causal_lm(twin)
    reference = None if causal else [F.log_softmax(twin(**b).logits.float(), -1) for b in samples]
    base = _calibration_loss(twin, samples, None) if causal else 0.0
    scores = []
    for slots in lay.blocks:
        out = next(s for s in slots if s.part.role == "out")
        weight = out.module.weight
        row = torch.zeros(out.units)
        for u in range(out.units):
            idx = feature_indices(torch.tensor([u]), out)
            saved = weight.detach().clone()
            w = as_out_in(weight.data, out.target)  # a view: zeroing it zeroes the parameter
            w[:, idx] = 0  # zeroing the columns that read the unit removes it exactly
            try:
                row[u] = _calibration_loss(twin, samples, reference) - base
            finally:
                weight.data.copy_(saved)
        scores.append(row)
    return scores


def unit_scores(model: nn.Module, unit: str, method: str = "magnitude", samples: list | None = None) -> list[torch.Tensor]:
    """Importance of every unit, per block (higher = keep). `model` is only read."""
    layout = unit_layout(model, unit)
    imp = get_importance(method, unit)
    if imp.needs_calibration and not samples:
        raise PruneScopeError(f"importance '{method}' needs calibration samples "
                              "(prune_core.calibration.calibration_inputs); none were given")
    return imp.score(model, layout, samples)


def get_importance(method: str, unit: str) -> Importance:
    """The importance registered as `method`, refused with a clear message if unknown or not for `unit`."""
    if method not in IMPORTANCE:
        raise PruneScopeError(f"unknown importance '{method}'; available: {', '.join(IMPORTANCE)}")
    imp = IMPORTANCE[method]
    if unit not in imp.units:
        raise PruneScopeError(f"importance '{method}' scores {' and '.join(UNITS[u] for u in imp.units)} only, "
                              f"not {UNITS.get(unit, unit)}")
    return imp
