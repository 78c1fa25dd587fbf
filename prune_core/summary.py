"""The cheap half of a pruning run: counts and sizes from the weights and masks alone.

A slider move must show its counts (sparsity, nonzeros, per-layer bars) and sizes in every format
at once; quality and latency need a pruned copy and an evaluation and come later (`run.run`).
For the data-free methods (random, magnitude; per-layer and global allocation; structural
magnitude) the counts follow from per-model facts computed once (zeros per layer and per row and
column, a sorted index of |w|), so no pruned copy and usually no full mask is built. Everything
else (calibration and training methods) computes its masks and counts them. Either way the
figures are bit-identical to those `run.run` measures on the pruned copy (tests/test_summary.py).

Above `run` (it calls `run.prune_masks` for methods whose masks must be computed); `run` takes the
`MaskSummary` made here (defined in `masksummary`). Per-model facts: `facts`; masked counts: `counts`.
"""
from __future__ import annotations

import time
from dataclasses import replace

import torch

from .config import PruneConfig
from .counts import countable, counts_from_masks, masked_counts, score_of
from .facts import ModelFacts, model_facts, warm_index
from .masks import LayerStats, MaskSet
from .masksummary import MaskSummary, dense_sizes, sizes
from .methods import get_method
from .patterns import parse_pattern
from .progress import Progress, no_progress
from .run import prune_masks
from .sizes import size_report
from .structural import IMPORTANCE, feature_indices, kept_indices, plan_from_scores, shrink, unit_layout
from .targets import find_targets, from_out_in, tied_head_note


def warm(loaded, seed: int = 0) -> None:
    """Everything the default slider moves count on, built once per model (seconds for SmolLM2):
    facts, the |w| index, random ranks for `seed`, structural magnitude scores."""
    warm_index(loaded.model)
    facts = model_facts(loaded.model)
    method = get_method("random")
    config = PruneConfig(method="random", sparsity=0.5, seed=seed)
    for name, t in facts.targets.items():
        if t.kind != "head" and facts.layers[name].zeros:
            facts.random_ranks(seed, name, score_of(method, config, facts, t))
    for unit in ("neuron", "head"):
        try:
            unit_layout(loaded.model, unit)
        except Exception:  # an architecture structural pruning does not know: nothing to warm
            continue
        facts.unit_scores(loaded.model, unit)


def summarize(loaded, config: PruneConfig, progress: Progress = no_progress,
              mask_set: MaskSet | None = None) -> MaskSummary:
    """Counts and sizes of `config` on `loaded` without a pruned copy or an evaluation.

    Data-free methods are counted from per-model facts; other methods compute their masks first
    (with `progress`), and the summary keeps them (`mask_set`) for the measuring phase.
    """
    start = time.perf_counter()
    config = config.validated()
    pattern = parse_pattern(config.pattern)
    facts = model_facts(loaded.model)
    notes: list[str] = []
    if pattern.structural:
        return _structural_summary(loaded, config, facts, start, progress, mask_set)
    targets = find_targets(loaded.model, config.scope, config.include_head)
    method = get_method(config.method)
    if mask_set is None and countable(method, config):
        counter, how = masked_counts(config, facts, targets), "counted"
    else:
        if mask_set is None:
            mask_set = prune_masks(loaded, config, progress)
        counter, how = counts_from_masks(loaded.model, config, facts, mask_set), "masks"
        notes.extend(mask_set.notes)
    notes = [n for n in [tied_head_note(loaded.model, targets)] if n] + notes
    if loaded.card.caveat:
        notes.append(loaded.card.caveat)
    size_names = [n for n, t in facts.targets.items() if config.include_head or t.kind != "head"]
    nnz = {n: counter.nnz.get(n, facts.nonzero[n]) for n in size_names}
    shapes = {n: (facts.targets[n].out_features, facts.targets[n].in_features) for n in size_names}
    size = sizes(facts, nnz, shapes, facts.total, lambda: counter.holds_2_4(size_names))
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
    unit = parse_pattern(config.pattern).unit
    layout = unit_layout(loaded.model, unit)
    if mask_set is None and IMPORTANCE[config.method].needs_calibration:
        progress(0.1, f"scoring {unit}s on calibration data")
        mask_set = prune_masks(loaded, config, progress)
    if mask_set is not None:
        plan = mask_set.plan
    else:
        scores = facts.unit_scores(loaded.model, unit)
        plan = plan_from_scores(layout, scores, config.method, config.allocation, config.sparsity)
    keeps = kept_indices(layout, plan)
    removed_total = removed_nnz = 0
    shapes: dict[str, tuple[int, int]] = {}
    nnz: dict[str, int] = {}
    rows_kept: dict[str, tuple[str, torch.Tensor]] = {}  # name -> (role, kept feature indices)
    for slots, keep in zip(layout.blocks, keeps):
        for slot in slots:
            t, lf = slot.target, facts.layers[slot.target.name]
            idx = feature_indices(keep, slot)
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
        small = shrink(loaded.model, plan)  # rare (a dense model that already holds 2:4): measure the copy
        return size_report(small, find_targets(small, "all"), None, False).nm_2_4 is not None

    size = sizes(facts, all_nnz, all_shapes, total, holds)
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
    if loaded.card.caveat:
        notes.append(loaded.card.caveat)
    return MaskSummary(
        sparsity_target=config.sparsity, sparsity_actual=removed_w / in_scope,
        sparsity_model=1.0 - size.params_nonzero / size.params_total, params_total=size.params_total,
        params_nonzero=size.params_nonzero, params_in_scope=in_scope, size_dense=dense_sizes(facts),
        size_pruned=size, layers=layers, notes=notes, seconds=time.perf_counter() - start,
        how="masks" if mask_set is not None else "counted", structure=plan.to_dict(), keep_of=keep_of,
        mask_set=mask_set, targets=targets)
