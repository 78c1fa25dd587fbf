"""Per-layer counts of a masked (not structural) setting, with masks built only where a count needs one.

Random and magnitude pruning (per layer, or global by |w|) are counted from the per-model `facts`:
how many weights go and how many nonzeros stay follow from the zeros, the sorted |w| index and the
random ranks. Other methods' masks are computed first (`counts_from_masks`). Either way the numbers
equal those of the pruned copy, bit for bit. The setting comes resolved (`config.ResolvedConfig`): its
pattern and method are read, never parsed or looked up again.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from .config import PruneConfig, ResolvedConfig
from .facts import ModelFacts, as_float
from .masks import MaskSet, layer_stats
from .methods.base import ScoreMethod, select
from .patterns import Pattern
from .targets import Target, as_out_in, from_out_in


def _holds_2_4(keep: torch.Tensor, weight: torch.Tensor, target: Target) -> bool:
    """<= 2 nonzeros in every group of 4 inputs of the pruned weight."""
    if target.in_features % 4:
        return False
    nz = as_out_in((weight != 0) & keep, target)
    return bool((nz.reshape(target.out_features, -1, 4).sum(-1) <= 2).all())


class LayerCounts:
    """Per-layer counts of a masked (not structural) run; a layer's mask is built only where its count
    (an `nnz` of None) or the 2:4 check needs it."""

    def __init__(self, pattern: Pattern, facts: ModelFacts, keep_of: Callable[[str], torch.Tensor],
                 removed: dict[str, int], nnz: dict[str, int | None], cuts: dict[str, float | None],
                 nm_by_construction: bool = False, weight_of: Callable[[str], torch.Tensor] | None = None):
        self.nm_by_construction = nm_by_construction  # `patterns.nm_mask` made the masks: 2:4 holds
        self.pattern, self.facts = pattern, facts
        self.keep_of, self.removed, self.cuts = keep_of, removed, cuts
        # the weights the masks apply to: the base's, or a method's updated ones (SparseGPT)
        self.weight_of = weight_of or (lambda name: facts.params[name].detach())
        self.nnz = {n: (v if v is not None else self._count(n)) for n, v in nnz.items()}

    def _count(self, name: str) -> int:
        keep = self.keep_of(name)
        return int(((self.weight_of(name) != 0) & keep).sum())

    def holds_2_4(self, size_names: list[str]) -> bool:
        """2:4 over every size target; decided from counts where it can be, else smallest layer first."""
        facts, in_scope = self.facts, set(self.nnz)
        if any(not facts.layers[n].holds_2_4 for n in size_names if n not in in_scope):
            return False
        pattern = self.pattern
        pending = []
        for n in size_names:
            if n not in in_scope:
                continue
            t = facts.targets[n]
            if t.in_features % 4 or self.nnz[n] * 2 > t.numel:
                return False
            if not (self.nm_by_construction and (pattern.n, pattern.m) == (2, 4)):
                pending.append(n)
        for n in sorted(pending, key=lambda n: facts.targets[n].numel):
            if not _holds_2_4(self.keep_of(n), self.weight_of(n), facts.targets[n]):
                return False
        return True


def score_of(method: ScoreMethod, config: PruneConfig, facts: ModelFacts, t: Target) -> Callable[[], torch.Tensor]:
    """One layer's scores, computed when called (random ranks are made once per seed and layer)."""
    return lambda: method.score(as_out_in(facts.params[t.name].detach(), t), t, config, 0, None)


def _score_keep(resolved: ResolvedConfig, facts: ModelFacts) -> Callable[[str], torch.Tensor]:
    """Per-layer allocation: one layer's keep-mask, exactly as `ScoreMethod.prune` makes it."""
    config, method = resolved.config, resolved.method
    cache: dict[str, torch.Tensor] = {}  # the last few layers asked for (histogram, 2:4 check), not all

    def keep_of(name: str) -> torch.Tensor:
        if name not in cache:
            t = facts.targets[name]
            w = as_out_in(facts.params[name].detach(), t)
            with torch.no_grad():
                keeps, _ = select([method.score(w, t, config, 0, None)], [t], config, pattern=resolved.pattern)
            while len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[name] = from_out_in(keeps[0], t)
        return cache[name]
    return keep_of


