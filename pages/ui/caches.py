"""The server's shared caches and heavy-job gate, as the pages use them.

Every cache is keyed on the model's identity (`LoadedModel.key`: embedded name, absolute folder
path or hub id), never on its display name. An uploaded model's folder lies in a scope private to
the session that uploaded it (see prune_core.uploads), so its key, and every cache entry, is too.

Base models and results live in one SharedCache for the whole server (bounded by the memory
budget, each value computed once however many sessions ask). A base model is shared by every
browser session, so it is only ever read (pruning works on copies, see prune_core.masks).
Heavy work (pruning runs, evaluations, generation) waits for a slot in the JobGate.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from prune_core import paper, samples
from prune_core.cache import JobStatus, SharedCache
from prune_core.calibration import max_positions
from prune_core.config import PruneConfig, ResolvedConfig, resolve
from prune_core.delta import PruneDelta
from prune_core.disagree import Disagreement, compare_methods, input_norms
from prune_core.evaluate import Estimate
from prune_core.faster import CsrBreakEven
from prune_core.fragile import GRID, FlipSweep, flip_sweep, token_losses
from prune_core.gpu import GpuReport, measure_2_4
from prune_core.jobs import JobGate
from prune_core.measure import Measured, Outputs, measure
from prune_core.memory import freeze_long_lived, map_large_blocks
from prune_core.owl import OwlAllocation
from prune_core.paper import ClaimResult, PaperSettings
from prune_core.progress import Progress
from prune_core.pruning import owl_only
from prune_core.run import DenseBaseline, LatencySpec, dense_quality, dense_size, measure_quality, rescore
from prune_core.samples import OutputRequest
from prune_core.sizes import SizeReport
from prune_core.sensitivity import Proposal, layer_sensitivity, propose
from prune_core.server import server_settings, usable_cores
from prune_core.speed import Sources, batch_sweep, compare_variants, largest_layer_break_even, tradeoff
from prune_core.summary import MaskSummary, summarize, warm
from prune_core.zoo import LoadedModel, load_model

SENSITIVITY_GRID = [0.3, 0.5, 0.7, 0.9]  # sparsities of the sensitivity analysis (Layers, Compare)


@st.cache_resource(show_spinner=False)
def job_gate() -> JobGate:
    """Bounds the heavy computations of all sessions (PRUNESCOPE_MAX_JOBS, default the cores)."""
    return JobGate(server_settings().max_jobs, cores=usable_cores())


@st.cache_resource(show_spinner=False)
def shared_cache() -> SharedCache:
    """Models and results shared by all sessions, within the memory budget (see prune_core.cache).

    Not `st.cache_resource` on each function: it bounds entries by count, not bytes, and a cached
    function may not drive a progress bar created outside it (we want live progress and the
    place in line on slow runs)."""
    map_large_blocks()  # once per server, before the first model loads: freed matrices go back to the OS
    freeze_long_lived()  # what start-up imported: a full collection skips it (prune_core.memory)
    return SharedCache(server_settings().cache_bytes, job_gate(), limits={"result": server_settings().results_bytes})


def _updates(progress: Progress | None, every: float = 0.5,
             clock: Callable[[], float] = time.monotonic) -> Callable[[JobStatus], None] | None:
    """The cache's status reports as progress-bar updates: only when what the bar shows changes, and
    at most one per `every` seconds.

    Every call of a Streamlit progress bar is a message the browser renders. A session waiting in line
    is told its place four times a second and a running job reports each of its phases, so ten
    students would otherwise cost the server's cores (which their browsers share in
    bench/classroom.py) dozens of redraws a second. A change skipped here shows at the next report
    after `every`: a waiting session is told its place again at the next poll, a job's next phase
    replaces the skipped one."""
    if progress is None:
        return None
    shown: tuple[int, str] | None = None  # (percent, text) on the bar now
    sent = -float("inf")  # when it was drawn

    def update(status: JobStatus) -> None:
        nonlocal shown, sent
        now, t = (round(100 * min(1.0, status.fraction)), status.text), clock()
        if now != shown and t - sent >= every:
            shown, sent = now, t
            progress(now[0] / 100, now[1])
    return update


def cached_model(name: str) -> LoadedModel:
    """The base model, loaded once and shared by all sessions (read-only); not queued."""
    server_settings().check_model(name)
    return shared_cache().get(("model", name), lambda progress: load_model(name), kind="model")


def cached_dense_quality(name: str, evaluation: str = "full", progress: Progress | None = None) -> Estimate:
    """The dense model's held-out quality, evaluated once per model and evaluation (a heavy job): the
    predict gate, every measurement and the refined figure share it."""
    def compute(report):
        report(0.05, f"measuring the dense {name} once (shared by all sessions)")
        return dense_quality(cached_model(name), evaluation)
    return shared_cache().get(("dense quality", name, evaluation), compute, heavy=True, kind="baseline",
                              on_update=_updates(progress))


def cached_dense_size(name: str, measure_file: bool) -> tuple[SizeReport, dict[str, int]]:
    """The dense model's sizes (`run.dense_size`), once per model and file measurement (a heavy job)."""
    def compute(report):
        return dense_size(cached_model(name), measure_file)
    return shared_cache().get(("dense size", name, measure_file), compute, heavy=True, kind="baseline")


