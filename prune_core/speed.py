"""Speed variants of one model, timed side by side: where pruning can and cannot make it faster.

Variants: dense; masked (zeros in dense matrices: same kernels, same speed); CSR (the pruned
layers run `torch.sparse.mm` on a compressed-row matrix: only wins at very high sparsity);
physically smaller (structured removal, built in `structural.py`). Also the ideal speedup
from FLOPs, a batch-size sweep and the CSR break-even sparsity of one layer.
"""
from __future__ import annotations

import copy
import statistics
import time
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .targets import Target, as_out_in


class CSRLinear(nn.Module):
    """y = x W^T + b with W stored as a torch.sparse CSR matrix (out, in)."""

    def __init__(self, weight_out_in: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        with warnings.catch_warnings():  # "CSR support is in beta": known, and what we measure
            warnings.simplefilter("ignore")
            self.weight_csr = weight_out_in.detach().to_sparse_csr()
        self.bias = None if bias is None else bias.detach()
        self.in_features, self.out_features = weight_out_in.shape[1], weight_out_in.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        y = torch.sparse.mm(self.weight_csr, flat.t()).t()
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def to_csr_model(pruned: nn.Module, targets: list[Target]) -> nn.Module:
    """Copy of a masked model whose target layers compute with CSR weights."""
    model = copy.deepcopy(pruned)
    modules = dict(model.named_modules())
    for t in targets:
        old = modules[t.module]
        parent_name, _, child = t.module.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        setattr(parent, child, CSRLinear(as_out_in(old.weight, t), old.bias))
    return model


def linear_flops(model: nn.Module, tokens: int) -> int:
    """2 x (nonzero weights of Linear/Conv1D layers) x tokens: the multiply-adds that sparsity can skip."""
    total = 0
    for m in model.modules():
        if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D":
            total += 2 * int((m.weight != 0).sum()) * tokens
        elif isinstance(m, CSRLinear):
            total += 2 * int(m.weight_csr.values().numel()) * tokens
    return total


@dataclass
class LayerTiming:
    """One point of a layer-level sweep."""

    variant: str  # "dense" | "csr"
    sparsity: float
    tokens: int
    median_ms: float
    q1_ms: float
    q3_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def _time(fn, reps: int, warmup: int) -> tuple[float, float, float]:
    for _ in range(warmup):
        fn()
    xs = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return statistics.median(xs), q[0], q[2]


@torch.inference_mode()
def csr_break_even(weight: torch.Tensor, sparsities: list[float], tokens: int, reps: int = 20,
                   warmup: int = 3, threads: int = 2, seed: int = 0) -> list[LayerTiming]:
    """Time dense vs CSR for one (out, in) weight, magnitude-pruned to each sparsity."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, weight.shape[1], generator=gen)
    rows = []
    try:
        for s in sparsities:
            k = round(s * weight.numel())
            w = weight.clone()
            if k:
                w.view(-1)[torch.topk(w.abs().view(-1), k, largest=False).indices] = 0
            csr = CSRLinear(w, None)
            for variant, fn in (("dense", lambda: nn.functional.linear(x, w)), ("csr", lambda: csr(x))):
                rows.append(LayerTiming(variant, s, tokens, *_time(fn, reps, warmup)))
    finally:
        torch.set_num_threads(previous)
    return rows


def break_even_sparsity(rows: list[LayerTiming]) -> float | None:
    """Lowest sparsity at which CSR's median is at most dense's (None: never in the sweep)."""
    by_s: dict[float, dict[str, float]] = {}
    for r in rows:
        by_s.setdefault(r.sparsity, {})[r.variant] = r.median_ms
    wins = [s for s, v in sorted(by_s.items()) if v.get("csr", float("inf")) <= v.get("dense", 0)]
    return wins[0] if wins else None
