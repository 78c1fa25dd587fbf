"""The method contract: an importance score, plus shared selection.

A method says how important each weight (or unit) is. Turning scores into masks (pattern x allocation)
is shared code, so every weight method combines with every weight pattern. A method never writes to the
model it is given; methods that must (SparseGPT) return new weights in the MaskSet instead. Each method
builds what it needs beyond the model (`context`: calibration samples, a training budget) and refuses
the settings it cannot run (`check`), so the run pipeline never asks what kind of method it holds.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..calibration import Calibration, calibration_inputs, sequential_prune
from ..errors import PruneScopeError
from ..masks import MaskSet
from ..patterns import WEIGHT_LEVEL, Pattern, global_lowest_k, lowest_k_with_cut, nm_mask, parse_pattern
from ..progress import Progress
from ..targets import Target, as_out_in, from_out_in
from .params import NoParams, check_values

if TYPE_CHECKING:  # type hints only: PruneConfig validates against this catalogue, so it sits above it
    from ..config import PruneConfig
    from ..zoo import LoadedModel


@dataclass(frozen=True)
class MethodInfo:
    name: str
    description: str  # one line, shown in the CLI and the page
    needs_calibration: bool = False
    # what it can choose (`patterns.Pattern.granularity`): single weights, or whole units ('neuron', 'head')
    granularities: tuple[str, ...] = WEIGHT_LEVEL
    explain: str = ""  # two sentences for a student: what it uses that magnitude does not
    # True when the score is |w| itself, so a pruning threshold can be drawn on the histogram.
    magnitude_threshold: bool = False
    # True when the method trains a copy on the training split while pruning it (gradual, movement):
    # its masks need a training budget, and its result is fine-tuned as well as pruned.
    prunes_during_training: bool = False


class PruningMethod(ABC):
    """Subclass, set `info`, implement `prune`; register with `@register`. Settings of its own: a frozen
    dataclass in `params` (see `params.py`); `prune` reads them with `param_values(config)`."""

    info: MethodInfo
    params: type = NoParams

    def param_values(self, config: PruneConfig):
        """This method's parameters for `config` (its `params` dataclass, defaults where not given)."""
        return self.params(**check_values(self.info.name, self.params, config.method_params))

    def check(self, config: PruneConfig) -> None:
        """Refuse (PruneScopeError, saying why) settings this method cannot run; called by validation."""

    def context(self, loaded: LoadedModel, config: PruneConfig, progress: Progress) -> Any:
        """What `prune` needs beyond the model, built once per run and passed as its `calibration`:
        calibration samples when this method or the OWL allocation reads activations, else None."""
        if self.info.needs_calibration or config.allocation == "owl":
            samples = calibration_inputs(loaded, config.calib_samples, config.calib_seq_len, config.seed)
            return Calibration(samples, progress)
        return None

    @abstractmethod
    def prune(self, model: nn.Module, targets: list[Target], config: PruneConfig,
              calibration: Any = None) -> MaskSet:
        """Masks (and optionally new weights) for `targets`; never writes to `model`.

        One-shot methods (score and calibrated) also take `sparsities`: a share to remove per parameter
        name from a non-uniform allocation (OWL), instead of `config.sparsity` everywhere."""


class ScoreMethod(PruningMethod):
    """A data-free method: implement `score`; selection is shared."""

    @abstractmethod
    def score(self, weight: torch.Tensor, target: Target, config: PruneConfig, index: int,
              calibration: Any = None) -> torch.Tensor:
        """Importance of each weight of an (out, in) matrix; higher means keep."""

    @torch.no_grad()
    def prune(self, model: nn.Module, targets: list[Target], config: PruneConfig,
              calibration: Any = None, sparsities: dict[str, float] | None = None) -> MaskSet:
        """Score every target, then select by pattern and allocation (or by per-layer `sparsities`)."""
        start = time.perf_counter()
        params = dict(model.named_parameters())
        weights = [as_out_in(params[t.name].detach(), t) for t in targets]
        if self.info.magnitude_threshold:  # the score is |w|: selection reads the weights, |w| is never stored
            keeps, cuts = select(weights, targets, config, absolute=True, sparsities=sparsities)
        else:
            keeps, cuts = select([self.score(w, t, config, i, calibration) for i, (w, t) in
                                  enumerate(zip(weights, targets))], targets, config, sparsities=sparsities)
        masks = {t.name: from_out_in(k, t) for t, k in zip(targets, keeps)}
        thresholds = {}
        if self.info.magnitude_threshold:  # the score is |w|: the cut is drawn on the histogram
            thresholds = {t.name: c for t, c in zip(targets, cuts) if c is not None}
        return MaskSet(targets, masks, thresholds=thresholds, seconds=time.perf_counter() - start)


