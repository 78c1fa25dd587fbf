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

import functools
import threading
import time
from typing import Callable

import pandas as pd
import streamlit as st

from prune_core import samples
from prune_core.cache import JobStatus, SharedCache
from prune_core.config import PruneConfig, ResolvedConfig, resolve
from prune_core.delta import PruneDelta
from prune_core.evaluate import Estimate
from prune_core.jobs import JobGate
from prune_core.measure import Measured, Outputs, measure
from prune_core.memory import freeze_long_lived, map_large_blocks, release_soon
from prune_core.metrics import SizeReport
from prune_core.run import DenseBaseline, LatencySpec, dense_quality, dense_size, rescore
from prune_core.samples import OutputRequest
from prune_core.sensitivity import Proposal, layer_sensitivity, propose
from prune_core.settings import settings, usable_cores
from prune_core.summary import MaskSummary, summarize, warm
from prune_core.zoo import LoadedModel, load_model

SENSITIVITY_GRID = [0.3, 0.5, 0.7, 0.9]  # sparsities of the sensitivity analysis (Layers, Compare)


Progress = Callable[[float, str], None]


@st.cache_resource(show_spinner=False)
def job_gate() -> JobGate:
    """Bounds the heavy computations of all sessions (PRUNESCOPE_MAX_JOBS, default the cores)."""
    return JobGate(settings().max_jobs, cores=usable_cores())


@st.cache_resource(show_spinner=False)
def shared_cache() -> SharedCache:
    """Models and results shared by all sessions, within the memory budget (see prune_core.cache).

    Not `st.cache_resource` on each function: it bounds entries by count, not bytes, and a cached
    function may not drive a progress bar created outside it (we want live progress and the
    place in line on slow runs)."""
    map_large_blocks()  # once per server, before the first model loads: freed matrices go back to the OS
    freeze_long_lived()  # what start-up imported: a full collection skips it (prune_core.memory)
    return SharedCache(settings().cache_bytes, job_gate(), limits={"result": settings().results_bytes})


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


def heavy(fn):
    """Run `fn` in a heavy-job slot (for the st.cache_data computations of other pages), then
    hand the memory its working copies used back to the OS."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with job_gate().slot():
                return fn(*args, **kwargs)
        finally:
            release_soon()
    return wrapper


def cached_model(name: str) -> LoadedModel:
    """The base model, loaded once and shared by all sessions (read-only); not queued."""
    settings().check_model(name)
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
    settings = resolve(config)

    def compute(report):
        return summarize(cached_model(name), settings, report)
    return shared_cache().get(("summary", name, settings.config), compute, heavy=False,
                              on_update=_updates(progress))


def cached_run(name: str, config: PruneConfig | ResolvedConfig, spec: LatencySpec, measure_file: bool,
               progress: Progress | None = None, evaluation: str = "full",
               outputs: OutputRequest | None = None) -> Measured:
    """One setting measured, keyed by (model, setting, latency spec, evaluation setup): returning to a
    setting is instant, the same setting asked by several sessions is computed once. Inside the job the
    cheap phase's summary and the dense baseline are found by their own keys (made once, by whoever
    asked first); `outputs` (not part of the key) are made on the job's pruned copy. It keeps the delta
    that rebuilds the copy, not the copy (540 MB for SmolLM2)."""
    settings = resolve(config)

    def compute(report):
        summary = cached_summary(name, settings, report)
        baseline = cached_baseline(name, measure_file, report, evaluation)
        return measure(cached_model(name), settings, summary, baseline, spec, measure_file, evaluation, outputs,
                       report)
    return shared_cache().get(_run_key(name, settings, spec, measure_file, evaluation), compute, heavy=True,
                              on_update=_updates(progress))


def _run_key(name: str, settings: ResolvedConfig, spec: LatencySpec, measure_file: bool, evaluation: str) -> tuple:
    return "run", name, settings.config, spec, measure_file, evaluation


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
    return shared_cache().get(("quality", name, delta.digest, evaluation), compute, heavy=True,
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
