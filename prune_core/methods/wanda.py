"""Wanda (Sun et al. 2023): |W_ij| * ||X_j||_2, compared within each output row.

What it adds to magnitude: a weight that multiplies a large input activation matters more,
so Wanda scales |w| by the norm of its input feature over calibration tokens. No weight update.
"""
from __future__ import annotations

import torch

from ..calibration import LayerInputStats
from ..patterns import nm_mask, parse_pattern, per_row_lowest_k
from .catalogue import register
from .base import CalibratedMethod, MethodInfo


def wanda_scores(weight: torch.Tensor, sq_norm: torch.Tensor) -> torch.Tensor:
    """S_ij = |W_ij| * ||X_j||_2 for an (out, in) weight and per-input squared norms (in,)."""
    return weight.abs().float() * sq_norm.float().sqrt().unsqueeze(0)


def wanda_keep(weight: torch.Tensor, sq_norm: torch.Tensor, sparsity: float, pattern: str,
               layer: str = "layer") -> torch.Tensor:
    """Keep-mask (out, in): per-row lowest scores removed, or N:M groups along the inputs."""
    scores = wanda_scores(weight, sq_norm)
    pat = parse_pattern(pattern)
    if pat.is_nm:
        return nm_mask(scores, pat, layer)
    return per_row_lowest_k(scores, round(sparsity * scores.numel()))


@register
class Wanda(CalibratedMethod):
    info = MethodInfo("wanda", "|w| x input-activation norm, per output row (Sun et al. 2023); "
                               "needs calibration data", needs_calibration=True,
                      explain="Wanda also looks at data: it runs a few training samples through the model and "
                              "multiplies each |w| by the size of the input it multiplies, so a small weight on a "
                              "large activation survives. It compares weights within each output row and changes "
                              "no weights.")
    full_gram = False  # ||X_j||^2 is the diagonal of X^T X

    def prune_layer(self, W, stats: LayerInputStats, config, target, calibration):
        return wanda_keep(W, stats.sq_norm, config.sparsity, config.pattern, target.module), None
