"""Recovery fine-tuning: prune a private copy, train it keeping the sparsity pattern, measure it beside the dense model.

Why: one-shot pruning removes weights and stops there; a short training run on the *training* split
lets the surviving weights make up for the removed ones (recovery). The loop that keeps the pattern is
`training_loop.train`; this module is the pipeline around it, and it prunes through `run`, so it sits
above it. Losses are measured on fixed train/validation subsets, the same for every run, so a pruned +
fine-tuned model can be compared with the dense one on the same data (the gap between them says how well
each generalizes). The base model is never touched: training runs on a copy.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch
from torch import nn

from .config import PruneConfig, ResolvedConfig, resolve
from .errors import PruneScopeError
from .patterns import WEIGHT_LEVEL
from .run import measure_quality, prune_model
from .targets import Target, find_targets
from .training_data import FinetuneConfig, TrainingData
from .training_loop import CurvePoint, ignore_point, never, resolve_device, train, train_while_pruning
from .zoo import LoadedModel


# Recovery budgets chosen so one run takes well under a minute on 2 idle CPU cores and recovery is
# visible (bench/recovery.py, the Paper page and the Fine-tune page share them). The GPT trains on
# 256-token windows, the length it is evaluated on (and was trained on).
RECOVERY_BUDGETS = {
    "tiny-shakespeare-gpt": FinetuneConfig(steps=150, lr=1e-3, batch_size=4, seq_len=256, eval_every=25),
    "tiny-sentiment-bert": FinetuneConfig(steps=150, lr=1e-4, batch_size=16, eval_every=25),
}


def recovery_budget(name: str, seed: int = 0) -> FinetuneConfig:
    """The default recovery fine-tuning budget for a model (a generic one for models not listed)."""
    return replace(RECOVERY_BUDGETS.get(name, FinetuneConfig()), seed=seed)


@dataclass
class FinetuneResult:
    """One fine-tuning run; field names match `PruneResult` where they mean the same thing."""

    model: str
    method: str
    pattern: str
    sparsity_target: float
    seed: int  # the training seed (batch order); `prune_seed` is the PruneConfig's
    steps: int
    lr: float
    quality_metric: str  # "accuracy" or "perplexity", like PruneResult
    quality_dense: float
    quality_pruned: float | None  # after one-shot pruning, before recovery; None when pruned during training
    quality: float  # after fine-tuning
    sparsity_actual: float  # fraction of in-scope weights == 0 in the final weights
    train_loss: float  # final, on the fixed train subset
    val_loss: float  # final, on the fixed validation subset
    train_loss_dense: float  # the dense model on the same subsets
    val_loss_dense: float
    curve: list[CurvePoint]
    partial: bool  # stopped early by should_stop
    diverged: bool  # a NaN/inf loss stopped training; the last good weights were restored
    notes: list[str]
    seconds: float
    device: str
    allocation: str = "layer"
    scope: str = "all"
    include_head: bool = False
    steps_done: int = 0  # optimizer steps actually run (fewer than `steps` when partial or diverged)
    batch_size: int = 0
    seq_len: int = 0
    train_seconds: float = 0.0  # the training loop alone
    params_in_scope: int = 0
    generalization_gap: float = 0.0  # val_loss - train_loss
    generalization_gap_dense: float = 0.0
    prune_seed: int = 0  # PruneConfig.seed (random scores); the CLI's --seed sets both

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """Flat row (no curve, no notes) for tables, the store and `--json`."""
        return {k: v for k, v in asdict(self).items() if not isinstance(v, (dict, list))}


@dataclass
class FinetuneBaseline:
    """The dense model on the evaluation and on the fixed loss subsets: measured once, reused by every run."""

    quality: float
    train_loss: float
    val_loss: float
    seconds: float
    seq_len: int = 0  # the subsets these losses were measured on
    loss_samples: int = 0


# ---- one run, end to end --------------------------------------------------------------------------------

def finetune_baseline(loaded: LoadedModel, ft: FinetuneConfig, data: TrainingData | None = None) -> FinetuneBaseline:
    """The dense model's quality and losses on the fixed subsets (evaluated on a GPU copy when there is one)."""
    start = time.perf_counter()
    ft = ft.validated()
    data = data or TrainingData(loaded, ft)
    device = resolve_device(ft.device)
    model = loaded.model if device.type == "cpu" else copy.deepcopy(loaded.model).to(device)
    train_loss, val_loss = data.losses(model)
    return FinetuneBaseline(measure_quality(loaded, model), train_loss, val_loss, time.perf_counter() - start,
                            ft.seq_len, ft.loss_samples)


