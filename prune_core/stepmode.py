"""Step mode: a pruning schedule (gradual, movement) advanced a few optimizer steps at a time.

Why: `training_loop.train` runs a whole schedule in one go, so a student sees only its end. Here the
same loop is driven from outside, Δt optimizer steps (one pruning event of Zhu & Gupta's ramp) per
call, so a page can redraw the sparsity, a layer's weight histogram with its cut and the validation
loss after each step (in the spirit of GAN Lab). It trains its own deep copy of the base model (one
per user); run to the end it gives bit-for-bit the masks and weights of `training_loop.train_while_pruning`
(tests/test_stepmode.py).
"""
from __future__ import annotations

import copy
import math

import pandas as pd
import torch

from .config import PruneConfig, ResolvedConfig, resolve
from .errors import PruneScopeError
from .methods import available
from .training_data import FinetuneConfig, TrainingData, default_budget
from .training_loop import CurvePoint, KeptPattern, lr_at
from .tables import histogram_frame
from .targets import find_targets
from .zoo import LoadedModel

MAX_PARAMS = 50_000_000  # every user gets a private copy plus AdamW state (3x the weights): small models only


def training_methods() -> list[str]:
    """The methods that prune on a schedule while training (`MethodInfo.prunes_during_training`)."""
    return [name for name, m in available("unstructured").items() if m.info.prunes_during_training]


class ScheduleStepper:
    """One gradual/movement run on a private copy, advanced on demand."""

    def __init__(self, loaded: LoadedModel, config: PruneConfig | ResolvedConfig, ft: FinetuneConfig | None = None):
        resolved = resolve(config)
        config, method = resolved.config, resolved.method
        if not method.info.prunes_during_training:
            raise PruneScopeError(f"step mode follows a pruning schedule during training; '{config.method}' prunes "
                                  f"in one shot. Use one of: {', '.join(training_methods())}")
        if loaded.card.params > MAX_PARAMS:
            raise PruneScopeError(f"step mode trains a private copy for each user; {loaded.name} has "
                                  f"{loaded.card.params:,} parameters (limit {MAX_PARAMS:,}). Use the Fine-tune run")
        self.ft = (ft or default_budget(loaded, config.seed)).validated()
        if self.ft.dropout:
            raise PruneScopeError("step mode runs without dropout, so that every step is reproducible")
        self.loaded, self.config = loaded, config
        self.data = TrainingData(loaded, self.ft)
        self.model = copy.deepcopy(loaded.model).cpu()
        self.model.requires_grad_(True)
        self.model.eval()  # no dropout: nothing random in the forward pass, as in `train` with dropout off
        self.targets = find_targets(self.model, config.scope, config.include_head)
        self.params = dict(self.model.named_parameters())
        self.masks = {t.name: torch.ones_like(self.params[t.name], dtype=torch.bool) for t in self.targets}
        self.pruner = method.pruner(self.targets, config, self.ft)
        self.pattern = KeptPattern(self.targets, self.params, self.masks)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.ft.lr, weight_decay=self.ft.weight_decay)
        self.step = 0
        train_loss, val_loss = self.data.losses(self.model)
        self.curve = [CurvePoint(0, train_loss, val_loss, self.pattern.check(0))]

    @property
    def schedule(self):
        return self.pruner.schedule

    @property
    def done(self) -> bool:
        return self.step >= self.ft.steps

    def events(self) -> list[int]:
        """The optimizer steps after which the masks tighten."""
        return [s for s in range(1, self.ft.steps + 1) if self.schedule.due(s)]

    def advance(self, steps: int | None = None) -> int:
        """Run `steps` optimizer steps (default Δt: up to and including the next pruning event during the
        ramp), never past the budget; the validation loss is measured after the last of them. Returns how
        many ran."""
        steps = self.schedule.every if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise PruneScopeError(f"steps must be a whole number of at least 1, got {steps!r}")
        ran = 0
        while ran < steps and not self.done:
            self._one_step()
            ran += 1
            if self.schedule.due(self.step):
                break  # stop on a pruning event, so each one is seen
        if ran:
            last = self.curve[-1]
            self.curve[-1] = CurvePoint(last.step, last.train_loss, self.data.subset_loss(self.model, self.data.val_subset),
                                        last.sparsity)
        return ran

    def _one_step(self) -> None:
        """One optimizer step, as in `training_loop.train`: mask gradients, step, re-apply, prune when due, check."""
        step = self.step + 1
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step - 1, self.ft)
        loss = self.data.loss(self.model, self.data.batch(step - 1))
        value = float(loss.detach())
        if not math.isfinite(value):
            raise PruneScopeError(f"the training loss was {value} at step {step}; press Reset (a smaller learning "
                                  "rate helps)")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.pruner.observe(self.params)
        self.pattern.mask_grads()
        self.optimizer.step()
        self.pattern.apply()
        if self.pruner.step(step, self.params, self.masks):
            self.pattern.apply()
        self.step = step
        self.curve.append(CurvePoint(step, value, None, self.pattern.check(step)))

    def curve_frame(self) -> pd.DataFrame:
        return pd.DataFrame([p.to_dict() for p in self.curve])

    @torch.no_grad()
    def histogram(self, module: str) -> tuple[pd.DataFrame, float | None, int]:
        """(histogram of the layer's starting vs current weights, the |w| cut, weights removed).

        The cut is the smallest |w| still kept, for gradual (whose score is |w|) once something is removed;
        movement's score is not |w|, so it has none."""
        target = next((t for t in self.targets if t.module == module), None)
        if target is None:
            raise PruneScopeError(f"'{module}' is not pruned in this run")
        dense = dict(self.loaded.model.named_parameters())[target.name].detach()
        now = self.params[target.name].detach()
        keep = self.masks[target.name]
        removed = int((~keep).sum())
        cut = None
        if not self.pruner.movement and removed and bool(keep.any()):
            cut = float(now[keep].abs().min())
        return histogram_frame(dense, now), cut, removed
