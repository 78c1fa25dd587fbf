"""PruneScope entry point: page config, navigation over pages/, the shared model picker."""
from importlib import import_module

import streamlit as st

from pages.ui.picker import model_picker
from pages.ui.live_chart import serve_plotly_js
from pages.ui.nav import DEFAULT_PAGE, PAGES as SPECS, handed_over

st.set_page_config(page_title="PruneScope", page_icon=":material/content_cut:", layout="wide")
serve_plotly_js()

# Each page is the page() function of the module named like its URL path (the table: pages/ui/nav.py).
PAGES = {s.path: st.Page(import_module(f"pages.{s.path}").page, title=s.title, icon=s.icon, url_path=s.path,
                         default=s.path == DEFAULT_PAGE) for s in SPECS}
# Streamlit's own sidebar list is off (.streamlit/config.toml: client.showSidebarNavigation):
# on a fresh server's first request Streamlit runs in its legacy pages/ mode and would list every
# file directly in pages/ until this script has run. So the list is drawn here.
navigation = st.navigation(list(PAGES.values()), position="hidden")
# A URL opened before any st.navigation call runs as a legacy pages/ script, which hands over here
# (pages/ui/nav.py): go to the page that was asked for; a shared link keeps its settings.
if deep_link := handed_over():
    st.switch_page(PAGES[deep_link], query_params=st.query_params.to_dict())
with st.sidebar.container(key="nav"):
    for p in PAGES.values():
        st.page_link(p)
model_picker()
navigation.run()