def cached_baseline(name: str, measure_file: bool, progress: Progress | None = None,
                    evaluation: str = "full") -> DenseBaseline:
    """Dense quality (once per model and evaluation) beside its sizes (once per model and file measurement)."""
    return DenseBaseline.of(cached_dense_quality(name, evaluation, progress), *cached_dense_size(name, measure_file))


@st.cache_resource(max_entries=4, show_spinner=False)
def warm_model(name: str) -> threading.Thread:
    """Build the per-model facts the cheap phase counts on, once, in the background (seconds for
    SmolLM2): a slider move that comes before it is done waits for it, later ones do not."""
    thread = threading.Thread(target=warm, args=(cached_model(name),), name=f"warm-{name}", daemon=True)
    thread.start()
    return thread


def cached_summary(name: str, config: PruneConfig | ResolvedConfig, progress: Progress | None = None) -> MaskSummary:
    """The cheap phase of a slider move: counts and sizes from weights and masks (no copy, no
    evaluation). Never queued behind heavy work; the same setting is still computed once."""
    resolved = resolve(config)

    def compute(report):
        return summarize(cached_model(name), resolved, report)
    return shared_cache().get(("summary", name, resolved.config), compute, heavy=False,
                              on_update=_updates(progress))


def cached_run(name: str, config: PruneConfig | ResolvedConfig, spec: LatencySpec, measure_file: bool,
               progress: Progress | None = None, evaluation: str = "full",
               outputs: OutputRequest | None = None) -> Measured:
    """One setting measured, keyed by (model, setting, latency spec, evaluation setup): returning to a
    setting is instant, the same setting asked by several sessions is computed once. Inside the job the
    cheap phase's summary and the dense baseline are found by their own keys (made once, by whoever
    asked first); `outputs` (not part of the key) are made on the job's pruned copy. It keeps the delta
    that rebuilds the copy, not the copy (540 MB for SmolLM2)."""
    resolved = resolve(config)

    def compute(report):
        summary = cached_summary(name, resolved, report)
        baseline = cached_baseline(name, measure_file, report, evaluation)
        return measure(cached_model(name), resolved, summary, baseline, spec, measure_file, evaluation, outputs,
                       report)
    return shared_cache().get(_run_key(name, resolved, spec, measure_file, evaluation), compute, heavy=True,
                              on_update=_updates(progress))


def _run_key(name: str, resolved: ResolvedConfig, spec: LatencySpec, measure_file: bool, evaluation: str) -> tuple:
    return "run", name, resolved.config, spec, measure_file, evaluation


def has_run(name: str, config: PruneConfig | ResolvedConfig, spec: LatencySpec, measure_file: bool,
            evaluation: str = "full") -> bool:
    """Whether `cached_run` with these arguments would return at once (measured before, still cached)."""
    return _run_key(name, resolve(config), spec, measure_file, evaluation) in shared_cache()


def cached_outputs(name: str, request: OutputRequest, delta: PruneDelta | None = None) -> Outputs:
    """The dense model's outputs for `request` (`delta` None: once per model and request), or a pruned
    copy's, rebuilt from its delta and dropped after."""
    def compute(report):
        loaded = cached_model(name)
        model = loaded.model if delta is None else delta.build(loaded.model)
        return samples.outputs(model, loaded.tokenizer, request)
    return shared_cache().get(("outputs", name, "dense" if delta is None else delta.digest, request), compute,
                              heavy=True)


def measured_outputs(name: str, measured: Measured, request: OutputRequest) -> Outputs:
    """The pruned copy's outputs for `request`: made with the measurement, else from the copy rebuilt."""
    made = measured.outputs_of(request)
    return made if made is not None else cached_outputs(name, request, measured.delta)


