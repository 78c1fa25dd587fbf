"""PruneScope entry point: page config, the shared model picker, navigation. Nothing else."""
import streamlit as st

from pages.common import model_picker

st.set_page_config(page_title="PruneScope", page_icon=":material/content_cut:", layout="wide")

navigation = st.navigation([
    st.Page("pages/explore.py", title="Explore", icon=":material/tune:", default=True),
    st.Page("pages/models.py", title="Model zoo", icon=":material/menu_book:"),
])
model_picker()
navigation.run()
