"""The app's pages in one table, and the hand-over of a deep link opened on a fresh server.

app.py builds its navigation from `PAGES`, pages/ui/urlstate.py its page addresses: a page is added
here once. Each page is drawn by the `page()` function of the module named like its URL path.

Why a hand-over: until the first run of app.py calls st.navigation, Streamlit serves the app in its
legacy pages/ mode, where every file directly in pages/ is a page run as a script. So the first
request of a fresh server for /layers?sparsity=70 runs pages/layers.py as `__main__`. The eight page
files end with `if __name__ == "__main__": hand_over(__file__)`: the page asked for (the file's name)
is noted in the session and app.py takes over, with the URL's parameters, and switches to it
(`handed_over`). Helpers live in pages/ui/, which that legacy mode never lists.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

_DEEP_LINK = "deep_link"  # session key: the page a legacy pages/ script asked for


@dataclass(frozen=True)
class PageSpec:
    """One page of the navigation: `path` is its URL path and the module pages/<path>.py."""

    path: str
    title: str
    icon: str


PAGES = (  # in the order of the sidebar; the first is the default page, served at the root
    PageSpec("explore", "Explore", ":material/tune:"),
    PageSpec("speed", "Speed", ":material/speed:"),
    PageSpec("compare", "Compare", ":material/stacked_line_chart:"),
    PageSpec("finetune", "Fine-tune", ":material/model_training:"),
    PageSpec("layers", "Layers", ":material/layers:"),
    PageSpec("history", "History", ":material/history:"),
    PageSpec("paper", "Paper", ":material/science:"),
    PageSpec("models", "Model zoo", ":material/menu_book:"),
)
PAGE_PATHS = tuple(p.path for p in PAGES)
DEFAULT_PAGE = PAGE_PATHS[0]


def hand_over(script: str) -> None:
    """Called by a file of pages/ that Streamlit ran as a legacy page script (`__file__`): go to
    app.py with the URL's parameters, which then shows the page this file's name asks for."""
    st.session_state[_DEEP_LINK] = Path(script).stem
    st.switch_page("app.py", query_params=st.query_params.to_dict())


def handed_over() -> str | None:
    """The page a legacy pages/ script handed over (once), when it is a page other than the default
    one (that one app.py shows anyway); else None."""
    page = st.session_state.pop(_DEEP_LINK, None)
    return page if page in PAGE_PATHS and page != DEFAULT_PAGE else None
