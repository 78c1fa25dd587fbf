"""Session glue for background jobs (prune_core.jobs.Job): one job per page kept in session state.

Streamlit reruns the page on any click, which interrupts the script but not the job's thread: the
next run of the page finds the job (`settle`), asks it to stop if it still runs and waits for it,
so the page then shows what it did (a partial sweep, a partial training run).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import streamlit as st

from pages.ui.caches import job_gate
from prune_core.jobs import Job, ordinal


def start_job(key: str, work: Callable[[Job], Any], name: str, about: Any = None) -> Job:
    """Start `work` as this session's job under `key`, in a heavy-job slot (it waits its turn)."""
    job = st.session_state[key] = Job(work, job_gate(), name, about).start()
    return job


def settle(key: str, waiting: str) -> Job | None:
    """This session's job under `key`, ended: one still running was interrupted by this rerun, so it
    is asked to stop and waited for (a spinner says `waiting`)."""
    job = st.session_state.get(key)
    if job is not None and job.running():
        job.cancel()
        with st.spinner(waiting):
            job.wait(timeout=600)
    return job


def stop_button(key: str, button_key: str, help: str) -> None:
    """A Stop button for the job under `key` (the click's rerun interrupts the watching script too)."""
    st.button("Stop", key=button_key, on_click=_cancel, args=(key,), icon=":material/stop:", help=help)


def watch(job: Job, draw: Callable[[Job], None], every: float = 1.0) -> None:
    """Call `draw(job)` every `every` seconds until the job ends (it shows the place in line while the
    job waits for a slot). Redrawing costs the job's thread CPU and the GIL: once a second is enough."""
    while job.running():
        draw(job)
        time.sleep(every)


def place_text(job: Job) -> str | None:
    """"waiting for a free slot: 2nd in line (3 heavy jobs running)" while the job waits, else None."""
    return (f"waiting for a free slot: {ordinal(job.place)} in line ({job.busy} heavy jobs running)"
            if job.place else None)


def _cancel(key: str) -> None:
    job = st.session_state.get(key)
    if job is not None:
        job.cancel()
