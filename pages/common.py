"""Streamlit glue shared by all pages: the model picker, the caches and the heavy-job gate.

Base models and results live in one SharedCache for the whole server (bounded by the memory
budget, each value computed once however many sessions ask). A base model is shared by every
browser session, so it is only ever read (pruning works on copies, see prune_core.masks).
Heavy work (pruning runs, evaluations, generation) waits for a slot in the JobGate.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import streamlit as st

from prune_core.cache import JobStatus, SharedCache
from prune_core.config import PruneConfig
from prune_core.delta import PruneDelta
from prune_core.errors import PruneScopeError
from prune_core.jobs import JobGate
from prune_core.memory import release_soon
from prune_core.run import LatencySpec, PruneResult, dense_baseline, run
from prune_core.settings import settings
from prune_core.zoo import EMBEDDED, LoadedModel, load_model

OTHER = "other: local folder or hub id…"
LARGE = 50_000_000  # params; above this, the compressed-file size is measured on request
Progress = Callable[[float, str], None]


@st.cache_resource(show_spinner=False)
def job_gate() -> JobGate:
    """Bounds the heavy computations of all sessions (PRUNESCOPE_MAX_JOBS, default the cores)."""
    return JobGate(settings().max_jobs)


@st.cache_resource(show_spinner=False)
def shared_cache() -> SharedCache:
    """Models and results shared by all sessions, within the memory budget (see prune_core.cache).

    Not `st.cache_resource` on each function: it bounds entries by count, not bytes, and a cached
    function may not drive a progress bar created outside it (we want live progress and the
    place in line on slow runs)."""
    return SharedCache(settings().cache_bytes, job_gate())


def _updates(progress: Progress | None) -> Callable[[JobStatus], None] | None:
    return None if progress is None else (lambda s: progress(min(1.0, s.fraction), s.text))


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


def cached_baseline(name: str, measure_file: bool, progress: Progress | None = None):
    """Dense quality and sizes, measured once per model (a heavy job)."""
    def compute(report):
        report(0.05, f"measuring the dense {name} once (shared by all sessions)")
        return dense_baseline(cached_model(name), measure_file)
    return shared_cache().get(("baseline", name, measure_file), compute, heavy=True, kind="baseline",
                              on_update=_updates(progress))


def cached_run(name: str, config: PruneConfig, spec: LatencySpec, measure_file: bool,
               progress: Progress | None = None) -> tuple[PruneResult, PruneDelta]:
    """(PruneResult, PruneDelta); returning to a setting is instant, the same setting asked by
    several sessions is computed once. The delta rebuilds the pruned copy (`delta.build`) or one
    pruned matrix (`delta.weight`): a whole copy is not kept (540 MB for SmolLM2)."""
    def compute(report):
        loaded = cached_model(name)
        baseline = cached_baseline(name, measure_file, report)
        result, pruned = run(loaded, config, baseline, spec, measure_file, progress=report)
        return result, PruneDelta.between(loaded.model, pruned, result.structure)
    return shared_cache().get(("run", name, config.validated(), spec, measure_file), compute, heavy=True,
                              on_update=_updates(progress))


def dense_generation(name: str, prompt: str, n_new: int, seed: int) -> str:
    """The dense continuation does not change with the slider: compute it once per prompt."""
    from prune_core import samples

    def compute(report):
        loaded = cached_model(name)
        return samples.generate(loaded.model, loaded.tokenizer, prompt, n_new, seed)
    return shared_cache().get(("generate", name, "dense", prompt, n_new, seed), compute, heavy=True)


def pruned_generation(name: str, delta: PruneDelta, prompt: str, n_new: int, seed: int) -> str:
    """The pruned model's continuation, from a copy rebuilt for it and dropped after."""
    from prune_core import samples

    def compute(report):
        loaded = cached_model(name)
        return samples.generate(delta.build(loaded.model), loaded.tokenizer, prompt, n_new, seed)
    return shared_cache().get(("generate", name, delta.digest, prompt, n_new, seed), compute, heavy=True)


def pruned_classification(name: str, delta: PruneDelta, sentences: list[str]) -> list[dict[str, float]]:
    """Class probabilities of the pruned model, from a copy rebuilt for it and dropped after."""
    from prune_core import samples

    def compute(report):
        loaded = cached_model(name)
        return samples.classify(delta.build(loaded.model), loaded.tokenizer, sentences)
    return shared_cache().get(("classify", name, delta.digest, tuple(sentences)), compute, heavy=True)


def model_picker() -> None:
    """Sidebar selector shared by all pages; the choice lives in st.session_state['model'].

    On a classroom server (PRUNESCOPE_CLASSROOM=1) it offers only the zoo and the teacher's folders."""
    with st.sidebar:
        st.markdown("### Model")
        try:
            server = settings()
        except PruneScopeError as exc:
            st.error(f"This server's settings are wrong: {exc}")
            st.stop()
        options = server.models() + ([OTHER] if server.custom_models else [])
        added = "; the folders below the zoo were added by the teacher" if server.extra_models else ""
        choice = st.selectbox("Transformer to prune", options, key="model_choice", format_func=_model_label,
                              help=("Embedded models work offline" + added + ". " +
                                    ("'other' takes a local Hugging Face folder (safetensors) or a hub id such "
                                     "as owner/name when online." if server.custom_models else
                                     "This is a classroom server: only these models can be used.")))
        if choice == OTHER:
            st.session_state["model"] = st.text_input("Folder or hub id", key="model_other").strip()
        else:
            st.session_state["model"] = choice


def _model_label(option: str) -> str:
    return option if option in EMBEDDED or option == OTHER else f"{Path(option).name} (added by the teacher)"


def get_model() -> LoadedModel | None:
    """The picked model, loaded (with a spinner); None with an st.error if it cannot be."""
    name = st.session_state.get("model") or ""
    if not name:
        st.info("Type a local model folder or a hub id in the sidebar.")
        return None
    try:
        with st.spinner(f"loading {name} (once; shared by all sessions)…"):
            return cached_model(name)
    except PruneScopeError as exc:
        st.error(f"Cannot load this model: {exc}")
        return None


if __name__ == "__main__":  # opened as a legacy pages/ script before st.navigation ran
    st.session_state["deep_link"] = "common"
    st.switch_page("app.py")
