"""PruneScope entry point: page config, navigation over pages/, the shared model picker."""
import streamlit as st

from pages import compare, explore, finetune, history, layers, models, paper, speed
from pages.common import model_picker

st.set_page_config(page_title="PruneScope", page_icon=":material/content_cut:", layout="wide")

PAGES = {
    "explore": st.Page(explore.page, title="Explore", icon=":material/tune:", url_path="explore", default=True),
    "speed": st.Page(speed.page, title="Speed", icon=":material/speed:", url_path="speed"),
    "compare": st.Page(compare.page, title="Compare", icon=":material/stacked_line_chart:", url_path="compare"),
    "finetune": st.Page(finetune.page, title="Fine-tune", icon=":material/model_training:", url_path="finetune"),
    "layers": st.Page(layers.page, title="Layers", icon=":material/layers:", url_path="layers"),
    "history": st.Page(history.page, title="History", icon=":material/history:", url_path="history"),
    "paper": st.Page(paper.page, title="Paper", icon=":material/science:", url_path="paper"),
    "models": st.Page(models.page, title="Model zoo", icon=":material/menu_book:", url_path="models"),
}
# Streamlit's own sidebar list is off (.streamlit/config.toml: client.showSidebarNavigation):
# on a fresh server's first request Streamlit runs in its legacy pages/ mode and would list every
# file of pages/ (helpers included) until this script has run. So the list is drawn here.
navigation = st.navigation(list(PAGES.values()), position="hidden")
# A URL opened before any st.navigation call runs as a legacy pages/ script; such a script
# hands over here, and we go to the page that was asked for.
deep_link = st.session_state.pop("deep_link", None)
if deep_link in PAGES and deep_link != "explore":
    st.switch_page(PAGES[deep_link], query_params=st.query_params.to_dict())  # a shared link keeps its settings
with st.sidebar.container(key="nav"):
    for p in PAGES.values():
        st.page_link(p)
model_picker()
navigation.run()
