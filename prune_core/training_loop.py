"""The training loop that keeps a sparsity pattern: optimizer steps, learning-rate schedule, pattern checks.

Why a module of its own: the methods that prune *while* training (gradual, movement) need this loop, and
so does the recovery fine-tuning pipeline (`finetune.py`, above `run`); below `methods/`, both import it
at the top. The pattern must survive training: gradients of removed weights are zeroed before every
optimizer step, the masks are applied again after it, and every step checks that no removed weight came
back (a broken pattern is a bug and raises). The base model is never touched: training runs on a copy.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from .errors import PruneScopeError
from .progress import Progress, no_progress
from .targets import Target
from .training_data import FinetuneConfig, TrainingData
from .zoo import LoadedModel

if TYPE_CHECKING:  # a type hint only: PruneConfig validates against the method catalogue, above this module
    from .config import PruneConfig


@dataclass
class CurvePoint:
    """One training step. Step 0 is the starting model, its losses on the fixed subsets; after that
    `train_loss` is that step's batch loss and `val_loss` is measured every `eval_every` steps."""

    step: int
    train_loss: float
    val_loss: float | None
    sparsity: float  # fraction of in-scope weights that are exactly zero after this step

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Training:
    """What the training loop did."""

    curve: list[CurvePoint]
    steps_done: int
    partial: bool
    diverged: bool
    notes: list[str]
    seconds: float
    device: str


@dataclass
class TrainingContext:
    """What a method that prunes during training needs beyond the model: data, budget, progress."""

    loaded: LoadedModel
    ft: FinetuneConfig
    progress: Progress = no_progress
    notes: list[str] = field(default_factory=list)  # like Calibration.notes: `prune_model` copies them


def resolve_device(name: str) -> torch.device:
    """'auto' -> the GPU when there is one; asking for a GPU that is not there is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PruneScopeError(f"device '{name}' was asked for, but this machine has no CUDA GPU; use 'auto' or 'cpu'")
    return torch.device(name)


def ignore_point(point: CurvePoint, steps: int) -> None:
    """The default `progress`: no one is watching."""


def never() -> bool:
    """The default `should_stop`: run the whole budget."""
    return False


def lr_at(step: int, ft: FinetuneConfig) -> float:
    """Linear warm-up over the first 10 % of the steps, then linear decay to 10 % of the peak."""
    warmup = max(1, ft.steps // 10)
    if step < warmup:
        return ft.lr * (step + 1) / warmup
    return ft.lr * (1.0 - 0.9 * (step - warmup) / max(1, ft.steps - warmup))


class KeptPattern:
    """The masks on the training device, applied to weights and gradients, and checked."""

    def __init__(self, targets: list[Target], params: dict[str, nn.Parameter], masks: dict[str, torch.Tensor]):
        self.targets, self.params, self.masks = targets, params, masks
        self.in_scope = sum(t.numel for t in targets)

    @torch.no_grad()
    def apply(self) -> None:
        for t in self.targets:  # masked_fill, not multiply: 0 * inf or 0 * NaN would not be zero
            self.params[t.name].masked_fill_(~self.masks[t.name], 0.0)

    @torch.no_grad()
    def mask_grads(self) -> None:
        for t in self.targets:
            grad = self.params[t.name].grad
            if grad is not None:
                grad.masked_fill_(~self.masks[t.name], 0.0)

    @torch.no_grad()
    def check(self, step: int) -> float:
        """Sparsity of the weights now; raises if a removed weight is nonzero (the pattern was broken)."""
        zeros = 0
        for t in self.targets:
            p = self.params[t.name]
            if bool(((p != 0) & ~self.masks[t.name]).any()):
                raise RuntimeError(f"after step {step} a removed weight of {t.module} is nonzero: the sparsity "
                                   "pattern was not kept")
            zeros += int((p == 0).sum())
        return zeros / self.in_scope


class _Diverged(Exception):
    """A loss that is NaN or infinite: the step that met it is not kept."""


class _Run:
    """One training run's state, shared by its steps: the model on its device, the kept pattern, the
    optimizer, the curve so far and the notes for the reader."""

    def __init__(self, model: nn.Module, targets: list[Target], masks: dict[str, torch.Tensor],
                 ft: FinetuneConfig, data: TrainingData, device: torch.device, pruner=None):
        self.model, self.masks, self.ft, self.data, self.pruner = model, masks, ft, data, pruner
        model.to(device)
        model.requires_grad_(True)
        model.train(ft.dropout)  # without dropout: eval mode, nothing random in the forward pass
        self.params = dict(model.named_parameters())
        for name, keep in masks.items():
            masks[name] = keep.to(device=device, dtype=torch.bool)
        self.pattern = KeptPattern(targets, self.params, masks)
        self.pattern.apply()
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=ft.lr, weight_decay=ft.weight_decay)
        self.curve: list[CurvePoint] = []
        self.notes: list[str] = []
        self.partial = self.diverged = False
        self.steps_done = 0

    def snapshot(self) -> dict:
        return {"params": {n: p.detach().clone() for n, p in self.params.items()},
                "masks": {n: m.clone() for n, m in self.masks.items()}, "step": self.steps_done}

    def restore(self, state: dict) -> None:
        with torch.no_grad():
            for n, p in self.params.items():
                p.copy_(state["params"][n])
        self.masks.update(state["masks"])

    def evaluate(self, subset) -> float:
        """Dropout off while measuring, back on (if asked for) to train."""
        self.model.eval()
        try:
            return self.data.subset_loss(self.model, subset)
        finally:
            self.model.train(self.ft.dropout)

    def _update(self, step: int, loss: torch.Tensor) -> float:
        """Backward pass and optimizer step that keep the pattern -> the sparsity after it."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.pruner is not None:
            self.pruner.observe(self.params)
        self.pattern.mask_grads()
        self.optimizer.step()
        self.pattern.apply()
        if self.pruner is not None and self.pruner.step(step, self.params, self.masks):
            self.pattern.apply()
        return self.pattern.check(step)

    def step(self, step: int) -> CurvePoint:
        """One training step -> its curve point; raises `_Diverged` on a loss that is not finite."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step - 1, self.ft)
        loss = self.data.loss(self.model, self.data.batch(step - 1))
        value = float(loss.detach())
        if not math.isfinite(value):
            raise _Diverged(f"the training loss was {value} at step {step}")
        sparsity = self._update(step, loss)
        val = None
        if step % self.ft.eval_every == 0 or step == self.ft.steps:
            val = self.evaluate(self.data.val_subset)
            if not math.isfinite(val):
                raise _Diverged(f"the validation loss was {val} after step {step}")
        return CurvePoint(step, value, val, sparsity)

    def loop(self, progress: Callable[[CurvePoint, int], None], should_stop: Callable[[], bool]) -> None:
        """Step 0 (the starting losses), then every step until the budget, a stop or a divergence."""
        ft = self.ft
        first = CurvePoint(0, self.evaluate(self.data.train_subset), self.evaluate(self.data.val_subset),
                           self.pattern.check(0))
        self.curve.append(first)
        progress(first, ft.steps)
        good = self.snapshot()
        for step in range(1, ft.steps + 1):
            if should_stop():
                self.partial = True
                self.notes.append(f"stopped after {self.steps_done} of {ft.steps} steps: these results are partial")
                return
            try:
                point = self.step(step)
            except _Diverged as bad:
                self.diverged = True
                self.restore(good)
                self.notes.append(f"training diverged ({bad}); stopped and restored the weights of step "
                                  f"{good['step']}, the last evaluation with finite losses. Try a smaller "
                                  f"learning rate (this run: {ft.lr:g})")
                return
            self.steps_done = step
            self.curve.append(point)
            progress(point, ft.steps)
            if point.val_loss is not None:
                good = self.snapshot()

    def finish(self) -> None:
        """Free the optimizer's state and leave the model frozen, in eval mode."""
        del self.optimizer
        self.model.requires_grad_(False)
        self.model.eval()