def _global_magnitude(config: PruneConfig, facts: ModelFacts, targets: list[Target]):
    """One |w| threshold over all targets, exact, from the sorted index (`patterns.global_lowest_k`)."""
    index = [facts.sorted_abs(t.name) for t in targets]
    k = round(config.sparsity * sum(t.numel for t in targets))
    if k <= 0:
        return {t.name: 0 for t in targets}, None, {}
    hi = np.concatenate([s.hi for s in index])
    counts = np.concatenate([s.ends - s.starts for s in index])
    per_hi = np.bincount(hi, weights=counts).astype(np.int64)
    cum = np.cumsum(per_hi)
    b = int(np.searchsorted(cum, k))  # first high-bits bucket reaching k
    rank = k - (int(cum[b - 1]) if b else 0)
    lows = np.bincount(np.concatenate([s.bucket(b) for s in index]), minlength=65536)
    t_bits = (b << 16) | int(np.searchsorted(np.cumsum(lows), rank))
    below = [s.below(t_bits) for s in index]
    ties = [s.below(t_bits + 1) - bl for s, bl in zip(index, below)]
    short = k - sum(below)
    removed, tied_out = {}, {}
    for t, bl, tie in zip(targets, below, ties):
        take = min(tie, max(short, 0))
        short -= take
        removed[t.name], tied_out[t.name] = bl + take, take
    return removed, as_float(t_bits), tied_out


def _global_keep(facts: ModelFacts, threshold: float, tied_out: dict[str, int]) -> Callable[[str], torch.Tensor]:
    """One layer's keep-mask under the global threshold; ties at it go in layer order, as `tied_out` says."""
    def keep_of(name: str) -> torch.Tensor:
        t = facts.targets[name]
        f = as_out_in(facts.params[name].detach(), t).abs().float()
        keep = (f >= threshold).contiguous()
        ties = torch.nonzero((f == threshold).reshape(-1)).squeeze(1)[:tied_out.get(name, 0)]
        keep.view(-1)[ties] = False
        return from_out_in(keep, t)
    return keep_of


def countable(method, config: PruneConfig) -> bool:
    """Data-free scores, per layer; across layers only |w| (one threshold from the sorted index). OWL needs
    calibration data for its allocation, so its masks are computed."""
    info = method.info
    return (isinstance(method, ScoreMethod) and not info.needs_calibration and not info.prunes_during_training
            and (config.allocation == "layer" or config.allocation == "global" and info.magnitude_threshold))


def masked_counts(resolved: ResolvedConfig, facts: ModelFacts, targets: list[Target]) -> LayerCounts:
    """Counts for random/magnitude without full masks (fast path; `countable` says when it applies)."""
    config, method, pattern = resolved.config, resolved.method, resolved.pattern
    magnitude = method.info.magnitude_threshold
    if config.allocation == "global":
        removed, threshold, tied = _global_magnitude(config, facts, targets)
        keep_of = _global_keep(facts, threshold, tied) if threshold is not None else \
            (lambda n: torch.ones_like(facts.params[n], dtype=torch.bool))
        cuts = {t.name: threshold for t in targets}
    else:
        keep_of = _score_keep(resolved, facts)
        if pattern.is_nm:
            removed = {t.name: t.numel // pattern.m * (pattern.m - pattern.n) for t in targets}
        else:
            removed = {t.name: round(config.sparsity * t.numel) for t in targets}
        cuts = {t.name: (as_float(facts.sorted_abs(t.name).kth(removed[t.name]))
                         if magnitude and not pattern.is_nm and removed[t.name] > 0 else None) for t in targets}
    nnz: dict[str, int | None] = {}
    for t in targets:
        zeros = facts.layers[t.name].zeros
        k = removed[t.name]
        if zeros == 0:
            nnz[t.name] = t.numel - k
        elif magnitude and not pattern.is_nm:  # zeros are the smallest |w|: they go first
            nnz[t.name] = t.numel - max(k, zeros)
        elif magnitude and pattern.m in facts.layers[t.name].zeros_per_group:  # first in every group, too
            groups = facts.layers[t.name].zeros_per_group[pattern.m]
            gone = np.maximum(pattern.m - pattern.n, np.arange(pattern.m + 1))
            nnz[t.name] = t.numel - int((groups * gone).sum())
        elif not magnitude and not pattern.is_nm:  # random: which zeros fall among the k lowest scores
            less, le = facts.random_ranks(config.seed, t.name, score_of(method, config, facts, t))
            if ((less < k) & (k < le)).any():  # a tie at the cut: only the mask can say
                nnz[t.name] = None
            else:
                nnz[t.name] = t.numel - k - int((less >= k).sum())
        else:
            nnz[t.name] = None  # count on the layer's mask
    if not magnitude:
        cuts = {t.name: None for t in targets}
    return LayerCounts(pattern, facts, keep_of, removed, nnz, cuts, pattern.is_nm)


def counts_from_masks(model: nn.Module, resolved: ResolvedConfig, facts: ModelFacts, mask_set: MaskSet) -> LayerCounts:
    """Counts of masks already computed (calibration and training methods, or masks handed in)."""
    params = facts.params
    removed = {t.name: int((~mask_set.masks[t.name]).sum()) for t in mask_set.targets}
    nnz = {s.name: s.nonzero for s in layer_stats(model, mask_set)}
    return LayerCounts(resolved.pattern, facts, mask_set.masks.__getitem__, removed, nnz,
                       {t.name: mask_set.thresholds.get(t.name) for t in mask_set.targets},
                       weight_of=lambda name: mask_set.new_weights.get(name, params[name].detach()))
