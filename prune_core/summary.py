"""The cheap half of a pruning run: counts and sizes from the weights and masks alone.

A slider move must show its counts (sparsity, nonzeros, per-layer bars) and sizes in every format
at once; quality and latency need a pruned copy and an evaluation and come later (`run.run`).
For the data-free methods (random, magnitude; per-layer and global allocation; structural
magnitude) the counts follow from per-model facts computed once (zeros per layer and per row and
column, a sorted index of |w|), so no pruned copy and usually no full mask is built. Everything
else (calibration and training methods) computes its masks and counts them. Either way the
figures are bit-identical to those of the pruned copy (tests/test_summary.py).

Between `pruning` (the masks of methods whose masks must be computed) and `run` (which measures the
setting and keeps this `MaskSummary`, defined in `masksummary`, inside its result). Per-model facts:
`facts`; masked counts: `counts`. Every function takes the setting resolved (`config.ResolvedConfig`):
its pattern and method are never parsed or looked up again here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch

from .config import PruneConfig, ResolvedConfig, resolve
from .counts import countable, counts_from_masks, masked_counts, score_of
from .facts import ModelFacts, model_facts, warm_index
from .masks import LayerStats, MaskSet
from .masksummary import MaskSummary, dense_sizes, sizes
from .notes import result_notes
from .progress import Progress, no_progress
from .pruning import prune_masks
from .sizes import size_report
from .structural import Layout, StructuralPlan, feature_indices, kept_indices, plan_from_scores, shrink, unit_layout
from .targets import find_targets, from_out_in


def warm(loaded, seed: int = 0) -> None:
    """Everything the default slider moves count on, built once per model (seconds for SmolLM2):
    facts, the |w| index, random ranks for `seed`, structural magnitude scores."""
    warm_index(loaded.model)
    facts = model_facts(loaded.model)
    random = PruneConfig(method="random", sparsity=0.5, seed=seed).resolved()
    for name, t in facts.targets.items():
        if t.kind != "head" and facts.layers[name].zeros:
            facts.random_ranks(seed, name, score_of(random.method, random.config, facts, t))
    for unit in ("neuron", "head"):
        try:
            unit_layout(loaded.model, unit)
        except Exception:  # an architecture structural pruning does not know: nothing to warm
            continue
        facts.unit_scores(loaded.model, unit)


def summarize(loaded, config: PruneConfig | ResolvedConfig, progress: Progress = no_progress,
              mask_set: MaskSet | None = None) -> MaskSummary:
    """Counts and sizes of `config` on `loaded` without a pruned copy or an evaluation.

    Data-free methods are counted from per-model facts; other methods compute their masks first
    (with `progress`), and the summary keeps them (`mask_set`) for the measuring phase. Given
    `mask_set` (masks already computed for this setting), those are counted.
    """
    start = time.perf_counter()
    resolved = resolve(config)
    facts = model_facts(loaded.model)
    if resolved.pattern.structural:
        return _structural_summary(loaded, resolved, facts, start, progress, mask_set)
    config = resolved.config
    targets = find_targets(loaded.model, config.scope, config.include_head)
    if mask_set is None and countable(resolved.method, config):
        counter, how = masked_counts(resolved, facts, targets), "counted"
    else:
        if mask_set is None:
            mask_set = prune_masks(loaded, resolved, progress)
        counter, how = counts_from_masks(loaded.model, resolved, facts, mask_set), "masks"
    size_names = [n for n, t in facts.targets.items() if config.include_head or t.kind != "head"]
    nnz = {n: counter.nnz.get(n, facts.nonzero[n]) for n in size_names}
    shapes = {n: (facts.targets[n].out_features, facts.targets[n].in_features) for n in size_names}
    size = sizes(facts, nnz, shapes, facts.total, lambda: counter.holds_2_4(size_names))
    layers = [LayerStats(t.name, t.module, t.kind, t.block, t.out_features, t.in_features, t.numel,
                         counter.nnz[t.name], 1.0 - counter.nnz[t.name] / t.numel, counter.cuts.get(t.name))
              for t in targets]
    in_scope = sum(t.numel for t in targets)
    return MaskSummary(
        sparsity_target=resolved.sparsity_target, sparsity_actual=sum(counter.removed.values()) / in_scope,
        sparsity_model=1.0 - size.params_nonzero / size.params_total,
        params_total=size.params_total, params_nonzero=size.params_nonzero, params_in_scope=in_scope,
        size_dense=dense_sizes(facts), size_pruned=size, layers=layers,
        notes=result_notes(loaded, targets, mask_set.notes if mask_set is not None else [], None),
        seconds=time.perf_counter() - start, how=how, keep_of=counter.keep_of, mask_set=mask_set, targets=targets)


@dataclass
class _Kept:
    """What a structural plan keeps of each matrix it touches, counted from per-row/column nonzeros."""

    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # (out, in) after removal
    nnz: dict[str, int] = field(default_factory=dict)
    features: dict[str, tuple[str, torch.Tensor]] = field(default_factory=dict)  # name -> (role, kept indices)
    removed_total: int = 0  # parameters removed (weights and bias entries)
    removed_nnz: int = 0  # nonzero bias entries removed (the weights' are in `nnz`)

    @classmethod
    def count(cls, layout: Layout, plan: StructuralPlan, facts: ModelFacts) -> "_Kept":
        kept = cls()
        for slots, keep in zip(layout.blocks, kept_indices(layout, plan)):
            for slot in slots:
                t, lf = slot.target, facts.layers[slot.target.name]
                idx = feature_indices(keep, slot)
                kept.features[t.name] = (slot.part.role, idx)
                if slot.part.role == "in":
                    kept.shapes[t.name] = (idx.numel(), t.in_features)
                    kept.nnz[t.name] = int(lf.row_nnz[idx.numpy()].sum())
                    kept.drop_bias(slot.module.bias, idx)
                else:
                    kept.shapes[t.name] = (t.out_features, idx.numel())
                    kept.nnz[t.name] = int(lf.col_nnz[idx.numpy()].sum())
                kept.removed_total += t.numel - kept.shapes[t.name][0] * kept.shapes[t.name][1]
        return kept

    def drop_bias(self, bias: torch.Tensor | None, idx: torch.Tensor) -> None:
        if bias is not None:
            self.removed_total += bias.numel() - idx.numel()
            self.removed_nnz += int((bias != 0).sum()) - int((bias.detach()[idx] != 0).sum())

    def keep_of(self, facts: ModelFacts):
        """One matrix's keep-mask: its kept rows (or columns), in the weight's own layout."""
        def keep_of(name: str) -> torch.Tensor:
            t = facts.targets[name]
            role, idx = self.features[name]
            keep = torch.zeros(t.out_features, t.in_features, dtype=torch.bool)
            if role == "in":
                keep[idx, :] = True
            else:
                keep[:, idx] = True
            return from_out_in(keep, t)
        return keep_of


def _unit_plan(loaded, resolved: ResolvedConfig, facts: ModelFacts, progress: Progress,
               mask_set: MaskSet | None) -> tuple[Layout, StructuralPlan, MaskSet | None]:
    """The units to remove: from magnitude scores computed once per model, or from the method's masks
    (calibrated importances score on data)."""
    unit, config = resolved.pattern.unit, resolved.config
    layout = unit_layout(loaded.model, unit)
    if mask_set is None and resolved.method.info.needs_calibration:
        progress(0.1, f"scoring {unit}s on calibration data")
        mask_set = prune_masks(loaded, resolved, progress)
    if mask_set is not None:
        return layout, mask_set.plan, mask_set
    scores = facts.unit_scores(loaded.model, unit)
    return layout, plan_from_scores(layout, scores, config.method, config.allocation, config.sparsity), None


def _structural_summary(loaded, resolved: ResolvedConfig, facts: ModelFacts, start: float, progress: Progress,
                        mask_set: MaskSet | None) -> MaskSummary:
    """Whole units: the sizes of the physically smaller model, from the plan and per-row/column counts."""
    layout, plan, mask_set = _unit_plan(loaded, resolved, facts, progress, mask_set)
    kept = _Kept.count(layout, plan, facts)
    size_names = [n for n, t in facts.targets.items() if t.kind != "head"]
    all_nnz = {n: kept.nnz.get(n, facts.nonzero[n]) for n in size_names}
    all_shapes = {n: kept.shapes.get(n, (facts.targets[n].out_features, facts.targets[n].in_features))
                  for n in size_names}

    def holds() -> bool:
        if any(not facts.layers[n].holds_2_4 for n in size_names if n not in kept.shapes):
            return False
        small = shrink(loaded.model, plan)  # rare (a dense model that already holds 2:4): measure the copy
        return size_report(small, find_targets(small, "all"), None, False).nm_2_4 is not None

    size = sizes(facts, all_nnz, all_shapes, facts.total - kept.removed_total, holds)
    size = replace(size, params_nonzero=size.params_nonzero - kept.removed_nnz)  # removed bias entries
    targets = [t for t in find_targets(loaded.model, "all") if t.name in kept.shapes]
    layers = [LayerStats(t.name, t.module, t.kind, t.block, t.out_features, t.in_features, t.numel, kept.nnz[t.name],
                         1.0 - kept.nnz[t.name] / t.numel, None) for t in targets]
    in_scope = sum(t.numel for t in targets)
    removed = sum(t.numel - kept.shapes[t.name][0] * kept.shapes[t.name][1] for t in targets)
    return MaskSummary(
        sparsity_target=resolved.sparsity_target, sparsity_actual=removed / in_scope,
        sparsity_model=1.0 - size.params_nonzero / size.params_total, params_total=size.params_total,
        params_nonzero=size.params_nonzero, params_in_scope=in_scope, size_dense=dense_sizes(facts),
        size_pruned=size, layers=layers,
        notes=result_notes(loaded, targets, mask_set.notes if mask_set is not None else [], plan),
        seconds=time.perf_counter() - start, how="masks" if mask_set is not None else "counted",
        structure=plan.to_dict(), keep_of=kept.keep_of(facts), mask_set=mask_set, targets=targets)
