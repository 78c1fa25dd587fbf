"""One pruning run, end to end: masks -> pruned copy -> size, speed, quality, dense beside it.

The dense baseline (quality and sizes) is measured once per model and reused; latency is
always measured for dense and pruned together, interleaved, in the same run.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import torch
from torch import nn

from . import datasets, evaluate
from .calibration import Calibration, calibration_inputs, check_length, max_positions
from .config import PruneConfig, ResolvedConfig, resolve
from .errors import PruneScopeError
from .masks import LayerStats, MaskSet, layer_stats, materialize
from .masksummary import MaskSummary
from .metrics import LatencyStats, SizeReport, file_bytes, measure_latency, size_report
from .owl import OwlAllocation, owl_allocation
from .patterns import parse_pattern
from .structural import shrink
from .targets import find_targets, tied_head_note
from .tokens import tokenize
from .zoo import LoadedModel

Progress = Callable[[float, str], None]
MAX_LATENCY_BATCH = 256  # sequences per timed batch
MAX_LATENCY_TOKENS = 8192  # tokens per sequence when the model does not say its maximum
MAX_REPS = 1000  # timed repetitions
MAX_THREADS = 256


@dataclass(frozen=True)
class LatencySpec:
    """How latency is measured; shown next to every latency figure."""

    batch: int = 1
    seq_len: int = 128
    reps: int = 10
    warmup: int = 2
    threads: int = 2

    def validated(self, max_tokens: int | None = None) -> "LatencySpec":
        """Every field within its limit (and the sequence within the model's positions), before any work."""
        limits = {"batch": (1, MAX_LATENCY_BATCH), "seq_len": (1, max_tokens or MAX_LATENCY_TOKENS),
                  "reps": (1, MAX_REPS), "warmup": (0, MAX_REPS), "threads": (1, MAX_THREADS)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                why = (f"this model's maximum of {max_tokens} positions" if name == "seq_len" and max_tokens
                       else "the limit")
                raise PruneScopeError(f"latency {name.replace('_', ' ')} must be from {low} to {high} ({why}), "
                                      f"got {value!r}")
        return self

    @classmethod
    def for_model(cls, card) -> "LatencySpec":
        """Defaults that keep a slider move interactive; the setup is printed beside every figure.

        Every move times dense and pruned, interleaved: with a class on one server, ten repetitions each
        were a quarter of the server's work (10 sessions on tiny GPT, py-spy), in one process-wide timing
        slot. So 5 repetitions after 1 warm-up; big models (SmolLM2: 0.3 s per 128-token call on 2 cores)
        3 of 32 tokens. The Speed page and `--reps` time more carefully."""
        if card.big:
            return cls(seq_len=32, reps=3, warmup=1)
        return cls(seq_len=128 if card.task == "causal-lm" else 64, reps=5, warmup=1)


@dataclass
class DenseBaseline:
    """Figures of the unpruned model, measured once per model and evaluation setting."""

    quality: float
    size: SizeReport
    eval_seconds: float
    file_sizes: dict[str, int] = field(default_factory=dict)  # per-tensor zstd sizes, reused
    estimate: evaluate.Estimate | None = None  # quality with its interval


@dataclass
class PruneResult:
    """Everything measured in one run; field names are the same in UI, CLI, JSON and tables."""

    model: str
    method: str
    pattern: str
    allocation: str
    scope: str
    include_head: bool
    seed: int
    calib_samples: int | None  # calibration settings, None for data-free methods
    calib_seq_len: int | None
    method_params: dict  # the method's own settings (PruneConfig.method_params), flat in summary()
    sparsity_target: float
    sparsity_actual: float  # fraction of in-scope weights removed
    sparsity_model: float  # fraction of all parameters that are zero
    params_total: int
    params_nonzero: int
    params_in_scope: int
    quality_metric: str
    quality_dense: float
    quality: float
    latency_ms_dense: float
    latency_ms: float
    latency_dense: LatencyStats
    latency_pruned: LatencyStats
    size_dense: SizeReport
    size_pruned: SizeReport
    prune_seconds: float
    total_seconds: float
    speed_note: str
    notes: list[str]
    layers: list[LayerStats]
    structure: dict | None = None  # the StructuralPlan (to_dict) when whole units were removed
    # 95 % intervals of the held-out figures, from the size of the evaluation (evaluate.Estimate)
    quality_lo: float | None = None
    quality_hi: float | None = None
    quality_dense_lo: float | None = None
    quality_dense_hi: float | None = None
    quality_interval: str = ""  # how the interval was made, e.g. "Wilson interval over 1000 examples"
    evaluation: str = "full"  # "full": the card's held-out evaluation; "quick": its first quarter (EVALUATIONS)
    owl_m: float | None = None  # OWL settings, None for the other allocations
    owl_lambda: float | None = None
    owl: dict | None = None  # OwlAllocation.to_dict(): per-block outlier ratios and sparsities

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """Flat row (no per-layer list, nested figures prefixed) for tables and the store."""
        row = {k: v for k, v in asdict(self).items() if not isinstance(v, (dict, list))}
        for prefix in ("size_dense", "size_pruned"):
            row.update({f"{prefix}_{k}": v for k, v in asdict(getattr(self, prefix)).items()})
        row["latency_setup"] = self.latency_pruned.setup
        row.update({k: v for k, v in self.method_params.items() if k not in row})  # e.g. SparseGPT's damping
        return row


_UNITS_SPEED = ("Whole units were removed, so the matrices are genuinely smaller: dense kernels do less "
                "work and the model takes less memory. This speed-up is real (it grows with the batch); "
                "the price is usually more quality lost per parameter removed than with unstructured pruning.")
SPEED_NOTES = {  # by granularity (`Pattern.granularity`)
    "unstructured": "The pruned weights are zeros inside dense matrices. Dense kernels multiply them anyway, "
                    "so the pruned model is not faster and takes the same memory: any difference is noise. "
                    "Speed comes only from removing whole neurons/heads (smaller matrices), 2:4 kernels on "
                    "a GPU, or sparse kernels at very high sparsity.",
    "N:M": "The pruned weights are zeros inside dense matrices. On this CPU the dense kernels "
           "multiply them anyway, so the pruned model is not faster: any difference is noise. "
           "An N:M pattern is only faster with 2:4 sparse kernels on a GPU (Ampere or newer).",
    "neuron": _UNITS_SPEED,
    "head": _UNITS_SPEED,
}


def speed_note(pattern: str) -> str:
    """Why the measured latency moved or did not: said plainly, next to the numbers."""
    return SPEED_NOTES[parse_pattern(pattern).granularity]


EVALUATIONS = {
    "full": "the model card's held-out evaluation",
    "quick": "the first quarter of it (at least 8 windows or 100 examples): about 4x faster, an interval "
             "about twice as wide",
}
QUICK_SHARE = 4  # a quick evaluation scores 1/QUICK_SHARE of the card's tokens or examples


def eval_settings(card, evaluation: str = "full") -> dict:
    """The card's evaluation settings, or their quick cut: the same first part of the held-out data for
    dense and pruned, so the two stay comparable. A perplexity cut keeps >= 8 windows (shorter ones if
    needed) for its bootstrap interval."""
    if evaluation not in EVALUATIONS:
        raise PruneScopeError(f"unknown evaluation '{evaluation}'; choose one of: {', '.join(EVALUATIONS)}")
    ev = dict(card.eval)
    if evaluation == "quick":
        if card.task == "causal-lm":
            ev["max_tokens"] = max(64, ev["max_tokens"] // QUICK_SHARE)
            ev["seq_len"] = min(ev["seq_len"], max(32, ev["max_tokens"] // 8))
        else:
            ev["n_examples"] = max(100, ev["n_examples"] // QUICK_SHARE)
    return ev


def quality_estimate(loaded: LoadedModel, model: nn.Module, evaluation: str = "full") -> evaluate.Estimate:
    """Held-out perplexity (LMs) or accuracy (classifiers), with the card's eval settings (or their
    quick cut) and a 95 % interval; dense and pruned are always scored on exactly these examples."""
    ev = eval_settings(loaded.card, evaluation)
    if loaded.task == "causal-lm":
        est = evaluate.perplexity_estimate(model, loaded.tokenizer, datasets.shakespeare_text("valid"),
                                           seq_len=ev["seq_len"], max_tokens=ev["max_tokens"])
    else:
        examples = datasets.tweets("valid")[: ev["n_examples"]]
        est = evaluate.accuracy_estimate(model, loaded.tokenizer, examples, max_length=ev["max_length"])
    return est if evaluation == "full" else replace(est, how=f"{est.how} (quick evaluation: the first quarter "
                                                            "of the card's)")


def measure_quality(loaded: LoadedModel, model: nn.Module) -> float:
    """`quality_estimate` without its interval."""
    return quality_estimate(loaded, model).value


def latency_inputs(loaded: LoadedModel, spec: LatencySpec) -> dict[str, torch.Tensor]:
    """A real held-out batch of exactly batch x seq_len tokens."""
    tok = loaded.tokenizer
    if loaded.task == "causal-lm":
        text = datasets.shakespeare_text("valid")[: 50 * spec.batch * spec.seq_len]
        ids = tokenize(tok, text, return_tensors="pt")["input_ids"][0]
        need = spec.batch * spec.seq_len
        ids = ids.repeat(need // ids.numel() + 1)[:need].view(spec.batch, spec.seq_len)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    texts = [t for t, _ in datasets.tweets("valid")[: spec.batch]]
    enc = tokenize(tok, texts, padding="max_length", truncation=True, max_length=spec.seq_len, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def dense_baseline(loaded: LoadedModel, measure_file: bool = True, evaluation: str = "full") -> DenseBaseline:
    """Quality and sizes of the unpruned model (size over the default 'all' scope)."""
    start = time.perf_counter()
    estimate = quality_estimate(loaded, loaded.model, evaluation)
    file_sizes: dict[str, int] = {}
    targets = find_targets(loaded.model, "all")
    size = size_report(loaded.model, targets, file_sizes if measure_file else None, measure_file)
    return DenseBaseline(estimate.value, size, time.perf_counter() - start, file_sizes, estimate)


def _noop(fraction: float, message: str) -> None:
    pass


def prune_model(loaded: LoadedModel, config: PruneConfig | ResolvedConfig, progress: Progress = _noop,
                mask_set: MaskSet | None = None, read_only: bool = False) -> tuple[MaskSet, nn.Module]:
    """Masks for `config` (unless already computed: `mask_set`) and a pruned private copy;
    `loaded.model` is not touched. `read_only`: the copy will only be run or saved, never trained, so
    it may share the tensors pruning leaves alone with `loaded.model` (`masks.materialize`)."""
    mask_set = mask_set if mask_set is not None else prune_masks(loaded, config, progress)
    if mask_set.plan is None:
        return mask_set, materialize(loaded.model, mask_set, share_unpruned=read_only)
    start = time.perf_counter()  # whole units: the copy is genuinely smaller
    small = shrink(loaded.model, mask_set.plan)
    mask_set.seconds += time.perf_counter() - start
    return mask_set, small


def prune_masks(loaded: LoadedModel, config: PruneConfig | ResolvedConfig, progress: Progress = _noop) -> MaskSet:
    """Only the masks for `config` (no pruned copy): for mask pictures and counts on big models."""
    settings = resolve(config)
    config, method = settings.config, settings.method
    targets = find_targets(loaded.model, config.scope, config.include_head)
    context = method.context(loaded, config, progress)  # calibration samples, a training budget, or None
    if config.allocation == "owl":
        allocation = owl_profile(loaded, targets, config, context)
        mask_set = method.prune(loaded.model, targets, config, context, sparsities=allocation.layer_sparsity)
        mask_set.allocation = allocation
        mask_set.notes.append(owl_note(allocation))
    else:
        mask_set = method.prune(loaded.model, targets, config, context)
    if context is not None:
        mask_set.notes.extend(context.notes)
    return mask_set


def owl_only(loaded: LoadedModel, config: PruneConfig, progress: Progress = _noop) -> OwlAllocation:
    """OWL's allocation for `config` without pruning (the Layers page): its own calibration samples."""
    config = check_fits(loaded, replace(config, allocation="owl")).config
    targets = find_targets(loaded.model, config.scope, config.include_head)
    samples = calibration_inputs(loaded, config.calib_samples, config.calib_seq_len, config.seed)
    return owl_profile(loaded, targets, config, Calibration(samples, progress))


def owl_profile(loaded: LoadedModel, targets: list, config: PruneConfig, calibration: Calibration) -> OwlAllocation:
    """OWL's per-block outlier ratios and sparsities, measured on the dense model's calibration activations."""
    staged = Calibration(calibration.samples, lambda f, m: calibration.progress(f, f"OWL outlier profile: {m}"))
    allocation = owl_allocation(loaded.model, targets, config, staged)
    calibration.notes.extend(staged.notes)
    return allocation


def owl_note(allocation: OwlAllocation) -> str:
    """One line on what OWL did, next to the result."""
    ratios, sparsity = allocation.outlier_ratio, allocation.block_sparsity
    return (f"OWL (M = {allocation.m:g}, λ = {allocation.lam:g}): outlier ratios per block {min(ratios):.2%} to "
            f"{max(ratios):.2%}, so block sparsities {min(sparsity):.1%} to {max(sparsity):.1%} (parameter-weighted "
            f"mean {allocation.target:.1%})")


def check_fits(loaded: LoadedModel, config: PruneConfig | ResolvedConfig,
               latency: LatencySpec | None = None) -> ResolvedConfig:
    """The config resolved and checked against this model: sequence lengths within its positions. Called
    before any work, so a bad value fails in a second, not with a traceback after the whole prune."""
    settings = resolve(config)
    limit = max_positions(loaded.model)
    if latency is not None:
        latency.validated(limit)
    if settings.calibrated:
        check_length(loaded.model, settings.config.calib_seq_len)
    return settings


def run(loaded: LoadedModel, config: PruneConfig | ResolvedConfig, baseline: DenseBaseline | None = None,
        latency: LatencySpec = LatencySpec(), measure_file: bool = True,
        progress: Progress = _noop, mask_set: MaskSet | None = None,
        summary: MaskSummary | None = None, evaluation: str = "full") -> tuple[PruneResult, nn.Module]:
    """Prune, then measure size, speed and quality of dense and pruned side by side.

    The measuring phase of a slider move: its counts and sizes are on screen already
    (`summary.summarize`, same figures). Given that `summary`, its masks and counts are used and only
    the compressed file is measured here; without it everything is measured on the pruned copy.
    `evaluation` ("full" or "quick", see EVALUATIONS) must be the one `baseline` was measured with.
    The returned copy shares the tensors pruning left alone with `loaded.model`: run or save it, never
    train it.
    """
    start = time.perf_counter()
    settings = check_fits(loaded, config, latency)
    config = settings.config
    if baseline is None:
        progress(0.05, "measuring the dense model")
        baseline = dense_baseline(loaded, measure_file, evaluation)
    progress(0.2, f"pruning with {config.method} ({config.pattern}, {config.allocation})")
    if summary is not None and mask_set is None:
        mask_set = summary.to_mask_set()
    mask_set, pruned = prune_model(loaded, settings, lambda f, m: progress(0.2 + 0.2 * f, m), mask_set,
                                   read_only=True)  # measured and returned, never trained
    progress(0.4, "measuring sizes")
    size_targets = find_targets(pruned, "all", include_head=config.include_head)
    if summary is not None:  # counted already, bit-identically (tests/test_summary.py)
        # the copy holds the pruned weights now: drop this run's reference to the masks. Where the summary
        # counted without masks (data-free methods), that frees them for the evaluation and timing (SmolLM2:
        # 106 MB per concurrent run); masks a method computed stay with the cached summary.
        mask_set = replace(mask_set, masks={}, new_weights={})
        layers, in_scope, sparsity = summary.layers, summary.params_in_scope, summary.sparsity_actual
        size = replace(summary.size_pruned, file_zstd=file_bytes(pruned, size_targets, baseline.file_sizes)
                       if measure_file else None)
    else:
        layers = layer_stats(loaded.model, mask_set)
        in_scope = sum(l.params for l in layers)
        sparsity = sum(int((~m).sum()) for m in mask_set.masks.values()) / in_scope
        size = size_report(pruned, size_targets, baseline.file_sizes if measure_file else None, measure_file)
    progress(0.55, "evaluating the pruned model on held-out data")
    estimate = quality_estimate(loaded, pruned, evaluation)
    dense_est = baseline.estimate or estimate
    progress(0.8, "timing dense and pruned on the same batch")
    lat = measure_latency({"dense": loaded.model, "pruned": pruned}, latency_inputs(loaded, latency),
                          latency.reps, latency.warmup, latency.threads)
    notes = [n for n in [tied_head_note(loaded.model, mask_set.targets)] if n] + mask_set.notes
    if loaded.card.caveat:
        notes.append(loaded.card.caveat)
    calibrated, owl = settings.calibrated, config.allocation == "owl"
    result = PruneResult(
        model=loaded.key, method=config.method, pattern=config.pattern, allocation=config.allocation,
        scope=config.scope, include_head=config.include_head, seed=config.seed,
        calib_samples=config.calib_samples if calibrated else None,
        calib_seq_len=config.calib_seq_len if calibrated else None,
        method_params=dict(config.method_params),
        sparsity_target=settings.sparsity_target,  # of units, if whole units were removed
        sparsity_actual=sparsity,
        sparsity_model=1.0 - size.params_nonzero / size.params_total,
        params_total=size.params_total, params_nonzero=size.params_nonzero, params_in_scope=in_scope,
        quality_metric=loaded.card.quality_metric, quality_dense=baseline.quality, quality=estimate.value,
        latency_ms_dense=lat["dense"].median_ms, latency_ms=lat["pruned"].median_ms,
        latency_dense=lat["dense"], latency_pruned=lat["pruned"],
        size_dense=baseline.size, size_pruned=size, prune_seconds=mask_set.seconds,
        total_seconds=time.perf_counter() - start, speed_note=speed_note(config.pattern),
        notes=notes, layers=layers, structure=mask_set.plan.to_dict() if mask_set.plan is not None else None,
        quality_lo=estimate.lo, quality_hi=estimate.hi, quality_dense_lo=dense_est.lo if baseline.estimate else None,
        quality_dense_hi=dense_est.hi if baseline.estimate else None, quality_interval=estimate.how,
        evaluation=evaluation,
        owl_m=config.owl_m if owl else None, owl_lambda=config.owl_lambda if owl else None,
        owl=mask_set.allocation.to_dict() if mask_set.allocation is not None else None)
    progress(1.0, "done")
    return result, pruned