@torch.no_grad()
def _sparsity(model: nn.Module, targets: list[Target]) -> float:
    params = dict(model.named_parameters())
    return sum(int((params[t.name] == 0).sum()) for t in targets) / sum(t.numel for t in targets)


def finetune(loaded: LoadedModel, config: PruneConfig | ResolvedConfig, ft: FinetuneConfig,
             progress: Callable[[CurvePoint, int], None] = ignore_point, should_stop: Callable[[], bool] = never,
             baseline: FinetuneBaseline | None = None) -> tuple[FinetuneResult, nn.Module]:
    """Prune a private copy (one-shot, or during training for gradual/movement), fine-tune it keeping the
    pattern, and measure it beside the dense model. Sparsity 0 fine-tunes the dense model: the control.

    Returns the result and the fine-tuned model (on the CPU, in eval mode). Pass `baseline`
    (`finetune_baseline`) to reuse the dense figures across runs with the same `ft.seq_len`/`loss_samples`.
    """
    start = time.perf_counter()
    resolved, ft = resolve(config), ft.validated()
    config, pattern, method = resolved.config, resolved.pattern, resolved.method
    if pattern.granularity not in WEIGHT_LEVEL:
        raise PruneScopeError(f"fine-tuning keeps a mask of removed weights; pattern '{pattern.name}' removes whole "
                              "units instead. Use 'unstructured' or an N:M pattern")
    resolve_device(ft.device)
    data = TrainingData(loaded, ft)  # fails fast on a split too short for one batch
    baseline = baseline or finetune_baseline(loaded, ft, data)
    if (baseline.seq_len, baseline.loss_samples) != (ft.seq_len, ft.loss_samples):
        raise ValueError("the dense baseline was measured on other loss subsets (seq_len/loss_samples differ)")
    notes: list[str] = []
    if method.info.prunes_during_training:
        targets = find_targets(loaded.model, config.scope, config.include_head)
        model, masks, training = train_while_pruning(loaded, loaded.model, targets, config, ft, method, progress,
                                                     should_stop, data)
        quality_pruned = None
    else:
        mask_set, model = prune_model(loaded, resolved)
        targets, masks = mask_set.targets, dict(mask_set.masks)
        notes += mask_set.notes
        quality_pruned = measure_quality(loaded, model)
        training = train(loaded, model, targets, masks, ft, data, None, progress, should_stop)
    notes += training.notes
    quality = measure_quality(loaded, model)
    train_loss, val_loss = data.losses(model)
    model.cpu()
    sparsity = _sparsity(model, targets)
    target = resolved.sparsity_target
    if sparsity < target - 1e-6 and (training.partial or training.diverged):
        notes.append(f"sparsity reached only {sparsity:.1%} of the target {target:.1%}: training stopped before "
                     "the pruning schedule finished")
    result = FinetuneResult(
        model=loaded.key, method=config.method, pattern=config.pattern, sparsity_target=target, seed=ft.seed,
        steps=ft.steps, lr=ft.lr, quality_metric=loaded.card.quality_metric, quality_dense=baseline.quality,
        quality_pruned=quality_pruned, quality=quality, sparsity_actual=sparsity, train_loss=train_loss,
        val_loss=val_loss, train_loss_dense=baseline.train_loss, val_loss_dense=baseline.val_loss,
        curve=training.curve, partial=training.partial, diverged=training.diverged, notes=notes,
        seconds=time.perf_counter() - start, device=training.device, allocation=config.allocation,
        scope=config.scope, include_head=config.include_head, steps_done=training.steps_done,
        batch_size=ft.batch_size, seq_len=ft.seq_len, train_seconds=training.seconds,
        params_in_scope=sum(t.numel for t in targets), generalization_gap=val_loss - train_loss,
        generalization_gap_dense=baseline.val_loss - baseline.train_loss, prune_seed=config.seed)
    return result, model
