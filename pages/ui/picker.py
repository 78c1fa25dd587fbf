"""The sidebar's model picker (shared by all pages) and the picked model, loaded once for the server."""
from __future__ import annotations

import uuid
from pathlib import Path

import streamlit as st

from prune_core.errors import PruneScopeError
from prune_core.server import server_settings
from prune_core.uploads import SHARED_SCOPE, save_upload, shared_uploads, sharing
from prune_core.zoo import EMBEDDED, LoadedModel, resolve
from pages.ui.caches import cached_model
from pages.ui.urlstate import bind_model, locked

OTHER = "other: local folder or hub id…"


UPLOAD = "upload a model (zip or files)…"


def model_picker() -> None:
    """Sidebar selector shared by all pages; the choice lives in st.session_state['model'].

    On a classroom server (PRUNESCOPE_CLASSROOM=1) it offers only the zoo and the teacher's folders."""
    with st.sidebar:
        st.markdown("### Model")
        try:
            server = server_settings()
        except PruneScopeError as exc:
            st.error(f"This server's settings are wrong: {exc}")
            st.stop()
        options = server.models() + ([UPLOAD, OTHER] if server.custom_models else [])
        added = "; the folders below the zoo were added by the teacher" if server.extra_models else ""
        choice = st.selectbox("Transformer to prune", options, key=bind_model(options, server.models()),
                              format_func=_model_label, disabled=locked("model"),
                              help=("Embedded models work offline" + added + ". " +
                                    ("'upload' takes a zip of a Hugging Face model folder (config.json, "
                                     "tokenizer, .safetensors). 'other' takes a local folder or a hub id such "
                                     "as owner/name when online." if server.custom_models else
                                     "This is a classroom server: only these models can be used.")))
        if choice == OTHER:
            st.session_state["model"] = st.text_input("Folder or hub id", key="model_other").strip()
        elif choice == UPLOAD:
            st.session_state["model"] = _upload_picker()
        else:
            st.session_state["model"] = choice


def _model_label(option: str) -> str:
    if option in EMBEDDED or option in (OTHER, UPLOAD):
        return option
    return f"{Path(option).name} (added by the teacher)"


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
        with st.spinner(f"loading {name} (checked first, then loaded once; shared by all sessions)…"):
            return cached_model(key)
    except PruneScopeError as exc:
        st.error(f"Cannot load this model: {exc}")
        return None
