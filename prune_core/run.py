"""One pruning run, end to end: masks -> pruned copy -> size, speed, quality, dense beside it.

The cheap phase's counts (`summary.summarize`) are made once and kept inside the result: a `PruneResult`
holds its `MaskSummary` and adds what only the pruned copy can tell (file size, quality, latency). The
dense baseline (quality and sizes) is measured once per model and reused; latency is always measured
for dense and pruned together, interleaved, in the same run.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace

import torch
from torch import nn

from . import datasets, evaluate
from .calibration import check_length, max_positions
from .config import PruneConfig, ResolvedConfig, resolve
from .delta import PruneDelta
from .errors import PruneScopeError
from .latency import LatencyStats, measure_latency
from .masksummary import MaskSummary
from .owl import OwlAllocation
from .patterns import Pattern
from .progress import Progress, no_progress
from .pruning import prune_masks, prune_model
from .sizes import SizeReport, file_bytes, size_report
from .summary import summarize
from .targets import find_targets
from .tokens import tokenize
from .zoo import LoadedModel

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
        3 of 32 tokens. The Speed page and `--reps` time more carefully. Never longer than the card's
        evaluation window, which fits the model's positions."""
        window = card.eval.get("seq_len" if card.task == "causal-lm" else "max_length") or MAX_LATENCY_TOKENS
        if card.big:
            return cls(seq_len=min(32, window), reps=3, warmup=1)
        return cls(seq_len=min(128 if card.task == "causal-lm" else 64, window), reps=5, warmup=1)


@dataclass
class DenseBaseline:
    """Figures of the unpruned model: its quality per evaluation setting, its sizes (and per-tensor zstd
    sizes, reused by every pruned run's file size) per file measurement."""

    quality: float
    size: SizeReport
    file_sizes: dict[str, int] = field(default_factory=dict)
    estimate: evaluate.Estimate | None = None  # quality with its interval

    @classmethod
    def of(cls, estimate: evaluate.Estimate, size: SizeReport, file_sizes: dict[str, int]) -> "DenseBaseline":
        return cls(estimate.value, size, file_sizes, estimate)


def _counted(name: str) -> property:
    """One of the cheap phase's figures, read through from the result's `counts` under its own name."""
    return property(lambda self: getattr(self.counts, name), doc=f"`counts.{name}`")


# Where the cheap phase's figures sit among the measured ones in every export (`PruneResult.to_dict`):
# before the field named here, so tables, JSON records, the store and CSV files keep one column order.
COUNTED_BEFORE = {
    "quality_metric": ("sparsity_target", "sparsity_actual", "sparsity_model", "params_total", "params_nonzero",
                       "params_in_scope"),
    "prune_seconds": ("size_dense", "size_pruned"),
    "quality_lo": ("notes", "layers", "structure"),
}


@dataclass
class PruneResult:
    """Everything measured in one run: the cheap phase's figures (`counts`, exported under their own
    names) and what only the pruned copy tells. Field names are the same in UI, CLI, JSON and tables."""

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
    counts: MaskSummary  # sparsity, parameter counts, sizes (with the measured file sizes), layers, notes
    quality_metric: str
    quality_dense: float
    quality: float
    latency_ms_dense: float
    latency_ms: float
    latency_dense: LatencyStats
    latency_pruned: LatencyStats
    prune_seconds: float
    total_seconds: float
    speed_note: str
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

    sparsity_target = _counted("sparsity_target")
    sparsity_actual = _counted("sparsity_actual")  # fraction of in-scope weights removed
    sparsity_model = _counted("sparsity_model")  # fraction of all parameters that are zero
    params_total = _counted("params_total")
    params_nonzero = _counted("params_nonzero")
    params_in_scope = _counted("params_in_scope")
    size_dense = _counted("size_dense")
    size_pruned = _counted("size_pruned")
    layers = _counted("layers")
    structure = _counted("structure")  # the StructuralPlan (to_dict) when whole units were removed

    @property
    def notes(self) -> list[str]:
        return [note.text for note in self.counts.notes]

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            for name in COUNTED_BEFORE.get(f.name, ()):
                out[name] = _plain(getattr(self, name))
            if f.name != "counts":
                out[f.name] = _plain(getattr(self, f.name))
        return out

    def summary(self) -> dict:
        """Flat row (no per-layer list, nested figures prefixed) for tables and the store."""
        row = {k: v for k, v in self.to_dict().items() if not isinstance(v, (dict, list))}
        for prefix in ("size_dense", "size_pruned"):
            row.update({f"{prefix}_{k}": v for k, v in asdict(getattr(self, prefix)).items()})
        row["latency_setup"] = self.latency_pruned.setup
        row.update({k: v for k, v in self.method_params.items() if k not in row})  # e.g. SparseGPT's damping
        return row


