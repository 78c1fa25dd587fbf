"""Methods that prune *while training*: gradual magnitude (Zhu & Gupta 2017) and movement (Sanh et al. 2020).

What they add to one-shot pruning: the network keeps learning while weights are taken away, so it
can route around each loss. Both raise the sparsity on Zhu & Gupta's cubic schedule
    s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n Δt))^3,   t = t0, t0 + Δt, ..., t0 + n Δt
(here s_i = 0; t0 = `ramp_start` of the budget), pruning every Δt optimizer steps, then fine-tune at
s_f for the remaining steps. They differ only in the importance: gradual keeps the largest |w|; movement keeps the
weights with the largest S = -Σ_t W ⊙ ∂L/∂W, i.e. those that training moves *away* from zero
(the hard, unstructured variant of movement pruning). A pruned weight never comes back.

The training loop itself is `prune_core.training_loop.train`; this module only says which weights go
when. `prune()` trains a private copy on the training split with a small default budget (its `context`),
so these methods also work through `prune_core.run.prune_model` (Explore, Compare, CLI `prune`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import PruneScopeError
from ..masks import MaskSet
from ..patterns import parse_pattern
from ..progress import Progress
from ..targets import Target, as_out_in, from_out_in
from ..training_data import FinetuneConfig, default_budget
from ..training_loop import TrainingContext, train_while_pruning
from .base import MethodInfo, PruningMethod, select
from .catalogue import register

if TYPE_CHECKING:  # type hints only: PruneConfig validates against this catalogue, so it sits above it
    from ..config import PruneConfig
    from ..zoo import LoadedModel


def cubic_sparsity(step: int, final: float, ramp_end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta's target sparsity after `step` optimizer steps (t0 = 0): s_f once step >= ramp_end."""
    if step >= ramp_end:
        return final
    return final + (initial - final) * (1.0 - step / ramp_end) ** 3


