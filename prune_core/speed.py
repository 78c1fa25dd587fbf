"""Speed variants of one model, timed side by side: where pruning can and cannot make it faster.

Variants: dense; masked (zeros in dense matrices: same kernels, same speed); CSR (the pruned
layers run `torch.sparse.mm` on a compressed-row matrix: only wins at very high sparsity);
physically smaller (structured removal, built in `structural/`). Also the ideal speedup
from FLOPs, a batch-size sweep and the CSR break-even sparsity of one layer.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from .config import PruneConfig
from .latency import measure_latency, summarize_ms, timing_threads
from .masks import MaskSet
from .run import LatencySpec, latency_inputs, measure_quality, prune_masks, prune_model
from .targets import Target, as_out_in, find_targets


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
    for t in targets:
        old = model.get_submodule(t.module)
        model.set_submodule(t.module, CSRLinear(as_out_in(old.weight, t), old.bias))
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
    return summarize_ms(xs)


@torch.inference_mode()
def csr_break_even(weight: torch.Tensor, sparsities: list[float], tokens: int, reps: int = 20,
                   warmup: int = 3, threads: int = 2, seed: int = 0) -> list[LayerTiming]:
    """Time dense vs CSR for one (out, in) weight, magnitude-pruned to each sparsity."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, weight.shape[1], generator=gen)
    rows = []
    with timing_threads(threads):
        for s in sparsities:
            k = round(s * weight.numel())
            w = weight.detach().contiguous().clone()
            if k:
                w.view(-1)[torch.topk(w.abs().view(-1), k, largest=False).indices] = 0
            csr = CSRLinear(w, None)
            for variant, fn in (("dense", lambda: nn.functional.linear(x, w)), ("csr", lambda: csr(x))):
                rows.append(LayerTiming(variant, s, tokens, *_time(fn, reps, warmup)))
    return rows


def break_even_sparsity(rows: list[LayerTiming]) -> float | None:
    """Lowest sparsity at which CSR's median is at most dense's (None: never in the sweep)."""
    by_s: dict[float, dict[str, float]] = {}
    for r in rows:
        by_s.setdefault(r.sparsity, {})[r.variant] = r.median_ms
    wins = [s for s, v in sorted(by_s.items()) if v.get("csr", float("inf")) <= v.get("dense", 0)]
    return wins[0] if wins else None


BREAK_EVEN_SPARSITIES = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]


def largest_layer_break_even(model: nn.Module, tokens: int) -> tuple[list[LayerTiming], str, float | None]:
    """Dense vs CSR on the model's largest MLP layer (most weights, so the best case for CSR) over
    `BREAK_EVEN_SPARSITIES`: (timings, layer, break-even sparsity or None)."""
    params = dict(model.named_parameters())
    target = max(find_targets(model, "mlp"), key=lambda t: t.numel)
    rows = csr_break_even(as_out_in(params[target.name].detach(), target), BREAK_EVEN_SPARSITIES, tokens)
    return rows, target.module, break_even_sparsity(rows)


@dataclass
class VariantResult:
    """One speed variant of the model on the same batch."""

    variant: str  # "dense" | "masked" | "csr" | "structured"
    what: str  # how it computes, in words
    median_ms: float
    q1_ms: float
    q3_ms: float
    gflops: float  # multiply-adds of the Linear layers that this variant cannot skip, x2
    ideal_ms: float  # dense median scaled by this variant's FLOPs: what perfect kernels would give
    params: int
    quality: float | None
    setup: str

    def to_dict(self) -> dict:
        return asdict(self)


WHAT = {
    "dense": "the unpruned model, dense fp32 kernels",
    "masked": "pruned weights are zeros inside the same dense matrices (unstructured magnitude)",
    "csr": "the same zeros, but pruned layers run torch.sparse CSR matmuls that skip them",
    "structured": "MLP neurons physically removed: genuinely smaller dense matrices",
}


def pruned_pair(sparsity: float) -> tuple[PruneConfig, PruneConfig]:
    """The two ways every speed comparison prunes `sparsity`: magnitude-masked weights (layer allocation),
    and that share of each block's MLP neurons physically removed (magnitude importance)."""
    return (PruneConfig(method="magnitude", sparsity=sparsity),
            PruneConfig(method="magnitude", pattern="neuron", sparsity=sparsity))


@dataclass(frozen=True)
class Sources:
    """Where a speed comparison gets its masks and held-out quality figures. `fresh` computes them; a
    server passes its shared cache instead, so a setting another page already pruned or scored is reused.

    `quality(config, model)`: `model` is the loaded model pruned with `config` (None: the dense model)."""

    masks: Callable[[PruneConfig], MaskSet]
    quality: Callable[[PruneConfig | None, nn.Module], float]

    @classmethod
    def fresh(cls, loaded) -> "Sources":
        return cls(lambda config: prune_masks(loaded, config), lambda config, model: measure_quality(loaded, model))