def _plain(value):
    """A value as JSON-able data (dataclasses as dicts, containers copied), as `dataclasses.asdict` makes it."""
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return copy.deepcopy(value) if isinstance(value, dict) else value


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


def speed_note(pattern: Pattern) -> str:
    """Why the measured latency moved or did not: said plainly, next to the numbers."""
    return SPEED_NOTES[pattern.granularity]


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


def dense_size(loaded: LoadedModel, measure_file: bool = True) -> tuple[SizeReport, dict[str, int]]:
    """The unpruned model's sizes over the default 'all' scope and, measuring the file, the per-tensor zstd
    sizes of the tensors pruning leaves alone (every pruned run's file size reuses them)."""
    file_sizes: dict[str, int] = {}
    size = size_report(loaded.model, find_targets(loaded.model, "all"), file_sizes if measure_file else None,
                       measure_file)
    return size, file_sizes


def dense_quality(loaded: LoadedModel, evaluation: str = "full") -> evaluate.Estimate:
    """The unpruned model's held-out quality: the dense side of every comparison."""
    return quality_estimate(loaded, loaded.model, evaluation)


def rescore(loaded: LoadedModel, delta: PruneDelta, evaluation: str) -> evaluate.Estimate:
    """A measured setting's held-out quality under another evaluation (the full one after a quick one), on
    its copy rebuilt from the delta: nothing is pruned or timed again."""
    return quality_estimate(loaded, delta.build(loaded.model), evaluation)


def dense_baseline(loaded: LoadedModel, measure_file: bool = True, evaluation: str = "full") -> DenseBaseline:
    """Quality and sizes of the unpruned model (size over the default 'all' scope)."""
    return DenseBaseline.of(dense_quality(loaded, evaluation), *dense_size(loaded, measure_file))


def check_fits(loaded: LoadedModel, config: PruneConfig | ResolvedConfig,
               latency: LatencySpec | None = None) -> ResolvedConfig:
    """The config resolved and checked against this model: sequence lengths within its positions. Called
    before any work, so a bad value fails in a second, not with a traceback after the whole prune."""
    resolved = resolve(config)
    limit = max_positions(loaded.model)
    if latency is not None:
        latency.validated(limit)
    if resolved.calibrated:
        check_length(loaded.model, resolved.config.calib_seq_len)
    return resolved


