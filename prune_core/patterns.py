"""Granularity of a mask: which weights may be removed together.

Patterns turn a score matrix (out, in) into a keep-mask. They know nothing about how the
scores were made, so every method combines with every pattern.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from .errors import PruneScopeError


@dataclass(frozen=True)
class Pattern:
    """`n`:`m` keeps n of every m consecutive input weights; unstructured has n = m = 0."""

    name: str
    n: int = 0
    m: int = 0
    unit: str | None = None  # "neuron" | "head": whole units are removed physically (structural.py)

    @property
    def is_nm(self) -> bool:
        return self.m > 0

    @property
    def structural(self) -> bool:
        return self.unit is not None

    @property
    def fixed_sparsity(self) -> float | None:
        """N:M fixes the sparsity at (M - N) / M; unstructured follows the slider."""
        return (self.m - self.n) / self.m if self.is_nm else None


PATTERNS = {
    "unstructured": "any weight may go; sparsity set freely",
    "2:4": "2 of every 4 consecutive input weights kept (50 %); GPU sparse tensor cores run it",
    "4:8": "4 of every 8 consecutive input weights kept (50 %); more freedom than 2:4",
    "neuron": "whole MLP neurons removed: genuinely smaller matrices (sparsity = share of neurons)",
    "head": "whole attention heads removed (Llama: whole KV groups) (sparsity = share of heads)",
}
_NM_RE = re.compile(r"^(\d+):(\d+)$")


def parse_pattern(name: str) -> Pattern:
    """'unstructured' or 'N:M' with 0 < N < M."""
    if name == "unstructured":
        return Pattern(name)
    if name in ("neuron", "head"):
        return Pattern(name, unit=name)
    match = _NM_RE.match(name or "")
    if not match:
        raise PruneScopeError(f"unknown pattern '{name}'; use 'unstructured' or N:M such as 2:4, 4:8")
    n, m = int(match.group(1)), int(match.group(2))
    if not 0 < n < m:
        raise PruneScopeError(f"pattern {name}: need 0 < N < M (keep N of every M weights)")
    return Pattern(name, n, m)


def _flat_numpy(scores: torch.Tensor) -> np.ndarray:
    return scores.detach().reshape(-1).float().cpu().numpy()


def lowest_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep-mask that removes exactly the k lowest scores."""
    return lowest_k_with_cut(scores, k)[0]


def lowest_k_with_cut(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, float | None]:
    """`lowest_k_mask` plus the largest score removed (the cut), found in the same pass.

    NumPy's introselect (`argpartition`) is O(n) and ~20x faster on CPU than torch.topk here;
    after it, position k-1 holds the k-th lowest score, i.e. the largest one removed.
    """
    keep = np.ones(scores.numel(), dtype=bool)
    cut = None
    if k > 0:
        flat = _flat_numpy(scores)
        idx = np.argpartition(flat, k - 1)[:k]
        keep[idx] = False
        cut = float(flat[idx].max())
    return torch.from_numpy(keep).view(scores.shape), cut


def per_row_lowest_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Remove exactly k weights in total, spread evenly over rows (Wanda's per-output comparison).

    Each row loses its k // rows lowest scores; the first k % rows rows lose one more, so the
    layer's count is exact while every output neuron keeps almost the same fan-in. One O(n)
    `argpartition` per matrix: position `base` of each row then holds its (base+1)-th lowest.
    """
    rows, cols = scores.shape
    base, extra = divmod(k, rows)
    keep = np.ones((rows, cols), dtype=bool)
    if k == 0:
        return torch.from_numpy(keep)
    values = scores.detach().float().cpu().numpy()
    kth = min(base, cols - 1)
    order = np.argpartition(values, kth, axis=1)
    np.put_along_axis(keep, order[:, :base], False, axis=1)
    if extra:
        keep[np.arange(extra), order[:extra, base]] = False
    return torch.from_numpy(keep)


def nm_mask(scores: torch.Tensor, pattern: Pattern, layer: str) -> torch.Tensor:
    """Keep the N highest scores in every group of M consecutive inputs of each row."""
    out_f, in_f = scores.shape
    if in_f % pattern.m:
        raise PruneScopeError(
            f"pattern {pattern.name} needs the input width to divide by {pattern.m}, "
            f"but layer '{layer}' has {in_f} inputs")
    groups = scores.reshape(out_f, in_f // pattern.m, pattern.m).float()
    drop = torch.topk(groups, pattern.m - pattern.n, dim=-1, largest=False).indices
    keep = torch.ones_like(groups, dtype=torch.bool)
    keep.scatter_(-1, drop, False)
    return keep.reshape(out_f, in_f)


def kth_smallest(values: list[torch.Tensor], k: int, seed: int = 0) -> float:
    """The k-th smallest (1-based) of all values in several tensors, exactly, without concatenating.

    A random sample brackets the answer in a narrow band; one counting pass and a selection inside
    the band (a tiny fraction of the values) finish the job, all in multi-threaded torch ops. Falls
    back to a full selection when the sample misses, so the result is always exact.
    """
    flats = [v.reshape(-1) for v in values]
    n = sum(f.numel() for f in flats)
    if n > 4_000_000:
        gen = torch.Generator().manual_seed(seed)
        sample = torch.cat([f[torch.randint(0, f.numel(), (max(1, 1_000_000 * f.numel() // n),), generator=gen)]
                            for f in flats]).sort().values
        q = k / n
        lo = sample[max(0, int((q - 0.002) * sample.numel()))]
        hi = sample[min(sample.numel() - 1, int((q + 0.002) * sample.numel()))]
        below = sum(int((f < lo).sum()) for f in flats)
        band = torch.cat([f[(f >= lo) & (f <= hi)] for f in flats])
        if below < k <= below + band.numel():
            return float(torch.kthvalue(band, k - below).values)
    return float(np.partition(np.concatenate([_flat_numpy(f) for f in flats]), k - 1)[k - 1])


def global_lowest_k(scores: list[torch.Tensor], k: int) -> tuple[list[torch.Tensor], float | None]:
    """Remove the k lowest scores across all matrices with one threshold (exact count);
    returns the keep-masks and that threshold.

    Ties at the threshold are removed in model order until exactly k are gone. One selection
    and no full sort, no concatenated copy, no module surgery: fast on big models.
    """
    if k <= 0:
        return [torch.ones_like(s, dtype=torch.bool) for s in scores], None
    floats = [s.float() for s in scores]
    threshold = kth_smallest(floats, k)
    keeps = [(f >= threshold).contiguous() for f in floats]  # contiguous: ties are set through a flat view
    short = k - sum(int(f.numel() - kp.sum()) for f, kp in zip(floats, keeps))
    for f, kp in zip(floats, keeps):
        if short <= 0:
            break
        ties = torch.nonzero((f == threshold).reshape(-1)).squeeze(1)[:short]
        kp.view(-1)[ties] = False
        short -= ties.numel()
    return keeps, threshold