def train(loaded: LoadedModel, model: nn.Module, targets: list[Target], masks: dict[str, torch.Tensor],
          ft: FinetuneConfig, data: TrainingData | None = None, pruner=None,
          progress: Callable[[CurvePoint, int], None] = ignore_point,
          should_stop: Callable[[], bool] = never) -> Training:
    """Train `model` in place (a private copy, moved to the training device) keeping `masks`.

    `masks` (keep-masks by parameter name) is updated in place when `pruner` (a
    `methods.training.ScheduledPruner`) tightens it. A NaN/inf loss stops training and restores the
    weights and masks of the last evaluation whose losses were finite; `should_stop()` is asked before
    every step. `progress(point, steps)` is called after every step.
    """
    ft = ft.validated()
    start = time.perf_counter()
    data = data or TrainingData(loaded, ft)
    device = resolve_device(ft.device)
    run = _Run(model, targets, masks, ft, data, device, pruner)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the caller's random state is left as it was
        torch.manual_seed(ft.seed)
        run.loop(progress, should_stop)
    run.finish()
    return Training(run.curve, run.steps_done, run.partial, run.diverged, run.notes,
                    time.perf_counter() - start, str(device))


def train_while_pruning(loaded: LoadedModel, source: nn.Module, targets: list[Target], config: PruneConfig,
                        ft: FinetuneConfig, method, progress: Callable[[CurvePoint, int], None] = ignore_point,
                        should_stop: Callable[[], bool] = never, data: TrainingData | None = None,
                        ) -> tuple[nn.Module, dict[str, torch.Tensor], Training]:
    """A copy of `source` trained while `method` (gradual, movement) raises its sparsity on the schedule."""
    model = copy.deepcopy(source)
    params = dict(model.named_parameters())
    masks = {t.name: torch.ones_like(params[t.name], dtype=torch.bool) for t in targets}
    training = train(loaded, model, targets, masks, ft, data, method.pruner(targets, config, ft), progress, should_stop)
    return model, masks, training
