"""The cheap half of a pruning run: counts and sizes from the weights and masks alone.

A slider move must show its counts (sparsity, nonzeros, per-layer bars) and sizes in every format
at once; quality and latency need a pruned copy and an evaluation and come later (`run.run`).
For the data-free methods (random, magnitude; per-layer and global allocation; structural
magnitude) the counts follow from per-model facts computed once (zeros per layer and per row and
column, a sorted index of |w|), so no pruned copy and usually no full mask is built. Everything
else (calibration and training methods) computes its masks and counts them. Either way the
figures are bit-identical to those `run.run` measures on the pruned copy (tests/test_summary.py).
"""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
from torch import nn

from .config import PruneConfig
from .masks import LayerStats, MaskSet, layer_stats
from .metrics import FP32, SizeReport, sparse_layer_bytes
from .methods import get_method
from .methods.base import ScoreMethod, select
from .patterns import parse_pattern
from .targets import Target, as_out_in, find_targets, from_out_in, tied_head_note

Progress = Callable[[float, str], None]
SMOLLM_NOTE = "SmolLM2 weights were dequantized from a 4-bit GGUF file, so their histograms are lumpy."


# --------------------------------------------------------------------------- per-model facts
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


def _as_float(bits: int) -> float:
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
        from .structural import unit_scores

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


def warm(loaded, seed: int = 0) -> None:
    """Everything the default slider moves count on, built once per model (seconds for SmolLM2):
    facts, the |w| index, random ranks for `seed`, structural magnitude scores."""
    from .structural import _layout

    warm_index(loaded.model)
    facts = model_facts(loaded.model)
    method = get_method("random")
    config = PruneConfig(method="random", sparsity=0.5, seed=seed)
    for name, t in facts.targets.items():
        if t.kind != "head" and facts.layers[name].zeros:
            facts.random_ranks(seed, name, _score_of(method, config, facts, t))
    for unit in ("neuron", "head"):
        try:
            _layout(loaded.model, unit)
        except Exception:  # an architecture structural pruning does not know: nothing to warm
            continue
        facts.unit_scores(loaded.model, unit)


# --------------------------------------------------------------------------- the summary
@dataclass
class MaskSummary:
    """The figures of a pruning run that need no pruned copy and no evaluation.

    Field names match `PruneResult`'s; `run.run` reports the same values (tests check bit-exactly).
    """

    sparsity_target: float
    sparsity_actual: float
    sparsity_model: float
    params_total: int
    params_nonzero: int
    params_in_scope: int
    size_dense: SizeReport  # without the compressed file: that one needs zstd (slow phase)
    size_pruned: SizeReport
    layers: list[LayerStats]
    notes: list[str]
    seconds: float
    how: str  # "counted" (no masks built) or "masks" (masks computed, then counted)
    structure: dict | None = None
    keep_of: Callable[[str], torch.Tensor] | None = field(default=None, repr=False)  # one layer's keep-mask
    mask_set: MaskSet | None = field(default=None, repr=False)  # the masks, where they were computed
    targets: list[Target] = field(default_factory=list, repr=False)

    def to_mask_set(self) -> MaskSet:
        """All the masks, as `run.prune_masks` returns them (bit-identical), for the measuring phase:
        a global |w| threshold from the sorted index is much faster than a fresh selection."""
        if self.mask_set is not None:
            return self.mask_set
        from .structural import StructuralPlan

        masks = {t.name: self.keep_of(t.name) for t in self.targets}
        thresholds = {l.name: l.threshold for l in self.layers if l.threshold is not None}
        plan = StructuralPlan.from_dict(self.structure) if self.structure is not None else None
        notes = [n for n in self.notes if n.startswith("removed ")] if plan is not None else []
        return MaskSet(self.targets, masks, thresholds=thresholds, seconds=self.seconds, notes=notes, plan=plan)

    def weight_pair(self, model: nn.Module, target: LayerStats) -> tuple[torch.Tensor, torch.Tensor]:
        """(dense weight, pruned weight) of one layer, from its keep-mask: for the histogram."""
        dense = dict(model.named_parameters())[target.name].detach()
        new = self.mask_set.new_weights.get(target.name, dense) if self.mask_set is not None else dense
        return dense, new * self.keep_of(target.name).to(dense.dtype)


def _sizes(facts: ModelFacts, nnz: dict[str, int], shapes: dict[str, tuple[int, int]], total: int,
           holds: Callable[[], bool]) -> SizeReport:
    """`metrics.size_report` from counts: `nnz` and `shapes` ((out, in)) of the size targets."""
    other = (total - sum(o * i for o, i in shapes.values())) * FP32
    csr = bitmask = nm = other
    for name, (out_f, in_f) in shapes.items():
        layer_csr, layer_bitmask, layer_nm = sparse_layer_bytes(out_f, out_f * in_f, nnz[name])
        csr += layer_csr
        bitmask += layer_bitmask
        nm += layer_nm
    params_nonzero = sum(facts.nonzero.values()) + sum(nnz[n] - facts.nonzero[n] for n in nnz)
    return SizeReport(total, params_nonzero, total * FP32, csr, bitmask, nm if holds() else None, None)


