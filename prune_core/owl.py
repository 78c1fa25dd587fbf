"""OWL, outlier-weighed layerwise sparsity (Yin et al., ICML 2024; reference code: luuyin/OWL, lib/prune_all.py).

Why: uniform pruning takes as much from the blocks whose weights meet rare, very large ("outlier")
activations as from the others, and at high sparsity those blocks break first. OWL measures, per
Transformer block, the outlier ratio: the share of Wanda scores |W_ij|·‖X_j‖ above M times the block's
mean score. As in the reference (`check_outlier_mean` over the scores of all linear layers of one
decoder layer, pooled), the unit is a whole block, measured on the *dense* model's calibration
activations; blocks with more outliers keep more weights. The scores are always Wanda's, whatever
method then prunes with the allocation (the reference does the same for magnitude and SparseGPT).

From ratios to sparsities: the reference scales the ratios to [0, 2λ], subtracts their plain mean and
adds the target, which averages to the target only if every block has as many weights as every other.
Here the slope is the same, sparsity_b = S + c − 2λ·r̂_b (r̂ = min-max-scaled ratio), but the shift c
is solved so that, after clipping to [S − λ, S + λ] ∩ [0, MAX_SPARSITY] (the paper's stated range), the
parameter-weighted mean is exactly S. Counts are then rounded per layer (largest remainder) so the
model removes exactly round(S × weights in scope), the same total as a global threshold.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .calibration import Calibration, sequential_prune
from .config import MAX_SPARSITY, PruneConfig
from .methods.wanda import wanda_scores
from .targets import Target, as_out_in

_BISECT_STEPS = 200  # halvings of the shift interval: far below float resolution long before the end


@dataclass
class OwlAllocation:
    """Per-block outlier ratios and the sparsities OWL gives them; per-layer shares to remove."""

    target: float  # S, the requested overall sparsity
    m: float  # outlier threshold, times the block's mean score
    lam: float  # block sparsities lie in [S - lam, S + lam]
    blocks: list[int]  # Transformer block indices, model order
    params: list[int]  # weights in scope per block
    outlier_ratio: list[float]  # fraction of the block's scores above m x its mean score
    block_sparsity: list[float]  # before rounding; their params-weighted mean is `target`
    layer_sparsity: dict[str, float]  # per parameter name: removed count / weights (exact total)

    def to_dict(self) -> dict:
        return asdict(self)

    def frame(self) -> pd.DataFrame:
        """One row per block, for charts and tables."""
        return pd.DataFrame({"block": self.blocks, "params": self.params, "outlier_ratio": self.outlier_ratio,
                             "sparsity": self.block_sparsity})


def outlier_ratio(scores: Iterable[torch.Tensor], m: float) -> float:
    """Share of all scores (several matrices pooled) above m x their common mean."""
    scores = list(scores)
    total = sum(s.numel() for s in scores)
    mean = sum(float(s.double().sum()) for s in scores) / total
    return sum(int((s > m * mean).sum()) for s in scores) / total


def block_sparsities(ratios: list[float], params: list[int], target: float, lam: float,
                     cap: float = MAX_SPARSITY) -> np.ndarray:
    """OWL's linear map from outlier ratios to sparsities, shifted so the params-weighted mean is `target`.

    More outliers -> lower sparsity. Equal ratios (or lam = 0) give every block the target.
    """
    r = np.asarray(ratios, dtype=np.float64)
    w = np.asarray(params, dtype=np.float64)
    spread = r.max() - r.min()
    scaled = (r - r.min()) / spread if spread > 0 else np.zeros_like(r)
    base = target - 2.0 * lam * scaled
    lo, hi = max(0.0, target - lam), min(cap, target + lam)

    def mean_at(shift: float) -> float:
        return float((np.clip(base + shift, lo, hi) * w).sum() / w.sum())

    # mean_at is continuous and non-decreasing, lo at `low` and hi at `high`: bisect for mean == target
    low, high = -1.0 - 2.0 * lam, 1.0 + 2.0 * lam
    for _ in range(_BISECT_STEPS):
        mid = (low + high) / 2.0
        if mid in (low, high):
            break
        if mean_at(mid) < target:
            low = mid
        else:
            high = mid
    return np.clip(base + high, lo, hi)


def layer_counts(targets: list[Target], block_sparsity: dict[int, float], total: int) -> dict[str, int]:
    """Weights to remove per layer: each layer at its block's sparsity, rounded so they sum to `total`."""
    exact = np.array([block_sparsity[t.block] * t.numel for t in targets], dtype=np.float64)
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    assert 0 <= short <= len(counts), (total, exact.sum())  # |sum(exact) - total| <= 1/2 by construction
    counts[np.argsort(counts - exact, kind="stable")[:short]] += 1  # largest remainders first
    return {t.name: int(c) for t, c in zip(targets, counts)}


@torch.no_grad()
def measure_outliers(model: nn.Module, targets: list[Target], calibration: Calibration, m: float) -> dict[int, float]:
    """Outlier ratio of each block's targets, on the dense model's activations (nothing is pruned)."""
    params = dict(model.named_parameters())
    ratios: dict[int, float] = {}

    def observe(block_targets: list[Target], stats) -> tuple[dict, dict]:
        scores = [wanda_scores(as_out_in(params[t.name].detach(), t), stats[t.name].sq_norm) for t in block_targets]
        ratios[block_targets[0].block] = outlier_ratio(scores, m)
        return {}, {}  # no masks: the next block sees this block's dense output

    sequential_prune(model, targets, calibration, observe, full_gram=False)
    return ratios


def owl_allocation(model: nn.Module, targets: list[Target], config: PruneConfig,
                   calibration: Calibration) -> OwlAllocation:
    """Outlier profile -> block sparsities -> exact per-layer shares, for `config.sparsity`, M and λ."""
    ratios = measure_outliers(model, targets, calibration, config.owl_m)
    blocks = sorted(ratios)
    params = [sum(t.numel for t in targets if t.block == b) for b in blocks]
    sparsity = block_sparsities([ratios[b] for b in blocks], params, config.sparsity, config.owl_lambda)
    counts = layer_counts(targets, dict(zip(blocks, sparsity.tolist())),
                          round(config.sparsity * sum(t.numel for t in targets)))
    return OwlAllocation(config.sparsity, config.owl_m, config.owl_lambda, blocks, params,
                         [ratios[b] for b in blocks], sparsity.tolist(),
                         {t.name: counts[t.name] / t.numel for t in targets})
