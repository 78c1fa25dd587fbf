"""What a pruned copy differs from its base model by, small enough to keep for many settings.

A pruned copy of SmolLM2-135M is 540 MB; the same pruning as bit-packed keep-masks is 13 MB
(1 bit per weight). Methods that also change the kept weights (SparseGPT, training methods)
keep those values too: only the kept ones. Whole-unit pruning keeps its plan. From a delta and
the (shared, read-only) base model, `build` gives the pruned copy back in a fraction of the
time the run took, and `weight` gives one pruned matrix without any copy (for histograms).
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .structural import StructuralPlan, shrink, unit_masks


@dataclass(frozen=True)
class ParamDelta:
    """One changed parameter: its keep-mask (bit-packed) and, if they changed, the kept values."""

    shape: tuple[int, ...]
    packed: np.ndarray  # np.packbits of the flattened keep-mask (True = kept)
    kept_values: torch.Tensor | None  # values at kept positions (flat), None = the base's values

    def keep(self) -> torch.Tensor:
        n = int(np.prod(self.shape))
        return torch.from_numpy(np.unpackbits(self.packed, count=n).view(bool).reshape(self.shape))

    def apply(self, base: torch.Tensor) -> torch.Tensor:
        """This parameter pruned: a new tensor, `base` untouched."""
        keep = self.keep()
        if self.kept_values is None:
            return base.masked_fill(~keep, 0.0)
        out = torch.zeros_like(base)
        out[keep] = self.kept_values
        return out


@dataclass(frozen=True)
class PruneDelta:
    """Per changed parameter, its ParamDelta; for whole-unit pruning also the plan (as a dict)."""

    params: dict[str, ParamDelta]
    plan: dict | None = None
    digest: str = ""  # of the contents: a key for results computed from this pruned model

    def __post_init__(self):
        if not self.digest:
            object.__setattr__(self, "digest", self._digest())

    def _digest(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(json.dumps(self.plan, sort_keys=True).encode())
        for name in sorted(self.params):
            d = self.params[name]
            h.update(f"{name}{d.shape}".encode())
            h.update(d.packed)
            if d.kept_values is not None:
                h.update(d.kept_values.contiguous().view(torch.uint8).numpy())
        return h.hexdigest()

    @classmethod
    @torch.no_grad()
    def between(cls, base: nn.Module, pruned: nn.Module, plan: dict | None = None) -> "PruneDelta":
        """The delta that turns `base` into `pruned`, checked to rebuild it value-exactly.

        For whole-unit pruning (`plan`: StructuralPlan.to_dict()) the copy has smaller matrices;
        the delta keeps the plan, and the unit masks in the base's layout for `weight`.
        """
        if plan is not None:
            masks = unit_masks(base, StructuralPlan.from_dict(plan))
            return cls({n: ParamDelta(tuple(m.shape), np.packbits(m.reshape(-1).numpy()), None)
                        for n, m in masks.items()}, plan)
        base_params = dict(base.named_parameters())
        out = {}
        for name, p in pruned.named_parameters():
            if p is base_params[name]:  # the base's own parameter, shared by the copy: left alone (no compare)
                continue
            changed = p != base_params[name]
            if not changed.any():
                continue
            keep = p != 0
            # Masks alone rebuild it when every changed weight became zero; else keep the kept values.
            values = p[keep].clone() if (changed & keep).any() else None
            out[name] = ParamDelta(tuple(p.shape), np.packbits(keep.reshape(-1).numpy()), values)
        return cls(out)

    def weight(self, base: nn.Module, name: str) -> torch.Tensor:
        """One parameter as pruned (the base's own tensor if pruning left it unchanged)."""
        b = dict(base.named_parameters())[name]
        d = self.params.get(name)
        return b.detach() if d is None else d.apply(b.detach())

    @torch.no_grad()
    def build(self, base: nn.Module) -> nn.Module:
        """A pruned copy of `base` (whole units physically removed when there is a plan)."""
        if self.plan is not None:
            return shrink(base, StructuralPlan.from_dict(self.plan))
        pruned = copy.deepcopy(base)
        params = dict(pruned.named_parameters())
        for name, d in self.params.items():
            params[name].copy_(d.apply(params[name]))
        return pruned
