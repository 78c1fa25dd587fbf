"""Compare: a grid of methods x sparsities on the picked model, every run stored, charts with Pareto front.

A sweep runs as a background job (pages/ui/background.py) and can be stopped: the Stop button (or any
other control: Streamlit reruns the page on every click, interrupting the script but not the job)
sets a flag the sweep checks at each stage of a run; the runs that finished are kept and the next
run of the page says how many.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pages.ui import charts
from pages.ui.breaks import breaks_section
from pages.ui.background import place_text, settle, start_job, stop_button, watch
from pages.ui.caches import cached_proposal
from pages.ui.picker import get_model
from pages.ui.faster_panel import faster_expander
from pages.ui.urlstate import Controls
from pages.ui.nav import hand_over
from prune_core.config import ALLOCATIONS, PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.jobs import Job
from prune_core.methods import METHODS
from prune_core.run import LatencySpec
from prune_core.store import Store
from prune_core.sweep import EXECUTORS, PROPOSED, ExecutorUnavailable, grid_configs, parse_grid, proposed_run, run_sweep
from prune_core.tables import SIZE_LABELS

X_AXES = {"sparsity_actual": "sparsity (fraction of weights in scope removed)",
          "latency_ms": "measured latency (ms)"}
PROPOSED_LABEL = "proposed (magnitude, non-uniform)"
OWL_SUFFIX = " + OWL"  # a method's runs with the OWL allocation are their own series


JOB = "cmp_active"  # session key of this page's sweep job


@dataclass(frozen=True)
class _Sweep:
    """What a sweep job was started with."""

    sweep: str  # the id its runs are stored under
    total: int  # runs planned (the grid and the proposed allocations)
    model: str


def _start() -> None:
    st.session_state["cmp_start"] = True


def _settle_interrupted(store: Store) -> None:
    """A sweep of this session is still marked active: this rerun interrupted it. Ask it to stop, wait
    for the run in progress to end, and say how many runs were kept."""
    job = settle(JOB, "stopping the sweep: waiting for the run in progress to end…")
    if job is None:
        return
    sweep = job.about
    kept = int((store.runs(model=sweep.model)["sweep"] == sweep.sweep).sum())
    st.session_state.pop(JOB, None)
    st.session_state["cmp_sweep"] = sweep.sweep
    st.session_state["cmp_note"] = ("warning", f"Sweep stopped: {kept} of {sweep.total} runs kept "
                                               f"(partial sweep {sweep.sweep}); the run in progress was dropped.")


def _sweep(loaded, configs, grid: list[float], store: Store, executor: str, address: str, fallback: bool,
           proposed: bool, job: Job) -> tuple[pd.DataFrame, int]:
    """The grid, then the proposed allocations: (the grid's frame, runs done). Runs in the job's thread."""
    total, sweep = job.about.total, job.about.sweep
    frame = run_sweep(loaded, configs, store, LatencySpec.for_model(loaded.card), should_stop=job.cancelled,
                      progress=lambda i, n, c: job.report(i / total, f"{i}/{total} done; last: {c.method} "
                                                                     f"at {c.sparsity:.0%}"),
                      executor=executor, address=address or None, fallback_local=fallback, sweep_id=sweep)
    done = len(frame)
    if proposed and not frame.attrs["partial"]:
        dense_q = float(frame["quality_dense"].iloc[0])
        for target in grid:
            if job.cancelled():
                break
            job.report(done / total, f"{done}/{total} done; sensitivity-proposed allocation at {target:.0%}"
                                     " (the sensitivity analysis runs once per model)")
            proposal = cached_proposal(loaded.key, target)
            store.add(proposed_run(loaded, target, proposal.allocation, proposal.quality, proposal.sparsity, dense_q),
                      sweep=sweep)
            done += 1
    return frame, done


def _run(loaded, configs, grid: list[float], store: Store, executor: str, address: str, fallback: bool,
         proposed: bool) -> None:
    """Run the sweep (and the proposed allocations) as a background job with a Stop button, in one
    heavy-job slot (a class shares the cores: a sweep waits its turn like a slider move); the page
    reruns when done."""
    about = _Sweep(sweep=uuid.uuid4().hex[:12], total=len(configs) + (len(grid) if proposed else 0), model=loaded.key)
    job = start_job(JOB, lambda job: _sweep(loaded, configs, grid, store, executor, address, fallback, proposed, job),
                    "prunescope-sweep", about)
    st.session_state.pop("cmp_note", None)
    stop_button(JOB, "cmp_stop", "Stops the sweep; the runs already finished stay stored and charted.")
    bar = st.progress(0.0, text="measuring the dense model…")
    watch(job, lambda job: bar.progress(0.0 if job.place else min(1.0, job.fraction),
                                        text=place_text(job) or job.text or "measuring the dense model…"), 0.25)
    if job.cancelled():  # a newer run of the page took over (see _settle_interrupted): leave it the page
        return
    st.session_state.pop(JOB, None)
    if isinstance(job.error, ExecutorUnavailable):
        st.error(f"Cannot run on {executor}: {job.error}. In this page: pick *local* under *Run on*, or tick *if Ray "
                 "is unavailable, run locally instead*.")
        st.stop()
    if isinstance(job.error, PruneScopeError):
        st.error(f"The sweep stopped: {job.error}")
        st.stop()
    if job.error is not None:
        raise job.error
    frame, done = job.result
    st.session_state["cmp_sweep"] = about.sweep
    text = (f"{done} runs in {frame.attrs['seconds']:.1f} s on the {frame.attrs['executor']} executor "
            f"(sweep {about.sweep}).")
    st.session_state["cmp_note"] = ("warning", f"{frame.attrs['note']}. {text}") if frame.attrs["note"] else ("success", text)
    st.rerun()  # redraw with the Run button enabled again and the new sweep charted


@dataclass(frozen=True)
class _Choices:
    """What the page's controls ask for."""

    methods: list[str]
    grid_text: str
    allocation: str
    proposed: bool  # add the sensitivity-proposed allocation at each sparsity of the grid
    executor: str
    address: str  # Ray cluster address ("" for $RAY_ADDRESS or a local Ray)
    fallback: bool  # run locally when Ray is unavailable


def _grid_controls(url: Controls) -> tuple[list[str], str, str]:
    """Methods, sparsity grid and allocation."""
    c1, c2, c3 = st.columns([2, 2, 1])
    methods = c1.multiselect("Methods", list(METHODS), default=["random", "magnitude", "wanda"],
                             key=url.many("methods", "cmp_methods", METHODS), disabled=url.locked("methods"))
    grid_text = c2.text_input("Sparsity grid (start:stop:step or a comma list)", "0:0.9:0.1",
                              key=url.text("grid", "cmp_grid", parse_grid), disabled=url.locked("grid"))
    allocation = c3.radio("Allocation", list(ALLOCATIONS), key=url.select("allocation", "cmp_alloc", ALLOCATIONS),
                          disabled=url.locked("allocation"),
                          help="\n\n".join(f"**{k}**: {v}" for k, v in ALLOCATIONS.items())
                          + f"\n\nOWL runs with the paper's M = {PruneConfig().owl_m:g} and λ = "
                            f"{PruneConfig().owl_lambda:g} (the CLI sets others: --owl-m, --owl-lambda).")
    return methods, grid_text, allocation


def _choices(url: Controls) -> _Choices:
    methods, grid_text, allocation = _grid_controls(url)
    proposed = st.checkbox("Add the sensitivity-proposed allocation: magnitude pruning with per-layer sparsities "
                           "chosen from a sensitivity analysis, at each sparsity of the grid",
                           key=url.flag("proposed", "cmp_proposed"), disabled=url.locked("proposed"),
                           help="The same proposal as on the Layers page; it is stored with the sweep.")
    e1, e2, e3 = st.columns([1, 2, 2])
    executor = e1.radio("Run on", list(EXECUTORS), key=url.select("executor", "cmp_executor", EXECUTORS),
                        disabled=url.locked("executor"), horizontal=True, help="; ".join(
        f"{name}: {cls.description}" for name, cls in EXECUTORS.items()))
    address, fallback = "", False
    if executor == "ray":
        address = e2.text_input("Ray cluster address (blank: $RAY_ADDRESS, else a small local Ray)",
                                key=url.text("ray", "cmp_ray_address"), placeholder="host:6379 or ray://host:10001")
        fallback = e3.checkbox("if Ray is unavailable, run locally instead", key=url.flag("fallback", "cmp_fallback"))
    return _Choices(methods, grid_text, allocation, proposed, executor, address, fallback)


def _plan(choices: _Choices) -> tuple[list[float], list[PruneConfig], Store]:
    """The grid, its configs and the results store; a bad grid stops the page with a message."""
    try:
        grid = parse_grid(choices.grid_text)
        needs_calibration = any(METHODS[m].info.needs_calibration for m in choices.methods)
        configs = grid_configs(choices.methods, grid, extra=len(grid) if choices.proposed else 0,
                               allocation=choices.allocation if choices.allocation != "global" or not needs_calibration
                               else "layer")
        store = Store(on_wait=st.toast)  # another program holds the lock: say so while waiting
    except PruneScopeError as exc:
        st.error(f"Cannot run this grid: {exc}")
        st.stop()
    return grid, configs, store


def _run_section(loaded, choices: _Choices, grid: list[float], configs: list[PruneConfig], store: Store) -> None:
    """What a sweep will do, the Run button, and the sweep itself when it was pressed."""
    runs_n = len(configs) + (len(grid) if choices.proposed else 0)
    st.caption(f"{runs_n} runs; results go to `{store.path}` (set PRUNESCOPE_DATA to move it). "
               "Stop (or any other control) stops the sweep while it runs; finished runs are kept.")
    if store.readonly:
        st.warning(f"The results store `{store.path}` is on read-only storage: its runs are shown, but a new sweep "
                   "cannot be stored. Set PRUNESCOPE_DATA to a writable folder to run one.")
    starting = st.session_state.pop("cmp_start", False)
    st.button("Run sweep", type="primary", key="cmp_run", on_click=_start, disabled=starting or store.readonly)
    if starting:
        _run(loaded, configs, grid, store, choices.executor, choices.address, choices.fallback, choices.proposed)
    if note := st.session_state.get("cmp_note"):
        getattr(st, note[0])(note[1])


def _results(loaded, store: Store, rep_key: str) -> None:
    """The session's sweep (or every stored run of the model) charted."""
    sweep = st.session_state.get("cmp_sweep")
    runs = store.runs(model=loaded.key)
    if sweep:
        runs = runs[runs["sweep"] == sweep]
    if runs.empty:
        st.info("No stored runs for this model yet: press *Run sweep*.")
    else:
        _charts(runs, store, rep_key)
        faster_expander(loaded, runs)


def page() -> None:
    """Sweep controls -> stored runs -> comparison charts and downloads."""
    st.title("Compare methods")
    st.markdown("One slider at a time is not enough: run every method over a grid of sparsities and see them on "
                "one chart, against the dense model. Every run is stored, so the History page finds it tomorrow.")
    url = Controls("compare")
    loaded = get_model()
    if loaded is None:
        st.stop()
    choices = _choices(url)
    grid, configs, store = _plan(choices)
    _settle_interrupted(store)
    url.text("sweep", "cmp_sweep", lambda sweep: _stored_sweep(store, loaded.key, sweep))  # a link shows its sweep
    rep_key = url.select("size_format", "cmp_rep", SIZE_LABELS)
    url.done()
    _run_section(loaded, choices, grid, configs, store)
    _results(loaded, store, rep_key)
    breaks_section(loaded)


def _stored_sweep(store: Store, model: str, sweep: str) -> None:
    """A sweep named in a link must be stored for this model (another server's link may not be)."""
    if not (store.runs(model=model)["sweep"] == sweep).any():
        raise ValueError(f"no stored sweep {sweep} of {model} in this server's results store")


def _charts(runs: pd.DataFrame, store: Store, rep_key: str) -> None:
    """Quality vs sparsity (with any proposed allocation), vs size, vs latency; downloads."""
    runs = runs.assign(series=runs["method"].where(runs["allocation"] != PROPOSED, PROPOSED_LABEL)
                       .where(runs["allocation"] != "owl", runs["method"] + OWL_SUFFIX))
    measured = runs[runs["allocation"] != PROPOSED]  # proposed allocations have no size or latency
    metric = runs["quality_metric"].iloc[0]
    dense_q = float(runs["quality_dense"].iloc[0])
    every = pd.DataFrame([store.record(int(i)) for i in runs["id"]])
    records = every[(runs["allocation"] != PROPOSED).to_numpy()]
    st.plotly_chart(charts.compare_chart(runs, "sparsity_actual", X_AXES["sparsity_actual"], metric, dense_q, 0.0,
                                         series="series"), width="stretch")
    if (runs["allocation"] == PROPOSED).any():
        st.caption(f"*{PROPOSED_LABEL}* keeps the most sensitive layers denser (from the Layers page's "
                   "sensitivity analysis) and spends the budget where it hurts least; compare it with *magnitude*, "
                   "which removes the same share from every layer. The dashed line is the dense model.")
    if (runs["allocation"] == "owl").any():
        st.caption(f"*method{OWL_SUFFIX}*: the same method with OWL's per-block sparsities (blocks with more outlier "
                   "scores keep more weights); the overall sparsity is the same, so compare each with its uniform "
                   "series at the same x.")
    if measured.empty:
        return
    rep = st.selectbox("Size representation", list(SIZE_LABELS), index=list(SIZE_LABELS).index("bitmask"),
                       format_func=SIZE_LABELS.get, key=rep_key)
    col = f"size_pruned_{rep}"
    if col in records and records[col].notna().any():
        sized = measured.assign(size_mb=records[col].to_numpy() / 1e6).dropna(subset=["size_mb"])
        dense_mb = float(records[f"size_dense_{rep}"].dropna().iloc[0]) / 1e6 if records[f"size_dense_{rep}"].notna().any() else None
        fig = charts.compare_chart(sized, "size_mb", f"size, {SIZE_LABELS[rep]} (MB)", metric, dense_q, dense_mb,
                                   lines=False, series="series")
        st.plotly_chart(fig, width="stretch")
    else:
        st.info(f"No run of this sweep has a {SIZE_LABELS[rep]} size (it applies only to some patterns).")
    lat = charts.compare_chart(measured, "latency_ms", X_AXES["latency_ms"], metric, dense_q,
                               float(measured["latency_ms_dense"].median()), lines=False, series="series")
    st.plotly_chart(lat, width="stretch")
    st.caption("Masks do not make a dense model faster: expect the latency points to pile up at the dense "
               "latency. Ringed points are the Pareto front (no other run is both smaller/faster and better). "
               "Each chart's camera icon downloads a PNG. On Ray, runs execute side by side, so their "
               "latencies share the CPU: compare each run with its own dense timing.")
    d1, d2 = st.columns(2)
    d1.download_button("Download the table (CSV)", every.to_csv(index=False), "prunescope_runs.csv", "text/csv")
    d2.download_button("Download the latency chart (interactive HTML)", lambda: charts.standalone_html(lat),
                       "prunescope_latency.html", "text/html")


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
