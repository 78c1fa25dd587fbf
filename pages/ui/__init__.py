"""The pages' building blocks: controls, cards, caches, URL state, navigation and charts.

A subpackage so that Streamlit's legacy multipage discovery (which lists only the files directly
in pages/) never shows a helper as a page: pages/*.py are the eight real pages and nothing else.

The method catalogue loads here, before any page helper: a method module named in PRUNESCOPE_METHODS
that cannot load is then one error box on whatever page was opened, never a traceback.
"""
import streamlit as st

from prune_core.errors import PruneScopeError

try:
    import prune_core.methods  # noqa: F401  (imports every method module, plugins included)
except PruneScopeError as _exc:
    st.error(f"{_exc}. Fix the module or take it out of PRUNESCOPE_METHODS, then reload the page.",
             icon=":material/error:")
    st.stop()
