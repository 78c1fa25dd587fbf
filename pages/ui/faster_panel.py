"""The "could anything run these faster?" panel for stored runs (Compare rows, Paper runs)."""
from __future__ import annotations

import streamlit as st

from pages.ui.caches import csr_break_even
from prune_core import faster
from prune_core.run import LatencySpec
from prune_core.zoo import LoadedModel

def faster_expander(loaded: LoadedModel, runs) -> None:
    """"Could anything run these faster?" for stored runs (Compare rows, Paper runs): a verdict and the
    measured speed-up per run, and the full sourced answer per pattern."""
    with st.expander("Could anything run these faster?", icon=":material/speed:"):
        table, answers = faster.for_runs(loaded, runs, LatencySpec.for_model(loaded.card).seq_len,
                                         break_even=lambda n: csr_break_even(loaded.key, n))
        st.dataframe(table, hide_index=True, width="stretch")
        for answer in answers:
            st.markdown(answer.markdown())