@dataclass(frozen=True)
class Schedule:
    """When sparsity rises: every `every` steps after `start` (t0) up to `ramp_end` (= t0 + n Δt), reaching
    `final` there. Before t0 nothing is pruned: movement scores accumulate (Sanh et al.'s warm-up)."""

    final: float
    ramp_end: int
    every: int
    start: int = 0

    @classmethod
    def for_budget(cls, final: float, steps: int, ramp_fraction: float, prune_every: int,
                   ramp_start: float = 0.0) -> "Schedule":
        """Start after `ramp_start` of the steps, ramp over `ramp_fraction` of them in n whole intervals of
        Δt = `prune_every` (0: about 10 intervals); the final sparsity is always reached within the budget."""
        start = min(steps - 1, round(ramp_start * steps))
        ramp = max(1, min(steps - start, round(ramp_fraction * steps)))
        every = prune_every if prune_every > 0 else max(1, ramp // 10)
        every = min(every, ramp)
        return cls(final, start + (ramp // every) * every, every, start)

    def due(self, step: int) -> bool:
        return self.start < step <= self.ramp_end and (step - self.start) % self.every == 0

    def sparsity(self, step: int) -> float:
        if step <= self.start:
            return 0.0
        return cubic_sparsity(step - self.start, self.final, self.ramp_end - self.start)


class ScheduledPruner:
    """Keeps importance statistics during training and tightens the masks on the schedule.

    Used by `training_loop.train`: `observe` after every backward pass (gradients present, before the
    optimizer step), `step` after every optimizer step; it returns True when the masks changed.
    """

    def __init__(self, targets: list[Target], config: PruneConfig, schedule: Schedule, movement: bool):
        self.targets, self.config, self.schedule, self.movement = targets, config, schedule, movement
        self.pattern = parse_pattern(config.pattern)
        self.scores: dict[str, torch.Tensor] = {}  # movement: S = -sum W * grad, in each parameter's layout

    @torch.no_grad()
    def observe(self, params: dict[str, nn.Parameter]) -> None:
        if not self.movement:
            return
        for t in self.targets:
            p = params[t.name]
            if p.grad is None:
                continue
            s = self.scores.get(t.name)
            if s is None:
                s = self.scores[t.name] = torch.zeros_like(p, dtype=torch.float32)
            s.sub_((p.detach() * p.grad).float())

    def _step_config(self, sparsity: float) -> PruneConfig | None:
        """The selection at this point of the ramp; N:M ramps through (M-1):M, (M-2):M, ... down to N:M."""
        if not self.pattern.is_nm:
            return replace(self.config, sparsity=sparsity) if sparsity > 0 else None
        m = self.pattern.m
        removed = min(m - self.pattern.n, round(sparsity * m))
        return replace(self.config, sparsity=removed / m, pattern=f"{m - removed}:{m}") if removed > 0 else None

    @torch.no_grad()
    def step(self, step: int, params: dict[str, nn.Parameter], masks: dict[str, torch.Tensor]) -> bool:
        """At a scheduled step, recompute `masks` in place (a removed weight stays removed)."""
        if not self.schedule.due(step):
            return False
        config = self._step_config(self.schedule.sparsity(step))
        if config is None:
            return False
        scores = []
        for t in self.targets:
            s = self.scores[t.name] if self.movement and t.name in self.scores else params[t.name].detach().abs()
            s = s.float().masked_fill(~masks[t.name], float("-inf"))  # already removed: lowest, stay removed
            scores.append(as_out_in(s, t).cpu())
        keeps, _ = select(scores, self.targets, config)
        for t, keep in zip(self.targets, keeps):
            masks[t.name] = from_out_in(keep, t).to(masks[t.name].device) & masks[t.name]
        return True


class TrainingMethod(PruningMethod):
    """A method whose masks come out of training: `prune` runs `training_loop.train` on a private copy."""

    movement: bool = False

    def check(self, config: PruneConfig) -> None:
        if config.allocation == "owl":
            raise PruneScopeError(f"{self.info.name} raises the sparsity on a schedule while training; OWL's "
                                  "per-block sparsities are for one-shot methods")

    def context(self, loaded: LoadedModel, config: PruneConfig,
                progress: Progress) -> TrainingContext:
        """The training data and the small default budget (`training_data.default_budget`)."""
        return TrainingContext(loaded, default_budget(loaded, config.seed), progress)

    def pruner(self, targets: list[Target], config: PruneConfig, ft: FinetuneConfig) -> ScheduledPruner:
        schedule = Schedule.for_budget(config.sparsity if not parse_pattern(config.pattern).is_nm
                                       else parse_pattern(config.pattern).fixed_sparsity,
                                       ft.steps, ft.ramp_fraction, ft.prune_every, ft.ramp_start)
        return ScheduledPruner(targets, config, schedule, self.movement)

    def prune(self, model: nn.Module, targets: list[Target], config: PruneConfig, calibration=None) -> MaskSet:
        """Train a copy of `model` on the training split while pruning it; `model` is not touched.

        `calibration` must be a `training_loop.TrainingContext` (data, budget, progress): `context` builds it.
        """
        if not isinstance(calibration, TrainingContext):
            raise PruneScopeError(f"{self.info.name} prunes during training and needs the model's training data; "
                                  "run it through prune_core.run.prune_model or prune_core.finetune.finetune")
        start = time.perf_counter()

        def progress(point, steps: int) -> None:
            calibration.progress(point.step / steps, f"{self.info.name}: training step {point.step}/{steps}, "
                                                     f"sparsity {point.sparsity:.0%}")

        trained, masks, training = train_while_pruning(calibration.loaded, model, targets, config, calibration.ft,
                                                       self, progress)
        weights = {n: p.detach().cpu() for n, p in trained.named_parameters()}
        ft = calibration.ft
        notes = [f"{self.info.name}: pruned during {training.steps_done} training steps on the training split "
                 f"(lr {ft.lr:g}, batch {ft.batch_size}, seed {config.seed}); every weight was also trained, so "
                 "compare it with one-shot pruning + recovery fine-tuning, not with one-shot alone"] + training.notes
        return MaskSet(targets, {n: m.cpu() for n, m in masks.items()}, new_weights=weights,
                       seconds=time.perf_counter() - start, notes=notes)


@register
class GradualMagnitude(TrainingMethod):
    info = MethodInfo("gradual", "magnitude pruning raised on a cubic schedule during training (Zhu & Gupta 2017); "
                                 "trains on the training split", prunes_during_training=True,
                      explain="Gradual pruning removes the smallest weights a few at a time while the model keeps "
                              "training, so the remaining weights can take over the work of the removed ones. It "
                              "costs training time, and the result is a fine-tuned model as well as a pruned one.")
    movement = False


@register
class Movement(TrainingMethod):
    info = MethodInfo("movement", "weights that training moves towards zero go first: S = -sum W * grad "
                                  "(Sanh et al. 2020); trains on the training split", prunes_during_training=True,
                      explain="Movement pruning watches how training changes each weight: a weight being pushed "
                              "towards zero is removed even if it is large, one growing away from zero is kept even "
                              "if it is small. It needs training (gradients), not just the weights.")
    movement = True
