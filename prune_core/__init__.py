"""PruneScope's library: pruning, measuring and storing, with no Streamlit in it.

OpenMP threads wait passively (set before torch loads, unless the user set
OMP_WAIT_POLICY or GOMP_SPINCOUNT). With the
default spin-waiting, two torch threads on two cores slow down 20-100x as soon as anything else
wants a core (a browser drawing the page, a second student's job, the server's own threads): a
2-thread forward of the tiny GPT took 7 ms alone and 560 ms beside one busy core, 9 ms when
passive (bench/omp_wait.py). Quiet, passive costs nothing measurable.
"""
import os

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
