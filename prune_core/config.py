"""`PruneConfig`: the user's choices for one pruning run, validated once, serialisable."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import PruneScopeError
from .patterns import parse_pattern
from .targets import SCOPES

ALLOCATIONS = {
    "layer": "every layer pruned to the target sparsity",
    "global": "one threshold across all layers in scope; layers end up unequal",
}
MAX_SPARSITY = 0.99
# Caps that keep one run within memory and minutes on a laptop; the error message names them.
MAX_CALIB_SAMPLES = 1024  # calibration sequences (the papers use 128)
MAX_CALIB_SEQ_LEN = 8192  # tokens per calibration sequence (the model's own maximum applies too)
MAX_SEED = 2**32 - 1  # seeds are stored as SQLite integers and passed to every RNG


@dataclass(frozen=True)
class PruneConfig:
    method: str = "magnitude"  # importance score, a name in the method registry
    sparsity: float = 0.5  # fraction of weights in scope to remove, in [0, 1)
    pattern: str = "unstructured"  # "unstructured" or "N:M" (keep N of every M inputs)
    allocation: str = "layer"  # "layer" or "global"
    scope: str = "all"  # "all" | "attention" | "mlp"
    include_head: bool = False  # also prune the LM / classifier head
    seed: int = 0  # used by random scores and by anything sampled
    # Calibration-aware methods only (Wanda, SparseGPT): samples drawn from the training split.
    calib_samples: int = 32  # sequences; more = better statistics, slower
    calib_seq_len: int = 128  # tokens per sequence (tweets are used whole, up to this length)
    damping: float = 0.01  # SparseGPT: lambda = damping * mean(diag H) added to H's diagonal

    def validated(self) -> "PruneConfig":
        """Check every field; N:M patterns fix the sparsity, so fill it in for them."""
        from .methods import get_method  # late import: methods import this module
        from .structural import IMPORTANCE

        for name in ("method", "pattern", "allocation", "scope"):
            if not isinstance(getattr(self, name), str):
                raise PruneScopeError(f"{name} must be a name (text), got {getattr(self, name)!r}")
        pattern = parse_pattern(self.pattern)
        if pattern.structural:
            usable = [n for n, imp in IMPORTANCE.items() if pattern.unit in imp.units]
            if self.method not in usable:
                raise PruneScopeError(f"pattern '{pattern.name}' removes whole units; its methods (unit "
                                      f"importance) are: {', '.join(usable)}")
        else:
            get_method(self.method)
        try:
            sparsity = float(self.sparsity)
        except (TypeError, ValueError):
            raise PruneScopeError(f"sparsity must be a number in [0, 1), got {self.sparsity!r}") from None
        if not 0.0 <= sparsity < 1.0 or sparsity != sparsity:
            raise PruneScopeError(
                f"sparsity must be in [0, 1) (a fraction: 0.5 removes half the weights), got {self.sparsity}")
        if sparsity > MAX_SPARSITY:
            raise PruneScopeError(f"sparsity above {MAX_SPARSITY} leaves almost nothing; got {sparsity}")
        if pattern.is_nm:
            if abs(sparsity - pattern.fixed_sparsity) > 0.005:
                raise PruneScopeError(
                    f"pattern {pattern.name} always removes {pattern.fixed_sparsity:.0%} of the weights; "
                    f"asked for {sparsity:.0%}. Use sparsity {pattern.fixed_sparsity} or 'unstructured'")
            if self.allocation != "layer":
                raise PruneScopeError(f"pattern {pattern.name} is chosen group by group, so allocation must be 'layer'")
        if self.allocation not in ALLOCATIONS:
            raise PruneScopeError(f"unknown allocation '{self.allocation}'; choose one of: {', '.join(ALLOCATIONS)}")
        if self.scope not in SCOPES:
            raise PruneScopeError(f"unknown scope '{self.scope}'; choose one of: {', '.join(SCOPES)}")
        if not _whole(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise PruneScopeError(f"seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        if not _whole(self.calib_samples) or self.calib_samples < 1:
            raise PruneScopeError(f"calibration needs at least 1 sample, got {self.calib_samples!r}")
        if self.calib_samples > MAX_CALIB_SAMPLES:
            raise PruneScopeError(f"at most {MAX_CALIB_SAMPLES} calibration samples (the cap keeps a run within "
                                  f"memory and minutes; 32-128 is plenty), got {self.calib_samples}")
        if not _whole(self.calib_seq_len) or not 2 <= self.calib_seq_len <= MAX_CALIB_SEQ_LEN:
            raise PruneScopeError(f"calibration sequence length must be from 2 to {MAX_CALIB_SEQ_LEN} tokens, "
                                  f"got {self.calib_seq_len!r}")
        if isinstance(self.damping, bool) or not isinstance(self.damping, (int, float)) or not 0 < self.damping < 10:
            raise PruneScopeError(f"damping must be in (0, 10), got {self.damping!r}")
        if not pattern.structural and get_method(self.method).info.needs_calibration and self.allocation != "layer":
            raise PruneScopeError(f"{self.method} prunes block by block on calibration data, so allocation "
                                  "must be 'layer'")
        return PruneConfig(self.method, sparsity, self.pattern, self.allocation, self.scope,
                           bool(self.include_head), self.seed, self.calib_samples, self.calib_seq_len,
                           float(self.damping))

    def to_dict(self) -> dict:
        return asdict(self)


def _whole(value) -> bool:
    """An int, not a bool (JSON true would otherwise pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)
