"""Streamlit glue shared by all pages: the model picker and the caches.

The base model is cached with `st.cache_resource`, so every browser session shares one
object: it is only ever read (pruning works on a deep copy, see prune_core.masks).
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.run import LatencySpec, dense_baseline, run
from prune_core.zoo import EMBEDDED, LoadedModel, load_model

OTHER = "other: local folder or hub id…"
LARGE = 50_000_000  # params; above this, the compressed-file size is measured on request


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_model(name: str) -> LoadedModel:
    return load_model(name)


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_baseline(name: str, measure_file: bool):
    return dense_baseline(cached_model(name), measure_file)


class RunStore:
    """Results of pruning runs shared by all sessions, keyed on every setting (LRU, thread-safe).

    Not `st.cache_resource` on the run itself: a cached function may not drive a progress bar
    created outside it, and we want live progress on slow runs (SparseGPT on SmolLM2).
    """

    def __init__(self, size: int = 6):
        self.size, self.lock, self.items = size, threading.Lock(), OrderedDict()

    def get(self, key, compute):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = compute()  # outside the lock: other sessions keep working meanwhile
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


@st.cache_resource(show_spinner=False)
def run_store() -> RunStore:
    return RunStore()


def cached_run(name: str, config: PruneConfig, spec: LatencySpec, measure_file: bool, progress=None):
    """(PruneResult, pruned copy); returning to a setting is instant."""
    def compute():
        loaded = cached_model(name)
        return run(loaded, config, cached_baseline(name, measure_file), spec, measure_file,
                   progress=progress or (lambda f, m: None))
    return run_store().get((name, config.validated(), spec, measure_file), compute)


@st.cache_resource(show_spinner=False)
def summary_store() -> RunStore:
    """Cheap-phase summaries: small (counts, sizes, a few layers' masks), except where a calibration
    method made the masks (kept for the measuring phase: 1 byte a weight, plus SparseGPT's weights)."""
    return RunStore(size=16)


@st.cache_resource(max_entries=4, show_spinner=False)
def warm_model(name: str) -> threading.Thread:
    """Build the per-model facts the cheap phase counts on, once, in the background (seconds for
    SmolLM2): a slider move that comes before it is done waits for it, later ones do not."""
    from prune_core.summary import warm

    thread = threading.Thread(target=warm, args=(cached_model(name),), name=f"warm-{name}", daemon=True)
    thread.start()
    return thread


def cached_summary(name: str, config: PruneConfig, progress=None):
    """The cheap phase of a slider move: counts and sizes from weights and masks (no copy, no evaluation)."""
    from prune_core.summary import summarize

    return summary_store().get((name, config.validated()), lambda: summarize(
        cached_model(name), config, progress or (lambda f, m: None)))


def cached_measure(name: str, config: PruneConfig, spec: LatencySpec, measure_file: bool, progress=None,
                   summary=None):
    """The heavy phase (pruned copy, quality, latency, file size): the one entry point for heavy work,
    shared with `cached_run` (same key). `summary`: the cheap phase's MaskSummary, whose masks and
    counts are reused (its masks are built only when the result is not cached)."""
    def compute():
        loaded = cached_model(name)
        return run(loaded, config, cached_baseline(name, measure_file), spec, measure_file,
                   progress=progress or (lambda f, m: None), summary=summary)
    return run_store().get((name, config.validated(), spec, measure_file), compute)


@st.cache_data(max_entries=64, show_spinner=False)
def dense_generation(name: str, prompt: str, n_new: int, seed: int) -> str:
    """The dense continuation does not change with the slider: compute it once per prompt."""
    from prune_core import samples

    loaded = cached_model(name)
    return samples.generate(loaded.model, loaded.tokenizer, prompt, n_new, seed)


def model_picker() -> None:
    """Sidebar selector shared by all pages; the choice lives in st.session_state['model']."""
    with st.sidebar:
        st.markdown("### Model")
        choice = st.selectbox("Transformer to prune", list(EMBEDDED) + [OTHER], key="model_choice",
                              help="Embedded models work offline. 'other' takes a local Hugging Face "
                                   "folder (safetensors) or a hub id such as owner/name when online.")
        if choice == OTHER:
            st.session_state["model"] = st.text_input("Folder or hub id", key="model_other").strip()
        else:
            st.session_state["model"] = choice


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
