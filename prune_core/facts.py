"""Per-model facts the counts of a slider move need, computed once per base model and shared.

Zeros per layer, row and column, zeros per group of M inputs, a sorted index of |w| and the ranks
of random scores: from these `counts` and `summary` answer "how many weights does this setting
remove, and how big is the result" without a pruned copy. The base model is never written to, so
one `ModelFacts` per model object serves every session (a weak reference: it goes with the model).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .structural import unit_scores
from .targets import as_out_in, find_targets


class SortedAbs:
    """|w| of one matrix, sorted, in 2 bytes a weight: exact ranks and order statistics.

    Non-negative float32 values sort like their int32 bit patterns, so the sorted bits are kept as
    their high 16 bits (run-length: distinct values and where each starts) and low 16 bits (uint16).
    """

    def __init__(self, weight: torch.Tensor):
        bits = np.sort(weight.detach().abs().float().reshape(-1).numpy().view(np.int32))
        self.n = bits.size
        self.hi, self.starts = np.unique(bits >> 16, return_index=True)
        self.ends = np.append(self.starts[1:], self.n)
        self.low = (bits & 0xFFFF).astype(np.uint16)

    def below(self, t: int) -> int:
        """How many values have bits < t (t: int32 bits of a non-negative float)."""
        i = int(np.searchsorted(self.hi, t >> 16))
        if i == self.hi.size:
            return self.n
        start = int(self.starts[i])
        if int(self.hi[i]) != t >> 16:
            return start
        return start + int(np.searchsorted(self.low[start:self.ends[i]], t & 0xFFFF, "left"))

    def kth(self, k: int) -> int:
        """Bits of the k-th smallest value (1-based)."""
        i = int(np.searchsorted(self.starts, k - 1, "right")) - 1
        return (int(self.hi[i]) << 16) | int(self.low[k - 1])

    def bucket(self, hi: int) -> np.ndarray:
        """Sorted low bits of the values whose high bits are `hi`."""
        i = int(np.searchsorted(self.hi, hi))
        if i == self.hi.size or int(self.hi[i]) != hi:
            return self.low[:0]
        return self.low[self.starts[i]:self.ends[i]]


def as_float(bits: int) -> float:
    return float(np.array([bits], dtype=np.int32).view(np.float32)[0])


@dataclass
class LayerFacts:
    """What the counts need of one prunable matrix, in its (out, in) view."""

    zeros: int
    zero_at: np.ndarray  # flat (out, in) positions of the zero weights
    zeros_per_group: dict[int, np.ndarray]  # M -> groups of M inputs with 0..M zeros (for N:M counts)
    row_nnz: np.ndarray  # (out,) nonzeros per output row
    col_nnz: np.ndarray  # (in,) nonzeros per input column
    holds_2_4: bool  # the dense matrix already keeps <= 2 of every 4 inputs


class ModelFacts:
    """Computed once per base model (which is never written to) and shared by every session."""

    def __init__(self, model: nn.Module):
        self.params = dict(model.named_parameters())
        self.total = sum(p.numel() for p in self.params.values())
        self.nonzero = {n: int((p != 0).sum()) for n, p in self.params.items()}
        self.targets = {t.name: t for t in find_targets(model, "all", include_head=True)}
        self.layers: dict[str, LayerFacts] = {}
        self._sorted: dict[str, SortedAbs] = {}
        self._unit_scores: dict[str, list[torch.Tensor]] = {}
        self._random: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        self.lock = threading.Lock()
        with torch.no_grad():
            for name, t in self.targets.items():
                nz = as_out_in(self.params[name].detach(), t) != 0
                zero_at = torch.nonzero(~nz.reshape(-1)).squeeze(1).numpy()
                per_group = {m: np.bincount((zero_at // m) if t.in_features % m == 0 else [], minlength=t.numel // m)
                             for m in (4, 8)}
                per_group = {m: np.bincount(c, minlength=m + 1) for m, c in per_group.items() if t.in_features % m == 0}
                self.layers[name] = LayerFacts(
                    t.numel - self.nonzero[name], zero_at, per_group, nz.sum(1).numpy(), nz.sum(0).numpy(),
                    4 in per_group and int(per_group[4][:2].sum()) == 0)  # >= 2 zeros in every group

    def sorted_abs(self, name: str) -> SortedAbs:
        """The sorted |w| index of one matrix, built on first use (about 0.1 s per million weights)."""
        with self.lock:
            if name not in self._sorted:
                self._sorted[name] = SortedAbs(self.params[name])
            return self._sorted[name]

    def random_ranks(self, seed: int, name: str, score: Callable[[], torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        """For the zero weights of one layer: how many random scores lie below theirs (<, <=).

        A zero is removed by random pruning iff its score is among the k lowest; these ranks say so for
        every k at once, so counts need no mask. Made once per (seed, layer) from the layer's scores.
        """
        with self.lock:
            key = (seed, name)
            if key not in self._random:
                x = score().reshape(-1).numpy()
                v = x[self.layers[name].zero_at]
                order = np.argsort(v, kind="stable")
                zs = v[order]
                less = np.cumsum(np.bincount(np.searchsorted(zs, x, "right"), minlength=zs.size + 1))[:zs.size]
                le = np.cumsum(np.bincount(np.searchsorted(zs, x, "left"), minlength=zs.size + 1))[:zs.size]
                self._random[key] = (less, le)
            return self._random[key]

    def unit_scores(self, model: nn.Module, unit: str) -> list[torch.Tensor]:
        """Structural magnitude scores do not depend on the sparsity: computed once per unit kind."""
        with self.lock:
            if unit not in self._unit_scores:
                self._unit_scores[unit] = unit_scores(model, unit, "magnitude")
            return self._unit_scores[unit]


_FACTS: "weakref.WeakKeyDictionary[nn.Module, ModelFacts]" = weakref.WeakKeyDictionary()
_FACTS_LOCK = threading.Lock()


def model_facts(model: nn.Module) -> ModelFacts:
    """The facts of `model`, computed once per model object (thread-safe)."""
    with _FACTS_LOCK:
        facts = _FACTS.get(model)
        if facts is None:
            facts = _FACTS[model] = ModelFacts(model)
        return facts


def warm_index(model: nn.Module, include_head: bool = False) -> None:
    """Build the sorted |w| index of every block matrix ahead of the first global-magnitude move."""
    facts = model_facts(model)
    for name, t in facts.targets.items():
        if include_head or t.kind != "head":
            facts.sorted_abs(name)
