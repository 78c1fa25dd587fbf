"""Wanda (Sun et al. 2023): |W_ij| * ||X_j||_2, compared within each output row.

What it adds to magnitude: a weight that multiplies a large input activation matters more,
so Wanda scales |w| by the norm of its input feature over calibration tokens. No weight update.
"""
from __future__ import annotations

import time

import torch

from ..calibration import Calibration, LayerInputStats, sequential_prune
from ..masks import MaskSet
from ..patterns import nm_mask, parse_pattern, per_row_lowest_k
from ..targets import as_out_in, from_out_in
from . import register
from .base import MethodInfo, PruningMethod


def wanda_scores(weight: torch.Tensor, sq_norm: torch.Tensor) -> torch.Tensor:
    """S_ij = |W_ij| * ||X_j||_2 for an (out, in) weight and per-input squared norms (in,)."""
    return weight.abs().float() * sq_norm.float().sqrt().unsqueeze(0)


def wanda_keep(weight: torch.Tensor, sq_norm: torch.Tensor, sparsity: float, pattern: str) -> torch.Tensor:
    """Keep-mask (out, in): per-row lowest scores removed, or N:M groups along the inputs."""
    scores = wanda_scores(weight, sq_norm)
    pat = parse_pattern(pattern)
    if pat.is_nm:
        return nm_mask(scores, pat, "layer")
    return per_row_lowest_k(scores, round(sparsity * scores.numel()))


@register
class Wanda(PruningMethod):
    info = MethodInfo("wanda", "|w| x input-activation norm, per output row (Sun et al. 2023); "
                               "needs calibration data", needs_calibration=True,
                      explain="Wanda also looks at data: it runs a few training samples through the model and "
                              "multiplies each |w| by the size of the input it multiplies, so a small weight on a "
                              "large activation survives. It compares weights within each output row and changes "
                              "no weights.")

    def prune(self, model, targets, config, calibration: Calibration | None = None) -> MaskSet:
        start = time.perf_counter()
        params = dict(model.named_parameters())
        pat = parse_pattern(config.pattern)

        def prune_block(block_targets, stats: dict[str, LayerInputStats]):
            masks = {}
            for t in block_targets:
                w = as_out_in(params[t.name].detach(), t)
                if pat.is_nm:
                    keep = nm_mask(wanda_scores(w, stats[t.name].sq_norm), pat, t.module)
                else:
                    keep = wanda_keep(w, stats[t.name].sq_norm, config.sparsity, config.pattern)
                masks[t.name] = from_out_in(keep, t)
            return masks, {}

        masks, _ = sequential_prune(model, targets, calibration, prune_block, full_gram=False)
        return MaskSet(targets, masks, seconds=time.perf_counter() - start)
