"""Where two pruning methods disagree: the same sparsity and pattern, two importance scores.

Why: a single quality number says *that* Wanda beats magnitude, not *why*. Comparing their pruned
sets weight by weight shows where they differ, and plotting |w| against the norm of the input
feature each weight multiplies (Wanda's statistic, from calibration data) shows the reason.

Every weight falls in exactly one of four classes, coded in two bits (bit 0: A pruned it, bit 1: B
pruned it), so the classes partition the matrix by construction. Masks come from
`run.prune_masks` (the method registry); nothing here touches the model.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .calibration import Calibration, calibration_inputs, sequential_prune
from .config import PruneConfig
from .errors import PruneScopeError
from .masks import MaskSet
from .patterns import parse_pattern
from .run import prune_masks
from .targets import Target, as_out_in, find_targets
from .zoo import LoadedModel

# index = code: bit 0 set when method A pruned the weight, bit 1 when method B did
CLASSES = ("kept by both", "pruned only by A", "pruned only by B", "pruned by both")
MAX_POINTS = 20_000  # scatter sample: a browser draws this many WebGL points smoothly


def class_codes(keep_a: np.ndarray, keep_b: np.ndarray) -> np.ndarray:
    """uint8 code per weight (index into CLASSES) from two keep-masks of the same shape."""
    keep_a, keep_b = np.asarray(keep_a, dtype=bool), np.asarray(keep_b, dtype=bool)
    if keep_a.shape != keep_b.shape:
        raise PruneScopeError(f"masks differ in shape: {keep_a.shape} vs {keep_b.shape}")
    return (~keep_a).astype(np.uint8) | ((~keep_b).astype(np.uint8) << 1)


def class_counts(codes: np.ndarray) -> np.ndarray:
    """Number of weights in each of the four classes (sums to codes.size)."""
    return np.bincount(np.asarray(codes, dtype=np.uint8).reshape(-1), minlength=4)[:4]


@dataclass
class Disagreement:
    """Two methods' keep-masks for every matrix in scope, (out, in) layout, bit-packed (a few MB)."""

    config_a: PruneConfig
    config_b: PruneConfig
    targets: list[Target]
    packed: dict[str, tuple[np.ndarray, np.ndarray, tuple[int, int]]]  # module -> (bits A, bits B, shape)

    def keeps(self, module: str) -> tuple[np.ndarray, np.ndarray]:
        """(keep A, keep B) of one matrix, (out, in)."""
        if module not in self.packed:
            raise PruneScopeError(f"'{module}' is not one of the compared matrices")
        a, b, shape = self.packed[module]
        n = shape[0] * shape[1]
        return (np.unpackbits(a, count=n).reshape(shape).astype(bool),
                np.unpackbits(b, count=n).reshape(shape).astype(bool))

    def codes(self, module: str) -> np.ndarray:
        return class_codes(*self.keeps(module))

    def layer_table(self) -> pd.DataFrame:
        """One row per matrix: counts and shares of the four classes, and the overlap of the pruned sets
        (Jaccard: pruned by both / pruned by either; 1 = the methods agree exactly)."""
        rows = []
        for t in self.targets:
            counts = class_counts(self.codes(t.module))
            either = counts[1] + counts[2] + counts[3]
            row = {"layer": t.module, "kind": t.kind, "params": t.numel}
            row.update({c: int(n) for c, n in zip(CLASSES, counts)})
            row.update({f"share {c}": n / t.numel for c, n in zip(CLASSES, counts)})
            row["overlap"] = float(counts[3] / either) if either else 1.0
            rows.append(row)
        return pd.DataFrame(rows)


def compare_methods(loaded: LoadedModel, method_a: str, method_b: str, sparsity: float,
                    pattern: str = "unstructured", seed: int = 0,
                    mask_source: Callable[[PruneConfig], MaskSet] | None = None) -> Disagreement:
    """Masks of both methods at the same sparsity and pattern (layer allocation, default calibration).

    `mask_source(config)` gives the masks (default `run.prune_masks`); a page passes its shared cache, so
    masks another page already computed for the same setting are reused."""
    if parse_pattern(pattern).structural:
        raise PruneScopeError(f"pattern '{pattern}' removes whole units; compare methods weight by weight with "
                              "'unstructured' or an N:M pattern")
    base = PruneConfig(method=method_a, sparsity=sparsity, pattern=pattern, seed=seed)
    config_a, config_b = base.validated(), replace(base, method=method_b).validated()
    source = mask_source or (lambda config: prune_masks(loaded, config))
    set_a, set_b = source(config_a), source(config_b)
    packed = {}
    for t in set_a.targets:
        a = as_out_in(set_a.masks[t.name], t).numpy()
        b = as_out_in(set_b.masks[t.name], t).numpy()
        packed[t.module] = (np.packbits(a), np.packbits(b), a.shape)
    return Disagreement(config_a, config_b, list(set_a.targets), packed)


def input_norms(loaded: LoadedModel, module: str, config: PruneConfig) -> tuple[np.ndarray, int]:
    """(||X_j||_2 per input feature j of one matrix, number of calibration tokens), on the dense model.

    The same calibration samples and hooks as Wanda (`calibration.sequential_prune`), with a block
    pruner that keeps every weight, so the statistics are those of the dense model's inputs (Wanda's own
    are taken after earlier blocks are pruned: identical in the first block, close after it)."""
    target = next((t for t in find_targets(loaded.model, "all") if t.module == module), None)
    if target is None:
        raise PruneScopeError(f"'{module}' is not a matrix inside the Transformer blocks")
    samples = calibration_inputs(loaded, config.calib_samples, config.calib_seq_len, config.seed)
    seen = {}
    params = dict(loaded.model.named_parameters())

    def keep_all(block_targets, stats):
        seen.update(stats)
        return {t.name: torch.ones_like(params[t.name], dtype=torch.bool) for t in block_targets}, {}

    sequential_prune(loaded.model, [target], Calibration(samples), keep_all, full_gram=False)
    stats = seen[target.name]
    return stats.sq_norm.sqrt().numpy(), stats.tokens


def scatter_sample(weight: np.ndarray, norms: np.ndarray, codes: np.ndarray, n: int = MAX_POINTS,
                   seed: int = 0) -> pd.DataFrame:
    """At most `n` weights of one (out, in) matrix, drawn without replacement (seeded): their |w|, the norm
    of their input feature, their class and position. All weights when the matrix has at most `n`."""
    weight, codes = np.asarray(weight), np.asarray(codes)
    if weight.shape != codes.shape or weight.shape[1] != len(norms):
        raise PruneScopeError(f"shapes do not match: weight {weight.shape}, codes {codes.shape}, norms {len(norms)}")
    total = weight.size
    idx = np.arange(total) if total <= n else np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    rows, cols = np.divmod(idx, weight.shape[1])
    code = codes.reshape(-1)[idx]
    return pd.DataFrame({"abs_weight": np.abs(weight.reshape(-1)[idx]).astype(float),
                         "input_norm": np.asarray(norms, dtype=float)[cols], "code": code,
                         "class": np.asarray(CLASSES)[code], "row": rows, "col": cols})
