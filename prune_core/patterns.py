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
    unit: str | None = None  # "neuron" | "head": whole units are removed physically (structural/)

    @property
    def is_nm(self) -> bool:
        return self.m > 0

    @property
    def structural(self) -> bool:
        return self.unit is not None

    @property
    def granularity(self) -> str:
        """What a method must be able to choose (`MethodInfo.granularities`): 'unstructured', 'N:M', or
        the unit removed whole ('neuron', 'head')."""
        return self.unit or ("N:M" if self.is_nm else "unstructured")

    @property
    def fixed_sparsity(self) -> float | None:
        """N:M fixes the sparsity at (M - N) / M; unstructured follows the slider."""
        return (self.m - self.n) / self.m if self.is_nm else None


WEIGHT_LEVEL = ("unstructured", "N:M")  # granularities that zero single weights and keep a mask of them
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


class _Selection:
    """Scores of several tensors read one tensor at a time through a reused scratch buffer.

    Fresh memory costs a page fault per 4 KiB: materialising |w| for a 85 M-weight model took longer
    than the whole selection. Here the scores of one tensor at a time go into the same buffer
    (cache-warm, no allocation), and one read of the weights settles all but a thin band of them.
    """

    def __init__(self, values: list[torch.Tensor], absolute: bool):
        self.values, self.absolute = values, absolute
        self.n = sum(v.numel() for v in values)
        self._buf = torch.empty(max(v.numel() for v in values), dtype=torch.float32)
        self._b1 = torch.empty(self._buf.numel(), dtype=torch.bool)
        self._b2 = torch.empty_like(self._b1)

    def scores(self, i: int) -> torch.Tensor:
        """Scores of tensor i as contiguous float32 in its own shape (the tensor itself, or the buffer)."""
        v = self.values[i].detach()
        if not self.absolute and v.dtype == torch.float32 and v.is_contiguous():
            return v
        out = self._buf[: v.numel()].view(v.shape)
        if self.absolute and v.dtype == torch.float32:
            return torch.abs(v, out=out)
        out.copy_(v)
        return out.abs_() if self.absolute else out

    def bracket(self, k: int, seed: int = 0) -> tuple[float, float]:
        """Scores that bracket the k-th smallest with near certainty: quantiles of a 1 M sample drawn
        as random runs of 16 neighbours (one cache line each: 16x fewer memory misses than single values)."""
        gen = torch.Generator().manual_seed(seed)
        parts = []
        for v in self.values:
            flat = (v if v.is_contiguous() else v.mT.contiguous()).detach().reshape(-1)  # storage order: no copy
            runs = flat[: flat.numel() // 16 * 16].view(-1, 16)
            if not len(runs):
                runs = flat.view(1, -1)
            picks = torch.randint(0, len(runs), (max(1, 62_500 * v.numel() // self.n),), generator=gen)
            part = runs[picks].reshape(-1).float()
            parts.append(part.abs() if self.absolute else part)
        sample = torch.cat(parts).numpy()
        q = k / self.n
        i_lo = max(0, int((q - 0.002) * sample.size))
        i_hi = min(sample.size - 1, int((q + 0.002) * sample.size))
        part = np.partition(sample, [i_lo, i_hi])
        return float(part[i_lo]), float(part[i_hi])

    def band_pass(self, lo: float, hi: float, keep_masks: bool):
        """One read of every score: how many are below `lo`; per tensor the band lo <= s <= hi as
        (row-major positions, values); and, if asked, the masks s >= lo, which become the keep-masks
        once the band is settled. Compares and counts run in NumPy on views of the same memory: its
        float-to-bool compares, popcount and flatnonzero are 3-12x faster than torch's here."""
        below, bands, masks = 0, [], []
        lo32, hi32 = np.float32(lo), np.float32(hi)  # exact: both are float32 scores
        for i in range(len(self.values)):
            f = self.scores(i).numpy()
            n = f.size
            ge = torch.empty(f.shape, dtype=torch.bool) if keep_masks else self._b1[:n].view(f.shape)
            ge_np = ge.numpy()
            np.greater_equal(f, lo32, out=ge_np)
            below += n - int(np.count_nonzero(ge_np))
            band = self._b2[:n].numpy().reshape(f.shape)
            np.logical_and(np.less_equal(f, hi32, out=band), ge_np, out=band)
            idx = np.flatnonzero(band)
            bands.append((torch.from_numpy(idx), torch.from_numpy(f.reshape(-1)[idx])))
            masks.append(ge)
        return below, bands, masks

    def exact(self, k: int) -> tuple[float, int, list[int]]:
        """(k-th smallest score, how many are below it, per tensor how many equal it) by a full selection."""
        flat = np.concatenate([self.scores(i).reshape(-1).numpy().copy() for i in range(len(self.values))])
        t = float(np.partition(flat, k - 1)[k - 1])
        sizes = np.cumsum([0] + [v.numel() for v in self.values])
        equal = flat == t
        return t, int((flat < t).sum()), [int(equal[a:b].sum()) for a, b in zip(sizes[:-1], sizes[1:])]


def kth_smallest(values: list[torch.Tensor], k: int, seed: int = 0) -> float:
    """The k-th smallest (1-based) of all values in several tensors, exactly, without concatenating.

    A random sample brackets the answer in a narrow band; one counting pass and a selection inside
    the band finish the job. Falls back to a full selection when the sample misses: always exact.
    """
    selection = _Selection(values, False)
    if selection.n > 4_000_000:
        below, bands, _ = selection.band_pass(*selection.bracket(k, seed), keep_masks=False)
        band = torch.cat([v for _, v in bands])
        if below < k <= below + band.numel():
            return float(torch.kthvalue(band, k - below).values)
    return selection.exact(k)[0]


def global_lowest_k(scores: list[torch.Tensor], k: int,
                    absolute: bool = False) -> tuple[list[torch.Tensor], float | None]:
    """Remove the k lowest scores across all matrices with one threshold (exact count);
    returns the keep-masks and that threshold. `absolute`: the scores are |scores| (magnitude
    pruning passes the weights themselves, so |w| is never stored).

    Ties at the threshold are removed in model order (row-major within each matrix) until exactly k
    are gone. torch.nn.utils.prune.global_unstructured removes the same weights except among those
    ties, where its choice is whatever std::nth_element leaves in place: identical masks whenever
    the cut falls between distinct values. One read of the weights on big models (the keep-masks
    come out of the counting pass), no sort, no concatenated copy.
    """
    if k <= 0:
        return [torch.ones_like(s, dtype=torch.bool) for s in scores], None
    selection = _Selection(scores, absolute)
    if selection.n > 4_000_000:
        below, bands, keeps = selection.band_pass(*selection.bracket(k), keep_masks=True)
        band = torch.cat([v for _, v in bands])
        if below < k <= below + band.numel():
            threshold = float(torch.kthvalue(band, k - below).values)
            short = k - below - int((band < threshold).sum())  # ties at the cut that must go, first ones first
            for keep, (idx, values) in zip(keeps, bands):
                flat = keep.view(-1)
                flat[idx[values < threshold]] = False
                if short > 0:
                    ties = idx[values == threshold][:short]
                    flat[ties] = False
                    short -= ties.numel()
            return keeps, threshold
    threshold, below, equal = selection.exact(k)
    short = k - below
    keeps = []
    for i, (s, eq) in enumerate(zip(scores, equal)):
        f = selection.scores(i)
        keep = torch.empty(s.shape, dtype=torch.bool)
        take = min(eq, short)
        short -= take
        if take == eq:  # every tie of this matrix goes (or it has none)
            torch.gt(f, threshold, out=keep)
        else:
            torch.ge(f, threshold, out=keep)
            keep.view(-1)[torch.nonzero((f == threshold).reshape(-1)).squeeze(1)[:take]] = False
        keeps.append(keep)
    return keeps, threshold