def cached_quality(name: str, delta: PruneDelta, evaluation: str, progress: Progress | None = None) -> Estimate:
    """A measured setting's held-out quality under another evaluation (Refine: the full one), on its copy
    rebuilt from the delta: nothing is pruned or timed again."""
    def compute(report):
        report(0.1, f"scoring on the {evaluation} held-out set")
        return rescore(cached_model(name), delta, evaluation)
    return shared_cache().get(("rescored", name, delta.digest, evaluation), compute, heavy=True,
                              on_update=_updates(progress))


def cached_sensitivity(name: str, group_by: str = "layer") -> pd.DataFrame:
    """The per-layer (or per-kind) sensitivity heatmap of a model on SENSITIVITY_GRID (a heavy job,
    once per model and grouping; any thread may ask: Compare's sweep runs in a background job)."""
    def compute(report):
        return layer_sensitivity(cached_model(name), SENSITIVITY_GRID, group_by=group_by)
    return shared_cache().get(("sensitivity", name, group_by), compute, heavy=True)


def cached_proposal(name: str, target: float, group_by: str = "layer") -> Proposal:
    """The sensitivity-proposed allocation at `target` beside uniform magnitude pruning (Layers shows it,
    Compare stores it with a sweep). With group_by="kind" it picks one sparsity per kind of layer."""
    def compute(report):
        return propose(cached_model(name), cached_sensitivity(name, group_by), target, group_by)
    return shared_cache().get(("proposal", name, target, group_by), compute, heavy=True)


# ---- the analyses of Speed, Layers, Compare and Paper -----------------------------------------------
# Keyed as above: what is computed, the model's key, then the validated settings that decide the result
# (nothing else), so the same question from another session or page finds the same entry.
# Their kind: small values (tables, timings, verdicts) that take seconds to minutes. Only the whole cache
# bounds them, so a class's slider moves (the "result" kind, kept small) do not push them out.
MEASUREMENT = "measurement"


def _pruned_quality(name: str, config: PruneConfig | None, model) -> float:
    """Held-out quality (full evaluation) of `model`, the model `name` pruned with `config`, once per
    setting: Speed's variants and its trade-off share it. The dense model's (config None) is the dense
    baseline's, shared with Explore's cards."""
    if config is None:
        return cached_dense_quality(name, "full").value
    return shared_cache().get(("quality", name, config.validated(), "full"),
                              lambda report: measure_quality(cached_model(name), model), heavy=True,
                              kind=MEASUREMENT)


def _speed_sources(name: str) -> Sources:
    """Masks from the cheap phase's summaries (Explore's, the Layers page's), quality once per setting."""
    return Sources(masks=lambda config: cached_summary(name, config).to_mask_set(),
                   quality=lambda config, model: _pruned_quality(name, config, model))


def _checked(name: str, spec: LatencySpec) -> LatencySpec:
    """`spec` within its limits and the model's positions (PruneScopeError), before any work."""
    return spec.validated(max_positions(cached_model(name).model))


def cached_variants(name: str, sparsity: float, spec: LatencySpec) -> pd.DataFrame:
    """Speed: dense, masked, CSR and structured timed on one batch, one row each (prune_core.speed)."""
    def compute(report):
        rows = compare_variants(cached_model(name), sparsity, spec, sources=_speed_sources(name))
        return pd.DataFrame([v.to_dict() for v in rows])
    key = ("variants", name, float(sparsity), _checked(name, spec))
    return shared_cache().get(key, compute, heavy=True, kind=MEASUREMENT)


def cached_tradeoff(name: str, sparsities: tuple[float, ...], spec: LatencySpec) -> pd.DataFrame:
    """Speed: quality and latency of masked vs structured pruning at `sparsities`, timed together."""
    def compute(report):
        return pd.DataFrame(tradeoff(cached_model(name), list(sparsities), spec, _speed_sources(name)))
    key = ("tradeoff", name, tuple(sparsities), _checked(name, spec))
    return shared_cache().get(key, compute, heavy=True, kind=MEASUREMENT)


def cached_batch_sweep(name: str, sparsity: float, batches: tuple[int, ...], seq_len: int, reps: int) -> pd.DataFrame:
    """Speed: latency of dense, masked and structured over batch sizes."""
    def compute(report):
        return pd.DataFrame(batch_sweep(cached_model(name), sparsity, list(batches), seq_len, reps,
                                        sources=_speed_sources(name)))
    _checked(name, LatencySpec(batch=max(batches), seq_len=seq_len, reps=reps))  # the largest batch fits
    key = ("batch_sweep", name, float(sparsity), tuple(batches), seq_len, reps)
    return shared_cache().get(key, compute, heavy=True, kind=MEASUREMENT)