def run(loaded: LoadedModel, config: PruneConfig | ResolvedConfig, baseline: DenseBaseline | None = None,
        latency: LatencySpec = LatencySpec(), measure_file: bool = True,
        progress: Progress = no_progress, summary: MaskSummary | None = None,
        evaluation: str = "full") -> tuple[PruneResult, nn.Module]:
    """Prune, then measure size, speed and quality of dense and pruned side by side.

    The measuring phase of a slider move: `summary` (`summary.summarize` of this config, on screen
    already) brings the masks and every count; only the compressed file, the quality and the latency are
    measured here. Without it, the masks are computed and counted first. `evaluation` ("full" or
    "quick", see EVALUATIONS) must be the one `baseline` was measured with. The returned copy shares the
    tensors pruning left alone with `loaded.model`: run or save it, never train it.
    """
    start = time.perf_counter()
    resolved = check_fits(loaded, config, latency)
    config = resolved.config
    if baseline is None:
        progress(0.05, "measuring the dense model")
        baseline = dense_baseline(loaded, measure_file, evaluation)
    progress(0.2, f"pruning with {config.method} ({config.pattern}, {config.allocation})")
    if summary is None:
        summary = summarize(loaded, resolved, mask_set=prune_masks(loaded, resolved,
                                                                   lambda f, m: progress(0.2 + 0.2 * f, m)))
    pruned, prune_seconds, owl = _pruned_copy(loaded, resolved, summary)
    progress(0.4, "measuring sizes")
    file_zstd = file_bytes(pruned, find_targets(pruned, "all", include_head=config.include_head),
                           baseline.file_sizes) if measure_file else None
    progress(0.55, "evaluating the pruned model on held-out data")
    estimate = quality_estimate(loaded, pruned, evaluation)
    progress(0.8, "timing dense and pruned on the same batch")
    lat = measure_latency({"dense": loaded.model, "pruned": pruned}, latency_inputs(loaded, latency),
                          latency.reps, latency.warmup, latency.threads)
    result = _result(loaded, resolved, summary.measured(baseline.size, file_zstd), baseline, estimate, lat,
                     evaluation, (prune_seconds, time.perf_counter() - start), owl)
    progress(1.0, "done")
    return result, pruned


def _pruned_copy(loaded: LoadedModel, resolved: ResolvedConfig,
                 summary: MaskSummary) -> tuple[nn.Module, float, OwlAllocation | None]:
    """(the pruned copy, seconds pruning took, OWL's allocation) from the summary's masks. The masks are
    not kept: the copy holds the pruned weights, and where the summary counted without masks (data-free
    methods) that frees them for the evaluation and timing (SmolLM2: 106 MB per concurrent run); masks a
    method computed stay with the summary."""
    mask_set, pruned = prune_model(loaded, resolved, mask_set=summary.to_mask_set(), read_only=True)
    return pruned, mask_set.seconds, mask_set.allocation


def _result(loaded: LoadedModel, resolved: ResolvedConfig, counts: MaskSummary, baseline: DenseBaseline,
            estimate: evaluate.Estimate, lat: dict[str, LatencyStats], evaluation: str,
            seconds: tuple[float, float], owl: OwlAllocation | None) -> PruneResult:
    """The result of a measured setting: its settings, `counts`, and the measured figures beside dense's.
    `seconds`: (pruning, the whole run)."""
    config, calibrated, dense = resolved.config, resolved.calibrated, baseline.estimate
    on_owl = config.allocation == "owl"
    return PruneResult(
        model=loaded.key, method=config.method, pattern=config.pattern, allocation=config.allocation,
        scope=config.scope, include_head=config.include_head, seed=config.seed,
        calib_samples=config.calib_samples if calibrated else None,
        calib_seq_len=config.calib_seq_len if calibrated else None,
        method_params=dict(config.method_params),
        counts=counts, quality_metric=loaded.card.quality_metric, quality_dense=baseline.quality,
        quality=estimate.value, latency_ms_dense=lat["dense"].median_ms, latency_ms=lat["pruned"].median_ms,
        latency_dense=lat["dense"], latency_pruned=lat["pruned"], prune_seconds=seconds[0], total_seconds=seconds[1],
        speed_note=speed_note(resolved.pattern), quality_lo=estimate.lo, quality_hi=estimate.hi,
        quality_dense_lo=dense.lo if dense else None, quality_dense_hi=dense.hi if dense else None,
        quality_interval=estimate.how, evaluation=evaluation,
        owl_m=config.owl_m if on_owl else None, owl_lambda=config.owl_lambda if on_owl else None,
        owl=owl.to_dict() if owl is not None else None)
