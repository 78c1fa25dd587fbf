"""`PruneConfig`: the user's choices for one pruning run, serialisable; `ResolvedConfig`: the same
choices validated once against the method catalogue, with the pattern parsed and the method looked up,
so the run pipeline never re-parses a string."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from .checks import MAX_SEED, whole
from .errors import PruneScopeError
from .methods import PruningMethod, get_method
from .methods.params import ParamValues, check_values, specs
from .patterns import Pattern, parse_pattern
from .targets import SCOPES

ALLOCATIONS = {
    "layer": "every layer pruned to the target sparsity",
    "global": "one threshold across all layers in scope; layers end up unequal",
    "owl": "outlier-weighed (OWL, Yin et al. 2024): blocks with more outlier Wanda scores keep more weights; "
           "needs calibration data, unstructured only",
}
# OWL's settings, with the defaults of the authors' scripts (luuyin/OWL README: --Hyper_m 5 --Lamda 0.08)
OWL_HELP = {
    "owl_m": "a weight is an outlier when its Wanda score |w|·‖x‖ is above M times the mean score of its "
             "block; the outlier ratio is the share of such weights (paper default M = 5)",
    "owl_lambda": "block sparsities stay within target ± λ, lower where there are more outliers, and their "
                  "parameter-weighted mean is exactly the target; 0 gives every block the target (paper default 0.08)",
}
OWL_M_RANGE = (1.0, 100.0)
OWL_LAMBDA_RANGE = (0.0, 0.5)
# Fields a PruneConfig once had that a method now declares: every older record carries them.
FORMER_FIELDS = frozenset({"damping"})
MAX_SPARSITY = 0.99
# Caps that keep one run within memory and minutes on a laptop; the error message names them.
MAX_CALIB_SAMPLES = 1024  # calibration sequences (the papers use 128)
MAX_CALIB_SEQ_LEN = 8192  # tokens per calibration sequence (the model's own maximum applies too)


@dataclass(frozen=True, kw_only=True)  # by keyword: a positional 0.5 could be any of its numbers
class PruneConfig:
    method: str = "magnitude"  # importance score, a name in the method registry
    sparsity: float = 0.5  # fraction of weights in scope to remove, in [0, 1)
    pattern: str = "unstructured"  # "unstructured" or "N:M" (keep N of every M inputs)
    allocation: str = "layer"  # "layer", "global" or "owl"
    scope: str = "all"  # "all" | "attention" | "mlp"
    include_head: bool = False  # also prune the LM / classifier head
    seed: int = 0  # used by random scores and by anything sampled
    # Calibration-aware methods only (Wanda, SparseGPT): samples drawn from the training split.
    calib_samples: int = 32  # sequences; more = better statistics, slower
    calib_seq_len: int = 128  # tokens per sequence (tweets are used whole, up to this length)
    # OWL allocation only (see OWL_HELP): outlier threshold M (x the block's mean score) and sparsity spread λ
    owl_m: float = 5.0
    owl_lambda: float = 0.08
    # The method's own settings (its `params` dataclass), by field name, e.g. {"damping": 0.01} for SparseGPT;
    # validation fills in the defaults. Any mapping is accepted and kept read-only and hashable.
    method_params: Mapping[str, Any] = ParamValues()

    def __post_init__(self) -> None:
        if not isinstance(self.method_params, ParamValues):
            object.__setattr__(self, "method_params", ParamValues(self.method_params))

    def validated(self) -> "PruneConfig":
        """Check every field; N:M patterns fix the sparsity, so fill it in for them."""
        return self.resolved().config

    def resolved(self, pattern: Pattern | None = None, method: PruningMethod | None = None) -> "ResolvedConfig":
        """Every field checked and the names looked up (pattern, method in the catalogue). Done once per
        config: it is frozen and the catalogue does not change, so the pages' cache keys, the summary and
        the run that all ask for the same config share one validation. `pattern`, `method`: this config's,
        parsed and looked up already (a page's controls need them before the config exists); used only
        where they are this config's."""
        if "_resolution" not in self.__dict__:
            self.__dict__["_resolution"] = self._resolve(pattern, method)  # frozen: set as cached_property does
        return self.__dict__["_resolution"]

    def _resolve(self, pattern: Pattern | None, method: PruningMethod | None) -> "ResolvedConfig":
        for name in ("method", "pattern", "allocation", "scope"):
            if not isinstance(getattr(self, name), str):
                raise PruneScopeError(f"{name} must be a name (text), got {getattr(self, name)!r}")
        if pattern is None or pattern.name != self.pattern:
            pattern = parse_pattern(self.pattern)
        if method is None or method.info.name != self.method or pattern.granularity not in method.info.granularities:
            method = get_method(self.method, pattern)
        try:
            sparsity = float(self.sparsity)
        except (TypeError, ValueError):
            raise PruneScopeError(f"sparsity must be a number in [0, 1), got {self.sparsity!r}") from None
        if not 0.0 <= sparsity < 1.0 or sparsity != sparsity:
            raise PruneScopeError(
                f"sparsity must be in [0, 1) (a fraction: 0.5 removes half the weights), got {self.sparsity}")
        if sparsity > MAX_SPARSITY:
            raise PruneScopeError(f"sparsity above {MAX_SPARSITY} leaves almost nothing; got {sparsity}")
        if pattern.is_nm and abs(sparsity - pattern.fixed_sparsity) > 0.005:
            raise PruneScopeError(
                f"pattern {pattern.name} always removes {pattern.fixed_sparsity:.0%} of the weights; "
                f"asked for {sparsity:.0%}. Use sparsity {pattern.fixed_sparsity} or 'unstructured'")
        self._check_allocation(pattern, method)
        if self.scope not in SCOPES:
            raise PruneScopeError(f"unknown scope '{self.scope}'; choose one of: {', '.join(SCOPES)}")
        if not whole(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise PruneScopeError(f"seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        if not whole(self.calib_samples) or self.calib_samples < 1:
            raise PruneScopeError(f"calibration needs at least 1 sample, got {self.calib_samples!r}")
        if self.calib_samples > MAX_CALIB_SAMPLES:
            raise PruneScopeError(f"at most {MAX_CALIB_SAMPLES} calibration samples (the cap keeps a run within "
                                  f"memory and minutes; 32-128 is plenty), got {self.calib_samples}")
        if not whole(self.calib_seq_len) or not 2 <= self.calib_seq_len <= MAX_CALIB_SEQ_LEN:
            raise PruneScopeError(f"calibration sequence length must be from 2 to {MAX_CALIB_SEQ_LEN} tokens, "
                                  f"got {self.calib_seq_len!r}")
        for name, (low, high) in (("owl_m", OWL_M_RANGE), ("owl_lambda", OWL_LAMBDA_RANGE)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                label = "OWL M" if name == "owl_m" else "OWL λ (lambda)"
                raise PruneScopeError(f"{label} must be from {low:g} to {high:g}, got {value!r} ({OWL_HELP[name]})")
        config = replace(self, sparsity=sparsity, include_head=bool(self.include_head), owl_m=float(self.owl_m),
                         owl_lambda=float(self.owl_lambda), method_params=_method_params(method, self.method_params))
        resolution = ResolvedConfig(config=config, pattern=pattern, method=method)
        config.__dict__["_resolution"] = resolution  # valid already: validating it again changes nothing
        return resolution

    def _check_allocation(self, pattern: Pattern, method: PruningMethod) -> None:
        """The allocation against the pattern and the method (`usable_allocations` asks this alone)."""
        if pattern.is_nm and self.allocation == "owl":
            raise PruneScopeError(f"pattern {pattern.name} removes exactly {pattern.fixed_sparsity:.0%} of every "
                                  "layer, so OWL has no per-layer sparsity to vary; use 'unstructured' with OWL "
                                  "(the OWL authors' N:M variant mixes N:M ratios per block, which is no longer "
                                  "one pattern that N:M hardware runs)")
        if pattern.is_nm and self.allocation != "layer":
            raise PruneScopeError(f"pattern {pattern.name} is chosen group by group, so allocation must be 'layer'")
        if self.allocation not in ALLOCATIONS:
            raise PruneScopeError(f"unknown allocation '{self.allocation}'; choose one of: {', '.join(ALLOCATIONS)}")
        if self.allocation == "owl":
            self._check_owl(pattern, method)
        else:
            method.check(self)

    def _check_owl(self, pattern: Pattern, method: PruningMethod) -> None:
        """OWL's own limits: single weights (not N:M, not whole units), methods that take per-layer
        sparsities (`PruningMethod.check` refuses OWL for a training schedule), blocks only."""
        if pattern.granularity != "unstructured":  # N:M was refused above, with its own reason
            raise PruneScopeError(f"pattern '{pattern.name}' removes whole units chosen by their importance; OWL "
                                  "sets per-block shares of single weights, so use it with 'unstructured'")
        method.check(self)
        if self.include_head:
            raise PruneScopeError("OWL measures outliers block by block on calibration data and the head is outside "
                                  "the blocks; untick 'include head'")

    def to_dict(self) -> dict:
        """The fields, with the method's parameters beside them under their own names (as the CLI's options
        and the URL name them): {"method": "sparsegpt", ..., "damping": 0.01}."""
        out = asdict(self)
        return out | dict(out.pop("method_params"))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "PruneConfig":
        """The inverse of `to_dict`: keys that are not fields are the method's parameters (checked by
        validation). A former field of every config (`FORMER_FIELDS`) is dropped for a method that does not
        declare it, so older recipes and records load to the same config."""
        own = {f.name for f in fields(cls)} - {"method_params"}
        config = cls(**{k: v for k, v in raw.items() if k in own})
        rest = {k: v for k, v in raw.items() if k not in own}
        if "method_params" in rest:
            raise PruneScopeError("method parameters go beside the other settings (e.g. \"damping\": 0.01), "
                                  "not under 'method_params'")
        if rest.keys() & FORMER_FIELDS:
            rest = {k: v for k, v in rest.items() if k not in FORMER_FIELDS or k in config.declared_params()}
        return replace(config, method_params=rest)

    def declared_params(self) -> set[str]:
        """The parameter names the chosen method declares (none when the method or pattern is unknown)."""
        if not (isinstance(self.method, str) and isinstance(self.pattern, str)):
            return set()  # validation says what is wrong with them
        try:
            return {s.name for s in specs(get_method(self.method, self.pattern).params)}
        except PruneScopeError:
            return set()

    def __getstate__(self) -> dict:
        """Pickled (Ray, caches) without its resolution: the method objects stay in this process."""
        return {k: v for k, v in self.__dict__.items() if k != "_resolution"}


def _method_params(method: PruningMethod, values: Mapping[str, Any]) -> ParamValues:
    """The method's parameters checked against its declaration; a name that is also a PruneConfig field
    is refused (the two share one namespace in `to_dict`, the CLI and the URL)."""
    clash = sorted({s.name for s in specs(method.params)} & {f.name for f in fields(PruneConfig)})
    if clash:
        raise PruneScopeError(f"method '{method.info.name}' declares the parameter(s) {', '.join(clash)}, which "
                              "are PruneConfig settings already; rename them")
    return check_values(method.info.name, method.params, values)


@dataclass(frozen=True)
class ResolvedConfig:
    """A `PruneConfig` validated once, with its pattern parsed and its method looked up in the catalogue.

    Made by `PruneConfig.resolved()`; the run pipeline passes it down instead of re-validating strings."""

    config: PruneConfig  # validated (N:M sparsity filled in, numbers as floats)
    pattern: Pattern
    method: PruningMethod

    @property
    def calibrated(self) -> bool:
        """True when the run draws calibration samples: the method reads activations, or OWL does."""
        return self.method.info.needs_calibration or self.config.allocation == "owl"

    @property
    def sparsity_target(self) -> float:
        """The share removed: fixed by an N:M pattern, else the config's (of units, for unit patterns)."""
        return self.pattern.fixed_sparsity if self.pattern.is_nm else self.config.sparsity


def usable_allocations(pattern: Pattern, method: PruningMethod) -> list[str]:
    """The allocations a config with this pattern and method may ask for (its other fields at their
    defaults), by the rules validation applies: the choices a page offers, with no config validated."""
    usable = []
    for allocation in ALLOCATIONS:
        try:
            PruneConfig(method=method.info.name, pattern=pattern.name, allocation=allocation)._check_allocation(
                pattern, method)
        except PruneScopeError:
            continue
        usable.append(allocation)
    return usable


def resolve(config: PruneConfig | ResolvedConfig) -> ResolvedConfig:
    """`config` resolved (validated) unless it already is: public functions take either."""
    return config if isinstance(config, ResolvedConfig) else config.resolved()
