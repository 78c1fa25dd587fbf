"""Model zoo page: what each embedded model is, where it came from, how good it is dense; and what
this server holds in memory against its budget (what a teacher checks before a class)."""
import pandas as pd
import streamlit as st

from pages.ui.caches import job_gate, shared_cache
from pages.ui.nav import hand_over
from prune_core.budget import human
from prune_core.memory import process_rss
from prune_core.server import server_settings
from prune_core.zoo import embedded_cards


def page() -> None:
    """The zoo table, read from the shipped model cards, then the server's memory and load."""
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
    _server()


def _server() -> None:
    """Memory in use against the budget, the heavy-job line, and the teacher's settings."""
    st.subheader("This server")
    server, usage, gate = server_settings(), shared_cache().usage(), job_gate().status()
    rss = process_rss()
    kinds = ", ".join(f"{k}s {human(v)}" for k, v in sorted(usage.by_kind.items())) or "nothing yet"
    c = st.columns(3)
    c[0].metric("Server process memory", human(rss), f"of {human(server.memory_budget)} budget", delta_color="off",
                help="Resident memory of the whole server (Python, libraries, models, running jobs).")
    c[1].metric("Cached models and results", human(usage.used), f"of {human(usage.capacity)} for the cache",
                delta_color="off", help="Least recently used entries are dropped to stay under this share "
                                        "of the budget; the rest is left for running jobs.")
    c[2].metric("Heavy jobs", f"{gate.running} running", f"{gate.waiting} waiting · at most {gate.limit} at once",
                delta_color="off")
    st.progress(min(1.0, rss / server.memory_budget) if server.memory_budget else 0.0,
                text=f"{human(rss)} of the memory budget ({human(server.memory_budget)}) in use")
    models = [k[1] for k in shared_cache().keys("model")]
    st.markdown(f"In the cache: {usage.entries} entries ({kinds}); models loaded: "
                f"{', '.join(models) if models else 'none yet'}"
                + (f"; {usage.not_kept} result(s) too large to keep" if usage.not_kept else "") + ".")
    mode = ("**Classroom mode is on**: students can use only the zoo"
            + (" and the teacher's folders" if server.extra_models else "") + "; no folders, hub ids or uploads."
            if server.classroom else
            "Classroom mode is off: anyone with the address can load a local folder or a hub id.")
    st.markdown(f"{mode} At most **{server.max_jobs}** heavy computations (pruning runs, evaluations, "
                "generation) run at once; the others wait in line and see their place. Set by "
                "`PRUNESCOPE_CLASSROOM`, `PRUNESCOPE_EXTRA_MODELS`, `PRUNESCOPE_MAX_JOBS`, "
                "`PRUNESCOPE_MEMORY_BUDGET` (README: *Running it for a class*).")


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