def cached_csr_break_even(name: str, tokens: int) -> tuple[pd.DataFrame, str, float | None]:
    """Speed: dense vs CSR on the largest MLP layer at `tokens` per call: (timings, layer, break-even)."""
    def compute(report):
        rows, layer, sparsity = largest_layer_break_even(cached_model(name).model, tokens)
        return pd.DataFrame([r.to_dict() for r in rows]), layer, sparsity
    return shared_cache().get(("csr_break_even", name, int(tokens)), compute, heavy=True, kind=MEASUREMENT)


def csr_break_even(name: str, tokens: int) -> CsrBreakEven:
    """The Speed page's break-even entry as "could anything run this faster?" quotes it (Explore, Compare,
    Paper): `faster.answer_for(..., break_even=lambda tokens: csr_break_even(name, tokens))`."""
    _, layer, sparsity = cached_csr_break_even(name, tokens)
    return CsrBreakEven(layer, int(tokens), sparsity)


def cached_gpu_2_4(name: str, batches: tuple[int, ...], seq_len: int) -> GpuReport:
    """Speed: this model dense against its 2:4 twin on the GPU here (in a job slot: one timing at a time)."""
    batches = tuple(sorted(batches))

    def compute(report):
        return measure_2_4(cached_model(name), list(batches), seq_len)
    return shared_cache().get(("gpu_2_4", name, batches, seq_len), compute, heavy=True, kind=MEASUREMENT)


def cached_owl(name: str, config: PruneConfig) -> OwlAllocation:
    """Layers: OWL's outlier profile and per-block sparsities for `config` (its allocation set to OWL)."""
    config = replace(config, allocation="owl").validated()

    def compute(report):
        return owl_only(cached_model(name), config, report)
    return shared_cache().get(("owl", name, config), compute, heavy=True, kind=MEASUREMENT)


def cached_disagreement(name: str, a: str, b: str, sparsity: float, pattern: str) -> Disagreement:
    """Layers: both methods' masks, bit-packed; the masks come from the cheap phase's summaries, so a
    setting already seen on Explore or in the mask picture is not pruned again."""
    def compute(report):
        return compare_methods(cached_model(name), a, b, sparsity, pattern,
                               mask_source=lambda config: cached_summary(name, config).to_mask_set())
    return shared_cache().get(("disagreement", name, a, b, float(sparsity), pattern), compute, heavy=True)


def cached_input_norms(name: str, module: str, config: PruneConfig) -> tuple[np.ndarray, int]:
    """Layers: ||X_j|| per input feature of one matrix on the dense model; it depends only on the
    calibration settings of `config`, so every method with the same ones shares it."""
    config = config.validated()

    def compute(report):
        return input_norms(cached_model(name), module, config)
    key = ("input_norms", name, module, config.calib_samples, config.calib_seq_len, config.seed)
    return shared_cache().get(key, compute, heavy=True, kind=MEASUREMENT)


def cached_flips(name: str, method: str, limit: int) -> FlipSweep:
    """Compare: the held-out sentences' labels along the sparsity grid, dense as the reference."""
    def compute(report):
        return flip_sweep(cached_model(name), method, grid=GRID, limit=limit, progress=report)
    return shared_cache().get(("flips", name, method, GRID, int(limit)), compute, heavy=True, kind=MEASUREMENT)


def cached_token_losses(name: str, config: PruneConfig, window: int) -> pd.DataFrame:
    """Compare: every token's loss in one held-out window, dense and pruned with `config`."""
    config = config.validated()

    def compute(report):
        return token_losses(cached_model(name), config, window)
    return shared_cache().get(("token_losses", name, config, int(window)), compute, heavy=True, kind=MEASUREMENT)


def cached_claims(name: str, settings: PaperSettings, claims: str,
                  progress: Progress | None = None) -> list[ClaimResult]:
    """Paper: the chosen claims' experiments and verdicts (minutes: a grid of pruning runs, or fine-tuning
    over seeds), once for every session that runs the same validated settings."""
    settings = settings.validated()

    def compute(report):
        return paper.run_claims(cached_model(name), settings, claims, report)
    return shared_cache().get(("claims", name, settings, claims), compute, heavy=True, kind=MEASUREMENT,
                              on_update=_updates(progress))