def dense_sizes(facts: ModelFacts) -> SizeReport:
    """The dense model's sizes (no file size), over the default scope as `run.dense_baseline` reports them."""
    names = [n for n, t in facts.targets.items() if t.kind != "head"]
    shapes = {n: (facts.targets[n].out_features, facts.targets[n].in_features) for n in names}
    return _sizes(facts, {n: facts.nonzero[n] for n in names}, shapes, facts.total,
                  lambda: all(facts.layers[n].holds_2_4 for n in names))


def _holds_2_4(keep: torch.Tensor, weight: torch.Tensor, target: Target) -> bool:
    """<= 2 nonzeros in every group of 4 inputs of the pruned weight."""
    if target.in_features % 4:
        return False
    nz = as_out_in((weight != 0) & keep, target)
    return bool((nz.reshape(target.out_features, -1, 4).sum(-1) <= 2).all())


class _Counter:
    """Per-layer counts of a masked (not structural) run, masks built only where a count needs one."""

    def __init__(self, config: PruneConfig, facts: ModelFacts, keep_of: Callable[[str], torch.Tensor],
                 removed: dict[str, int], nnz: dict[str, int | None], cuts: dict[str, float | None],
                 nm_by_construction: bool = False):
        self.nm_by_construction = nm_by_construction  # `patterns.nm_mask` made the masks: 2:4 holds
        self.config, self.facts = config, facts
        self.keep_of, self.removed, self.cuts = keep_of, removed, cuts
        self.nnz = {n: (v if v is not None else self._count(n)) for n, v in nnz.items()}

    def _count(self, name: str) -> int:
        keep = self.keep_of(name)
        return int(((self._weight(name) != 0) & keep).sum())

    def _weight(self, name: str) -> torch.Tensor:
        return self.facts.params[name].detach()

    def holds_2_4(self, size_names: list[str]) -> bool:
        """2:4 over every size target; decided from counts where it can be, else smallest layer first."""
        facts, in_scope = self.facts, set(self.nnz)
        if any(not facts.layers[n].holds_2_4 for n in size_names if n not in in_scope):
            return False
        pattern = parse_pattern(self.config.pattern)
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
            if not _holds_2_4(self.keep_of(n), self._weight(n), facts.targets[n]):
                return False
        return True


def _score_of(method: ScoreMethod, config: PruneConfig, facts: ModelFacts, t: Target) -> Callable[[], torch.Tensor]:
    return lambda: method.score(as_out_in(facts.params[t.name].detach(), t), t, config, 0, None)


def _score_keep(loaded, config: PruneConfig, method: ScoreMethod, facts: ModelFacts) -> Callable[[str], torch.Tensor]:
    """Per-layer allocation: one layer's keep-mask, exactly as `ScoreMethod.prune` makes it."""
    cache: dict[str, torch.Tensor] = {}  # the last few layers asked for (histogram, 2:4 check), not all

    def keep_of(name: str) -> torch.Tensor:
        if name not in cache:
            t = facts.targets[name]
            w = as_out_in(facts.params[name].detach(), t)
            with torch.no_grad():
                keeps, _ = select([method.score(w, t, config, 0, None)], [t], config)
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
    return removed, _as_float(t_bits), tied_out


def _global_keep(facts: ModelFacts, threshold: float, tied_out: dict[str, int]) -> Callable[[str], torch.Tensor]:
    def keep_of(name: str) -> torch.Tensor:
        t = facts.targets[name]
        f = as_out_in(facts.params[name].detach(), t).abs().float()
        keep = (f >= threshold).contiguous()
        ties = torch.nonzero((f == threshold).reshape(-1)).squeeze(1)[:tied_out.get(name, 0)]
        keep.view(-1)[ties] = False
        return from_out_in(keep, t)
    return keep_of


def _countable(method, config: PruneConfig) -> bool:
    """Data-free scores, per layer; across layers only |w| (one threshold from the sorted index). OWL needs
    calibration data for its allocation, so its masks are computed."""
    info = method.info
    return (isinstance(method, ScoreMethod) and not info.needs_calibration and not info.prunes_during_training
            and (config.allocation == "layer" or config.allocation == "global" and info.magnitude_threshold))


