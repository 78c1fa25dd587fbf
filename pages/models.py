"""Model zoo page: what each embedded model is, where it came from, how good it is dense."""
import pandas as pd
import streamlit as st

from prune_core.zoo import embedded_cards


def page() -> None:
    """The zoo table, read from the shipped model cards."""
    st.title("Model zoo")
    st.markdown("Every model here runs offline. The two tiny ones were trained by scripts in this repo on "
                "real public-domain / MIT-licensed text; the other two are real pretrained models shipped "
                "by PyPI wheels. *Quality* is measured on held-out data the model never trained on.")
    rows = []
    for c in embedded_cards():
        rows.append({"name": c["name"], "task": c["task"], "params (M)": round(c["params"] / 1e6, 2),
                     "dense quality": f"{c['quality_metric']} {c['quality_dense']:.3f}",
                     "source": c["source"], "licence": c["licence"], "how made": c["how_made"]})
    st.table(pd.DataFrame(rows).set_index("name"))
    st.caption("Perplexity: lower is better (a uniform guess over the vocabulary scores the vocabulary size). "
               "Accuracy: share of held-out tweets classified correctly.")


if __name__ == "__main__":  # opened as a legacy pages/ script before st.navigation ran
    st.session_state["deep_link"] = "models"
    st.switch_page("app.py")