def select(scores: list[torch.Tensor], targets: list[Target], config: PruneConfig,
           absolute: bool = False, sparsities: dict[str, float] | None = None, pattern: Pattern | None = None
           ) -> tuple[list[torch.Tensor], list[float | None]]:
    """Keep-masks (out, in) from scores for the config's pattern and allocation, and per layer the
    largest score removed (None where no single cut exists: N:M groups). `absolute`: the scores
    are the absolute values of `scores` (global selection then never stores them). `sparsities`
    (OWL) gives each layer its own share; each layer's lowest scores go, as with the per-layer
    allocation. `pattern`: the config's, parsed already (a caller selecting layer by layer)."""
    pattern = pattern if pattern is not None else parse_pattern(config.pattern)
    if absolute and (pattern.is_nm or config.allocation != "global"):
        scores, absolute = [s.abs() for s in scores], False
    if pattern.is_nm:
        return [nm_mask(s, pattern, t.module) for s, t in zip(scores, targets)], [None] * len(scores)
    if config.allocation == "global":
        keeps, threshold = global_lowest_k(scores, round(config.sparsity * sum(s.numel() for s in scores)), absolute)
        return keeps, [threshold] * len(keeps)  # one cut for all layers: that is what global means
    share = (lambda t: config.sparsity) if sparsities is None else (lambda t: sparsities[t.name])
    pairs = [lowest_k_with_cut(s, round(share(t) * s.numel())) for s, t in zip(scores, targets)]
    return [k for k, _ in pairs], [c for _, c in pairs]


class CalibratedMethod(PruningMethod):
    """A method that needs calibration statistics: implement `prune_layer`; the block-by-block
    lifecycle (collect with hooks -> prune -> feed the pruned block's outputs on) is shared."""

    full_gram: bool = False  # True: needs X^T X; False: only its diagonal (per-input ||X_j||^2)

    def check(self, config: PruneConfig) -> None:
        if config.allocation == "global":
            raise PruneScopeError(f"{self.info.name} prunes block by block on calibration data, so allocation "
                                  "must be 'layer' or 'owl'")

    @abstractmethod
    def prune_layer(self, W: torch.Tensor, stats, config: PruneConfig, target: Target,
                    calibration) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(keep-mask, new weights or None) for one (out, in) weight and its input statistics."""

    @torch.no_grad()
    def prune(self, model: nn.Module, targets: list[Target], config: PruneConfig,
              calibration: Any = None, sparsities: dict[str, float] | None = None) -> MaskSet:
        start = time.perf_counter()
        params = dict(model.named_parameters())

        def prune_block(block_targets, stats):
            masks, weights = {}, {}
            for t in block_targets:
                layer_config = config if sparsities is None else replace(config, sparsity=sparsities[t.name])
                keep, new_w = self.prune_layer(as_out_in(params[t.name].detach(), t), stats[t.name], layer_config,
                                               t, calibration)
                masks[t.name] = from_out_in(keep, t)
                if new_w is not None:
                    weights[t.name] = from_out_in(new_w.to(params[t.name].dtype), t)
            return masks, weights

        masks, weights = sequential_prune(model, targets, calibration, prune_block, full_gram=self.full_gram)
        return MaskSet(targets, masks, new_weights=weights, seconds=time.perf_counter() - start)