def masked_and_shrunk(loaded, sparsity: float, sources: Sources | None = None):
    """(mask set, magnitude-masked copy, copy with that share of MLP neurons removed): the two ways
    to prune `sparsity` that every speed comparison puts side by side (`pruned_pair`)."""
    sources = sources or Sources.fresh(loaded)
    masked_config, shrunk_config = pruned_pair(sparsity)
    mask_set, masked = prune_model(loaded, masked_config, mask_set=sources.masks(masked_config))
    _, small = prune_model(loaded, shrunk_config, mask_set=sources.masks(shrunk_config))
    return mask_set, masked, small


def compare_variants(loaded, sparsity: float, spec, with_quality: bool = True,
                     sources: Sources | None = None) -> list[VariantResult]:
    """Dense, masked, CSR and structurally smaller models timed on one batch, interleaved.

    `sparsity` is the fraction of weights (masked, CSR) or of MLP neurons (structured) removed.
    """
    sources = sources or Sources.fresh(loaded)
    mask_set, masked, small = masked_and_shrunk(loaded, sparsity, sources)
    models = {"dense": loaded.model, "masked": masked, "csr": to_csr_model(masked, mask_set.targets),
              "structured": small}
    inputs = latency_inputs(loaded, spec)
    lat = measure_latency(models, inputs, spec.reps, spec.warmup, spec.threads)
    tokens = int(inputs["input_ids"].numel())
    dense_flops = linear_flops(loaded.model, tokens)
    flops = {"dense": dense_flops, "masked": dense_flops,  # dense kernels do every multiply
             "csr": linear_flops(models["csr"], tokens), "structured": linear_flops(models["structured"], tokens)}
    quality = {}
    if with_quality:
        masked_config, shrunk_config = pruned_pair(sparsity)
        quality["dense"] = sources.quality(None, loaded.model)
        quality["masked"] = quality["csr"] = sources.quality(masked_config, masked)
        quality["structured"] = sources.quality(shrunk_config, small)
    out = []
    for key, model in models.items():
        s = lat[key]
        params = sum(p.numel() for p in model.parameters()) + sum(
            m.weight_csr.values().numel() for m in model.modules() if isinstance(m, CSRLinear))
        out.append(VariantResult(key, WHAT[key], s.median_ms, s.q1_ms, s.q3_ms, flops[key] / 1e9,
                                 lat["dense"].median_ms * flops[key] / dense_flops, params, quality.get(key), s.setup))
    return out


def batch_sweep(loaded, sparsity: float, batches: list[int], seq_len: int, reps: int = 5,
                threads: int = 2, sources: Sources | None = None) -> list[dict]:
    """Median latency of dense, masked and structured over batch sizes (CSR is shown per layer)."""
    _, masked, small = masked_and_shrunk(loaded, sparsity, sources)
    models = {"dense": loaded.model, "masked": masked, "structured": small}
    rows = []
    for b in batches:
        spec = LatencySpec(batch=b, seq_len=seq_len, reps=reps, warmup=1, threads=threads)
        for key, s in measure_latency(models, latency_inputs(loaded, spec), reps, 1, threads).items():
            rows.append({"variant": key, "batch": b, "median_ms": s.median_ms, "q1_ms": s.q1_ms, "q3_ms": s.q3_ms})
    return rows


def tradeoff(loaded, sparsities: list[float], spec, sources: Sources | None = None) -> list[dict]:
    """Quality and latency of unstructured (masked) vs structured pruning at several sparsities."""
    sources = sources or Sources.fresh(loaded)
    inputs = latency_inputs(loaded, spec)
    dense_params = sum(p.numel() for p in loaded.model.parameters())
    rows = [{"kind": "dense", "sparsity": 0.0, "quality": sources.quality(None, loaded.model),
             "params_removed": 0.0, "model": loaded.model}]
    for s in sparsities:
        mask_set, masked, small = masked_and_shrunk(loaded, s, sources)
        masked_config, shrunk_config = pruned_pair(s)
        removed = sum(int((~m).sum()) for m in mask_set.masks.values())
        rows.append({"kind": "unstructured (masked)", "sparsity": s,
                     "quality": sources.quality(masked_config, masked),
                     "params_removed": removed / dense_params, "model": masked})
        rows.append({"kind": "structured (MLP neurons)", "sparsity": s,
                     "quality": sources.quality(shrunk_config, small),
                     "params_removed": 1 - sum(p.numel() for p in small.parameters()) / dense_params, "model": small})
    lat = measure_latency({i: r["model"] for i, r in enumerate(rows)}, inputs, spec.reps, spec.warmup, spec.threads)
    for i, r in enumerate(rows):
        del r["model"]
        r["median_ms"] = lat[i].median_ms
        r["setup"] = lat[i].setup
    return rows
