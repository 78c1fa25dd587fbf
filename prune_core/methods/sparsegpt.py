"""SparseGPT (Frantar & Alistarh 2023): prune with second-order (OBS) updates of the kept weights.

What it adds to magnitude: the Hessian H = X^T X of the layer's calibration inputs says which
weights matter for the layer's *output*, and after removing a weight the remaining weights of
its row are corrected to compensate, column block by column block. Notation follows the paper:
W (out, in), H (in, in), Hinv the upper Cholesky factor of H^-1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..calibration import LayerInputStats
from ..errors import PruneScopeError
from ..patterns import lowest_k_mask, parse_pattern
from .catalogue import register
from .base import CalibratedMethod, MethodInfo
from .params import param

BLOCK = 128  # columns per lazy-update block (the paper's B)


def inverse_hessian_factor(H: torch.Tensor, damping: float) -> tuple[torch.Tensor, float]:
    """Upper Cholesky factor of (H + lambda I)^-1 with lambda = damping * mean(diag H).

    A Hessian from few tokens is singular; if Cholesky still fails, lambda is raised 10x at a
    time (and the caller says so) instead of ever producing NaN weights.
    """
    H = H.clone()
    dead = torch.diagonal(H) == 0
    H[dead, dead] = 1.0  # inputs that were always zero: any value works, their weights go
    mean_diag = float(torch.diagonal(H).mean())
    # 10x steps up to lambda = 10 x mean(diag H), where any positive semi-definite H is safely PD
    lams = [damping * 10 ** i for i in range(20) if damping * 10 ** i <= 10] or [damping]
    for lam in lams:
        Hd = H + lam * mean_diag * torch.eye(H.shape[0], dtype=H.dtype)
        L, info = torch.linalg.cholesky_ex(Hd)
        if int(info) == 0:
            Hinv = torch.cholesky_inverse(L)
            U, info = torch.linalg.cholesky_ex(Hinv, upper=True)
            if int(info) == 0 and bool(torch.isfinite(U).all()):
                return U, lam
    raise PruneScopeError(f"the calibration Hessian stayed singular even with damping {lam:g}; "
                          "use more calibration samples")


def sparsegpt_prune(W: torch.Tensor, H: torch.Tensor, sparsity: float, n: int = 0, m: int = 0,
                    damping: float = 0.01) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Prune an (out, in) weight given H = sum x x^T; returns (new W, keep-mask, damping used).

    Unstructured: exactly round(sparsity * numel) weights go, chosen block by block by the OBS
    saliency w^2 / [Hinv]_jj^2 (cumulative counts keep the layer total exact). N:M: in every
    group of m inputs the m - n lowest-saliency weights go.
    """
    W = W.detach().clone().float()
    rows, cols = W.shape
    H = H.float()
    W[:, torch.diagonal(H) == 0] = 0
    Hinv, lam = inverse_hessian_factor(H, damping)
    keep = torch.ones_like(W, dtype=torch.bool)
    target_total = round(sparsity * W.numel()) if not m else 0
    removed = 0
    for i1 in range(0, cols, BLOCK):
        i2 = min(i1 + BLOCK, cols)
        W1, Hinv1 = W[:, i1:i2].clone(), Hinv[i1:i2, i1:i2]
        Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
        d = torch.diagonal(Hinv1)
        if not m:  # adaptive mask selection for this block of columns
            k = round(sparsity * rows * i2) - removed
            prune1 = ~lowest_k_mask(W1 ** 2 / d.unsqueeze(0) ** 2, k)
            removed += k
        else:
            prune1 = torch.zeros_like(W1, dtype=torch.bool)
        for i in range(i2 - i1):
            w = W1[:, i]
            if m and i % m == 0:
                sal = W1[:, i:i + m] ** 2 / d[i:i + m].unsqueeze(0) ** 2
                prune1.scatter_(1, i + torch.topk(sal, m - n, dim=1, largest=False).indices, True)
            q = w.clone()
            q[prune1[:, i]] = 0
            Q1[:, i] = q
            err = (w - q) / d[i]
            W1[:, i:] -= err.unsqueeze(1) @ Hinv1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i1:i2] = Q1
        keep[:, i1:i2] = ~prune1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    if not bool(torch.isfinite(W).all()):
        raise PruneScopeError("SparseGPT produced non-finite weights; raise damping or add calibration samples")
    assert target_total == 0 or int((~keep).sum()) == target_total
    return W * keep, keep, lam


@dataclass(frozen=True)
class SparseGPTParams:
    # lambda = damping * mean(diag H) is added to H's diagonal before it is inverted (the paper's 1 %)
    damping: float = param(0.01, label="Damping (fraction of mean diag H)", min=0.0001, max=10.0, step=0.001,
                           help="SparseGPT adds damping x the mean of the Hessian's diagonal to it before "
                                "inverting it; more damping is more stable and closer to magnitude pruning")


@register
class SparseGPT(CalibratedMethod):
    info = MethodInfo("sparsegpt", "Hessian-aware removal + update of the kept weights (Frantar & "
                                   "Alistarh 2023); needs calibration data", needs_calibration=True,
                      explain="SparseGPT uses the correlations between a layer's inputs on training samples (the "
                              "Hessian X^T X) to remove the weights whose loss hurts the layer's output least. It "
                              "then adjusts the weights it keeps to make up for the removed ones, so the pruned "
                              "model's surviving weights differ from the dense ones.")
    params = SparseGPTParams
    full_gram = True

    def prune_layer(self, W, stats: LayerInputStats, config, target, calibration):
        pat = parse_pattern(config.pattern)
        damping = self.param_values(config).damping
        new_w, keep, lam = sparsegpt_prune(W, stats.gram, config.sparsity, pat.n, pat.m, damping)
        if lam > damping:
            calibration.notes.append(f"Hessian of {target.module} was not positive definite with damping "
                                     f"{damping:g}; raised automatically to {lam:g}")
        return keep, new_w
