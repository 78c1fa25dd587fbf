"""Unit importances (structural patterns 'neuron', 'head') as catalogue methods.

`structural.IMPORTANCE` scores whole MLP neurons or attention heads; here each score becomes a
`PruningMethod` whose `MethodInfo.granularities` are the units it can rank, so `available('neuron')`
lists them like any other method. Its masks come with the `StructuralPlan`: the plan says which units
go (and lets `pruning.prune_model` build a genuinely smaller copy), the masks say which weights went with
them (for counts and pictures).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from torch import nn

from ..masks import MaskSet
from ..patterns import parse_pattern
from ..structural import IMPORTANCE, detect_arch, plan_units, unit_masks
from ..targets import Target, find_targets
from .base import MethodInfo, PruningMethod
from .catalogue import add

if TYPE_CHECKING:  # type hints only: PruneConfig validates against this catalogue, so it sits above it
    from ..config import PruneConfig
    from ..progress import Progress
    from ..structural import Importance
    from ..zoo import LoadedModel


class UnitMethod(PruningMethod):
    """Remove the least important whole units; `targets` is ignored: the units decide the weights."""

    def __init__(self, importance: Importance):
        self.info = MethodInfo(importance.name, importance.description,
                               needs_calibration=importance.needs_calibration, granularities=importance.units)

    def context(self, loaded: LoadedModel, config: PruneConfig, progress: Progress) -> Any:
        """Refuse a family whose units cannot be removed before any calibration data is drawn."""
        detect_arch(loaded.model)
        return super().context(loaded, config, progress)

    def prune(self, model: nn.Module, targets: list[Target], config: PruneConfig, calibration: Any = None) -> MaskSet:
        """The plan for `config` (unit, share of units, allocation) and the masks of the weights it removes."""
        start = time.perf_counter()
        unit = parse_pattern(config.pattern).unit
        samples = calibration.samples if calibration is not None else None
        plan = plan_units(model, unit, config.sparsity, self.info.name, config.allocation, samples)
        masks = unit_masks(model, plan)
        removed = [t for t in find_targets(model, "all") if t.name in masks]
        return MaskSet(removed, masks, seconds=time.perf_counter() - start, plan=plan)  # its note: notes.units_removed


for _importance in IMPORTANCE.values():
    add(UnitMethod(_importance))
