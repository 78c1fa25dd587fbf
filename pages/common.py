"""Streamlit glue shared by all pages: the model picker and the caches.

The base model is cached with `st.cache_resource`, so every browser session shares one
object: it is only ever read (pruning works on a deep copy, see prune_core.masks). Every cache is
keyed on the model's identity (`LoadedModel.key`: embedded name, absolute folder path or hub id),
never on its display name. An uploaded model's folder lies in a scope private to the session that
uploaded it (see prune_core.uploads), so its key, and every cache entry, is too.
"""
from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

import streamlit as st

from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.run import LatencySpec, dense_baseline, run
from prune_core.uploads import SHARED_SCOPE, save_upload, shared_uploads, sharing
from prune_core.zoo import EMBEDDED, LoadedModel, load_model, resolve

OTHER = "other: local folder or hub id…"
UPLOAD = "upload a model (zip or files)…"
LARGE = 50_000_000  # params; above this, the compressed-file size is measured on request


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_model(key: str) -> LoadedModel:
    """`key` is a resolved identity (zoo.resolve), so './m' and '/abs/m' share one entry."""
    return load_model(key)


@st.cache_resource(max_entries=4, show_spinner=False)
def cached_baseline(key: str, measure_file: bool):
    return dense_baseline(cached_model(key), measure_file)


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


def cached_run(key: str, config: PruneConfig, spec: LatencySpec, measure_file: bool, progress=None):
    """(PruneResult, pruned copy); returning to a setting is instant."""
    def compute():
        loaded = cached_model(key)
        return run(loaded, config, cached_baseline(key, measure_file), spec, measure_file,
                   progress=progress or (lambda f, m: None))
    return run_store().get((key, config.validated(), spec, measure_file), compute)


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
def dense_generation(key: str, prompt: str, n_new: int, seed: int) -> str:
    """The dense continuation does not change with the slider: compute it once per prompt."""
    from prune_core import samples

    loaded = cached_model(key)
    return samples.generate(loaded.model, loaded.tokenizer, prompt, n_new, seed)


def model_picker() -> None:
    """Sidebar selector shared by all pages; the choice lives in st.session_state['model']."""
    with st.sidebar:
        st.markdown("### Model")
        choice = st.selectbox("Transformer to prune", list(EMBEDDED) + [UPLOAD, OTHER], key="model_choice",
                              help="Embedded models work offline. 'upload' takes a zip of a Hugging Face model "
                                   "folder (config.json, tokenizer, .safetensors). 'other' takes a local folder "
                                   "or a hub id such as owner/name when online.")
        if choice == OTHER:
            st.session_state["model"] = st.text_input("Folder or hub id", key="model_other").strip()
        elif choice == UPLOAD:
            st.session_state["model"] = _upload_picker()
        else:
            st.session_state["model"] = choice


def _upload_picker() -> str:
    """File uploader -> a checked-later folder private to this session (or shared, if the operator says so)."""
    files = st.file_uploader("Model zip, or its files", type=["zip", "json", "safetensors", "txt", "model"],
                             accept_multiple_files=True, key="model_upload",
                             help="config.json, tokenizer files and .safetensors weights (pickled .bin files "
                                  "and code are never used). " + ("Uploads are visible to every user of this "
                                  "server." if sharing() else "Only you can use what you upload."))
    earlier = shared_uploads()
    if not files:
        if earlier:
            label = st.selectbox("or one uploaded earlier on this server", [""] + list(earlier), key="model_shared")
            return str(earlier[label]) if label else ""
        return ""
    done = st.session_state.setdefault("model_uploads", {})  # file ids -> Upload or error: extracted once
    ids = tuple(sorted(f.file_id for f in files))
    if ids not in done:
        scope = SHARED_SCOPE if sharing() else st.session_state.setdefault("upload_scope", uuid.uuid4().hex)
        try:
            done[ids] = save_upload([(f.name, f.getvalue()) for f in files], scope)
        except PruneScopeError as exc:
            done[ids] = str(exc)
    upload = done[ids]
    if isinstance(upload, str):
        st.error(f"Cannot use this upload: {upload}")
        return ""
    if upload.ignored:
        st.caption(f"Not used: {', '.join(upload.ignored)}")
    return str(upload.path)


def get_model() -> LoadedModel | None:
    """The picked model, loaded (with a spinner); None with an st.error if it cannot be."""
    name = st.session_state.get("model") or ""
    if not name:
        st.info("Type a local model folder or a hub id, or upload a model, in the sidebar.")
        return None
    try:
        key = resolve(name)
        with st.spinner(f"loading {name} (checked first, then loaded once)…"):
            return cached_model(key)
    except PruneScopeError as exc:
        st.error(f"Cannot load this model: {exc}")
        return None


if __name__ == "__main__":  # opened as a legacy pages/ script before st.navigation ran
    st.session_state["deep_link"] = "common"
    st.switch_page("app.py")