def _masked_counter(loaded, config: PruneConfig, facts: ModelFacts, targets: list[Target]) -> tuple[_Counter, str]:
    """Counts for random/magnitude without full masks (fast path)."""
    method = get_method(config.method)
    pattern = parse_pattern(config.pattern)
    magnitude = method.info.magnitude_threshold
    if config.allocation == "global":
        removed, threshold, tied = _global_magnitude(config, facts, targets)
        keep_of = _global_keep(facts, threshold, tied) if threshold is not None else \
            (lambda n: torch.ones_like(facts.params[n], dtype=torch.bool))
        cuts = {t.name: threshold for t in targets}
    else:
        keep_of = _score_keep(loaded, config, method, facts)
        if pattern.is_nm:
            removed = {t.name: t.numel // pattern.m * (pattern.m - pattern.n) for t in targets}
        else:
            removed = {t.name: round(config.sparsity * t.numel) for t in targets}
        cuts = {t.name: (_as_float(facts.sorted_abs(t.name).kth(removed[t.name]))
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
            less, le = facts.random_ranks(config.seed, t.name, _score_of(method, config, facts, t))
            if ((less < k) & (k < le)).any():  # a tie at the cut: only the mask can say
                nnz[t.name] = None
            else:
                nnz[t.name] = t.numel - k - int((less >= k).sum())
        else:
            nnz[t.name] = None  # count on the layer's mask
    if not magnitude:
        cuts = {t.name: None for t in targets}
    return _Counter(config, facts, keep_of, removed, nnz, cuts, pattern.is_nm), "counted"


def _counter_from_masks(loaded, config: PruneConfig, facts: ModelFacts, mask_set: MaskSet) -> _Counter:
    params = facts.params
    removed = {t.name: int((~mask_set.masks[t.name]).sum()) for t in mask_set.targets}
    nnz = {s.name: s.nonzero for s in layer_stats(loaded.model, mask_set)}
    counter = _Counter(config, facts, mask_set.masks.__getitem__, removed, nnz,
                       {t.name: mask_set.thresholds.get(t.name) for t in mask_set.targets})
    counter._weight = lambda name: mask_set.new_weights.get(name, params[name].detach())  # SparseGPT's updates
    return counter


def summarize(loaded, config: PruneConfig, progress: Progress = lambda f, m: None,
              mask_set: MaskSet | None = None) -> MaskSummary:
    """Counts and sizes of `config` on `loaded` without a pruned copy or an evaluation.

    Data-free methods are counted from per-model facts; other methods compute their masks first
    (with `progress`), and the summary keeps them (`mask_set`) for the measuring phase.
    """
    from .run import prune_masks  # run imports this module

    start = time.perf_counter()
    config = config.validated()
    pattern = parse_pattern(config.pattern)
    facts = model_facts(loaded.model)
    notes: list[str] = []
    if pattern.structural:
        return _structural_summary(loaded, config, facts, start, progress, mask_set)
    targets = find_targets(loaded.model, config.scope, config.include_head)
    method = get_method(config.method)
    if mask_set is None and _countable(method, config):
        counter, how = _masked_counter(loaded, config, facts, targets)
    else:
        if mask_set is None:
            mask_set = prune_masks(loaded, config, progress)
        counter, how = _counter_from_masks(loaded, config, facts, mask_set), "masks"
        notes.extend(mask_set.notes)
    notes = [n for n in [tied_head_note(loaded.model, targets)] if n] + notes
    if loaded.key == "smollm2-135m":
        notes.append(SMOLLM_NOTE)
    size_names = [n for n, t in facts.targets.items() if config.include_head or t.kind != "head"]
    nnz = {n: counter.nnz.get(n, facts.nonzero[n]) for n in size_names}
    shapes = {n: (facts.targets[n].out_features, facts.targets[n].in_features) for n in size_names}
    size = _sizes(facts, nnz, shapes, facts.total, lambda: counter.holds_2_4(size_names))
    layers = [LayerStats(t.name, t.module, t.kind, t.block, t.out_features, t.in_features, t.numel,
                         counter.nnz[t.name], 1.0 - counter.nnz[t.name] / t.numel, counter.cuts.get(t.name))
              for t in targets]
    in_scope = sum(t.numel for t in targets)
    return MaskSummary(
        sparsity_target=pattern.fixed_sparsity if pattern.is_nm else config.sparsity,
        sparsity_actual=sum(counter.removed.values()) / in_scope,
        sparsity_model=1.0 - size.params_nonzero / size.params_total,
        params_total=size.params_total, params_nonzero=size.params_nonzero, params_in_scope=in_scope,
        size_dense=dense_sizes(facts), size_pruned=size, layers=layers, notes=notes,
        seconds=time.perf_counter() - start, how=how, keep_of=counter.keep_of, mask_set=mask_set, targets=targets)


def _structural_summary(loaded, config: PruneConfig, facts: ModelFacts, start: float, progress: Progress,
                        mask_set: MaskSet | None) -> MaskSummary:
    """Whole units: the sizes of the physically smaller model, from the plan and per-row/column counts."""
    from .structural import IMPORTANCE, KEEP_RULES, StructuralPlan, _check_plan, _layout, _unit_rows

    unit = parse_pattern(config.pattern).unit
    layout = _layout(loaded.model, unit)
    if mask_set is None and IMPORTANCE[config.method].needs_calibration:
        from .run import prune_masks

        progress(0.1, f"scoring {unit}s on calibration data")
        mask_set = prune_masks(loaded, config, progress)
    if mask_set is not None:
        plan = mask_set.plan
    else:
        scores = facts.unit_scores(loaded.model, unit)
        kept = KEEP_RULES[config.allocation](scores, config.sparsity, layout)
        plan = StructuralPlan(unit, config.method, config.allocation, config.sparsity, layout.arch_key,
                              layout.units, kept, [s.tolist() for s in scores], layout.queries_per_unit)
    keeps = _check_plan(layout, plan)
    removed_total = removed_nnz = 0
    shapes: dict[str, tuple[int, int]] = {}
    nnz: dict[str, int] = {}
    rows_kept: dict[str, tuple[str, torch.Tensor]] = {}  # name -> (role, kept feature indices)
    for slots, keep in zip(layout.blocks, keeps):
        for slot in slots:
            t, lf = slot.target, facts.layers[slot.target.name]
            idx = _unit_rows(keep, slot)
            rows_kept[t.name] = (slot.part.role, idx)
            if slot.part.role == "in":
                shapes[t.name] = (idx.numel(), t.in_features)
                nnz[t.name] = int(lf.row_nnz[idx.numpy()].sum())
                bias = slot.module.bias
                if bias is not None:
                    kept_bias = bias.detach()[idx]
                    removed_total += bias.numel() - idx.numel()
                    removed_nnz += int((bias != 0).sum()) - int((kept_bias != 0).sum())
            else:
                shapes[t.name] = (t.out_features, idx.numel())
                nnz[t.name] = int(lf.col_nnz[idx.numpy()].sum())
            removed_total += t.numel - shapes[t.name][0] * shapes[t.name][1]
    size_names = [n for n, t in facts.targets.items() if t.kind != "head"]
    all_nnz = {n: nnz.get(n, facts.nonzero[n]) for n in size_names}
    all_shapes = {n: shapes.get(n, (facts.targets[n].out_features, facts.targets[n].in_features)) for n in size_names}
    total = facts.total - removed_total

    def holds() -> bool:
        if any(not facts.layers[n].holds_2_4 for n in size_names if n not in shapes):
            return False
        from .metrics import size_report  # rare (a dense model that already holds 2:4): measure the copy
        from .structural import shrink

        small = shrink(loaded.model, plan)
        return size_report(small, find_targets(small, "all"), None, False).nm_2_4 is not None

    size = _sizes(facts, all_nnz, all_shapes, total, holds)
    size = replace(size, params_nonzero=size.params_nonzero - removed_nnz)  # removed bias entries
    targets = [t for t in find_targets(loaded.model, "all") if t.name in shapes]
    layers = [LayerStats(t.name, t.module, t.kind, t.block, t.out_features, t.in_features, t.numel, nnz[t.name],
                         1.0 - nnz[t.name] / t.numel, None) for t in targets]
    in_scope = sum(t.numel for t in targets)
    removed_w = sum(t.numel - shapes[t.name][0] * shapes[t.name][1] for t in targets)

    def keep_of(name: str) -> torch.Tensor:
        t = facts.targets[name]
        role, idx = rows_kept[name]
        keep = torch.zeros(t.out_features, t.in_features, dtype=torch.bool)
        if role == "in":
            keep[idx, :] = True
        else:
            keep[:, idx] = True
        return from_out_in(keep, t)

    note = f"removed {plan.removed} of {sum(plan.units)} {unit}s ({plan.removed / sum(plan.units):.1%})"
    notes = [note]
    if loaded.key == "smollm2-135m":
        notes.append(SMOLLM_NOTE)
    return MaskSummary(
        sparsity_target=config.sparsity, sparsity_actual=removed_w / in_scope,
        sparsity_model=1.0 - size.params_nonzero / size.params_total, params_total=size.params_total,
        params_nonzero=size.params_nonzero, params_in_scope=in_scope, size_dense=dense_sizes(facts),
        size_pruned=size, layers=layers, notes=notes, seconds=time.perf_counter() - start,
        how="masks" if mask_set is not None else "counted", structure=plan.to_dict(), keep_of=keep_of,
        mask_set=mask_set, targets=targets)
