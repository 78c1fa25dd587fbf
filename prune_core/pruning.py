"""Masks and the pruned private copy of one setting: what the cheap phase counts (`summary`) and the
measuring phase times and evaluates (`run`). The base model is never written to.
"""
from __future__ import annotations

import time
from dataclasses import replace
from torch import nn

from .calibration import Calibration, calibration_inputs
from .config import PruneConfig, ResolvedConfig, resolve
from .masks import MaskSet, materialize
from .owl import OwlAllocation, owl_allocation
from .progress import Progress, no_progress
from .structural import shrink
from .targets import find_targets
from .zoo import LoadedModel

def prune_model(loaded: LoadedModel, config: PruneConfig | ResolvedConfig, progress: Progress = no_progress,
                mask_set: MaskSet | None = None, read_only: bool = False) -> tuple[MaskSet, nn.Module]:
    """Masks for `config` (unless already computed: `mask_set`) and a pruned private copy;
    `loaded.model` is not touched. `read_only`: the copy will only be run or saved, never trained, so
    it may share the tensors pruning leaves alone with `loaded.model` (`masks.materialize`)."""
    mask_set = mask_set if mask_set is not None else prune_masks(loaded, config, progress)
    if mask_set.plan is None:
        return mask_set, materialize(loaded.model, mask_set, share_unpruned=read_only)
    start = time.perf_counter()  # whole units: the copy is genuinely smaller
    small = shrink(loaded.model, mask_set.plan)
    mask_set.seconds += time.perf_counter() - start
    return mask_set, small


def prune_masks(loaded: LoadedModel, config: PruneConfig | ResolvedConfig, progress: Progress = no_progress) -> MaskSet:
    """Only the masks for `config` (no pruned copy): for mask pictures and counts on big models."""
    resolved = resolve(config)
    config, method = resolved.config, resolved.method
    targets = find_targets(loaded.model, config.scope, config.include_head)
    context = method.context(loaded, config, progress)  # calibration samples, a training budget, or None
    if config.allocation == "owl":
        allocation = owl_profile(loaded, targets, config, context)
        mask_set = method.prune(loaded.model, targets, config, context, sparsities=allocation.layer_sparsity)
        mask_set.allocation = allocation
        mask_set.notes.append(owl_note(allocation))
    else:
        mask_set = method.prune(loaded.model, targets, config, context)
    if context is not None:
        mask_set.notes.extend(context.notes)
    return mask_set


def owl_only(loaded: LoadedModel, config: PruneConfig, progress: Progress = no_progress) -> OwlAllocation:
    """OWL's allocation for `config` without pruning (the Layers page): its own calibration samples
    (`calibration_inputs` checks their length against the model)."""
    config = replace(config, allocation="owl").validated()
    targets = find_targets(loaded.model, config.scope, config.include_head)
    samples = calibration_inputs(loaded, config.calib_samples, config.calib_seq_len, config.seed)
    return owl_profile(loaded, targets, config, Calibration(samples, progress))


def owl_profile(loaded: LoadedModel, targets: list, config: PruneConfig, calibration: Calibration) -> OwlAllocation:
    """OWL's per-block outlier ratios and sparsities, measured on the dense model's calibration activations."""
    staged = Calibration(calibration.samples, lambda f, m: calibration.progress(f, f"OWL outlier profile: {m}"))
    allocation = owl_allocation(loaded.model, targets, config, staged)
    calibration.notes.extend(staged.notes)
    return allocation


def owl_note(allocation: OwlAllocation) -> str:
    """One line on what OWL did, next to the result."""
    ratios, sparsity = allocation.outlier_ratio, allocation.block_sparsity
    return (f"OWL (M = {allocation.m:g}, λ = {allocation.lam:g}): outlier ratios per block {min(ratios):.2%} to "
            f"{max(ratios):.2%}, so block sparsities {min(sparsity):.1%} to {max(sparsity):.1%} (parameter-weighted "
            f"mean {allocation.target:.1%})")
