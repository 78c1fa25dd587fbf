"""Fine-tune: recovery training that keeps the pruning pattern, with live curves and a Stop button.

Training runs in a background thread so the page can redraw its curves while it runs. Streamlit
reruns the page on any click, which interrupts the script but not the thread: the next run of the
page finds the job still active, asks it to stop, waits for it and shows the partial result.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from pages.ui import charts
from pages.ui.background import place_text, settle, start_job, stop_button, watch
from pages.ui.caches import shared_cache
from pages.ui.picker import get_model
from pages.ui.stepmode import step_section
from pages.ui.nav import hand_over
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.export import zip_export
from prune_core.jobs import Job
from prune_core.finetune import FinetuneConfig, finetune, recovery_budget
from prune_core.methods import METHODS
from prune_core.patterns import PATTERNS, WEIGHT_LEVEL, parse_pattern
from prune_core.recipe import export_finetuned

JOB = "ft_job"  # session key of this page's background job


@dataclass
class _Training:
    """What a fine-tuning job was started with, and its curve so far (appended by the job's thread)."""

    model: str  # the base model's key
    config: PruneConfig
    ft: FinetuneConfig
    model_key: tuple  # where the fine-tuned model goes in the shared cache
    points: list = field(default_factory=list)


def _start(loaded, config: PruneConfig, ft: FinetuneConfig) -> Job:
    """Start fine-tuning as this session's background job.

    The fine-tuned model goes to the shared cache (counted in the memory budget, dropped first when it
    is full), not to the session: `model_key` finds it."""
    training = _Training(loaded.key, config, ft, ("finetuned", uuid.uuid4().hex))

    def work(job: Job):
        result, model = finetune(loaded, config, ft, lambda p, n: training.points.append(p), job.cancelled)
        shared_cache().get(training.model_key, lambda report: model, kind="finetuned")
        return result
    return start_job(JOB, work, "prunescope-finetune", training)


def _curve(job: Job) -> pd.DataFrame:
    return pd.DataFrame([p.to_dict() for p in list(job.about.points)])


def _watch(job: Job, chart_box, bar) -> None:
    """Redraw the curves about once a second until the job ends."""
    steps = job.about.ft.steps
    redraws = 0

    def draw(job: Job) -> None:
        nonlocal redraws
        if waiting := place_text(job):
            bar.progress(0.0, text=waiting)
        curve = _curve(job)
        if len(curve):
            last = curve.iloc[-1]
            bar.progress(min(1.0, last["step"] / steps), text=f"step {int(last['step'])}/{steps}: batch loss "
                                                              f"{last['train_loss']:.4f}, sparsity {last['sparsity']:.1%}")
            chart_box.plotly_chart(charts.training_curve(curve, None, "Fine-tuning (live)"),
                                   width="stretch", key=f"ft_live_{redraws}")
            redraws += 1
    watch(job, draw)


def _zip_export(model, job: Job, loaded) -> bytes:
    """The fine-tuned model as an exported folder (safetensors + tokenizer + recipe.json), zipped when
    the button is clicked (not kept: it is as big as the model)."""
    training = job.about
    return zip_export(lambda folder: export_finetuned(model, loaded, job.result, training.config, training.ft,
                                                      folder))


def _controls(loaded) -> tuple[PruneConfig, FinetuneConfig]:
    budget = recovery_budget(loaded.key)
    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("Method", list(METHODS), index=list(METHODS).index("magnitude"), key="ft_method",
                          help="\n\n".join(f"**{k}**: {m.info.description}" for k, m in METHODS.items()))
    patterns = [p for p in PATTERNS if parse_pattern(p).granularity in WEIGHT_LEVEL]
    pattern = c2.selectbox("Pattern", patterns, key="ft_pattern", help="Fine-tuning keeps unstructured and N:M masks.")
    fixed = parse_pattern(pattern).fixed_sparsity
    if fixed is None:
        sparsity = c3.slider("Sparsity (% of weights removed)", 0, 95, 80, 5, key="ft_sparsity") / 100
    else:
        sparsity = fixed
        c3.caption(f"{pattern} always removes {fixed:.0%} of the weights.")
    d1, d2, d3 = st.columns(3)
    steps = d1.number_input("Steps", min_value=1, max_value=20_000, value=budget.steps, key="ft_steps")
    lr = d2.number_input("Learning rate", min_value=0.0, max_value=1e6, value=budget.lr, format="%.5f", key="ft_lr",
                         help="Peak AdamW rate: warm-up over 10 % of the steps, then linear decay.")
    seed = d3.number_input("Seed", 0, 10_000, 0, key="ft_seed")
    config = PruneConfig(method=method, sparsity=sparsity, pattern=pattern, seed=int(seed)).validated()
    ft = FinetuneConfig(steps=int(steps), lr=float(lr), batch_size=budget.batch_size, seq_len=budget.seq_len,
                        eval_every=max(1, int(steps) // 15), seed=int(seed)).validated()
    return config, ft


def _report(job: Job, loaded) -> None:
    res = job.result
    metric = res.quality_metric
    lower = loaded.card.metric.lower_is_better
    if res.partial:
        st.warning(f"Stopped after {res.steps_done} of {res.steps} steps: these are partial results.")
    if res.diverged:
        st.error("Training diverged (the loss became NaN or infinite): the last good weights were restored.")
    k = st.columns(4)
    k[0].metric(f"Dense {metric}", f"{res.quality_dense:.4g}")
    if res.quality_pruned is not None:
        k[1].metric("Pruned, before recovery", f"{res.quality_pruned:.4g}", f"{res.quality_pruned - res.quality_dense:+.4g}",
                    delta_color="inverse" if lower else "normal")
    else:
        k[1].metric("Pruned, before recovery", "n/a", "pruned during training", delta_color="off")
    k[2].metric("After fine-tuning", f"{res.quality:.4g}", f"{res.quality - res.quality_dense:+.4g} vs dense",
                delta_color="inverse" if lower else "normal")
    k[3].metric("Weights removed (kept all along)", f"{res.sparsity_actual:.1%}",
                f"gap {res.generalization_gap:+.4f} (dense {res.generalization_gap_dense:+.4f})", delta_color="off",
                help="Generalization gap: validation loss minus training loss on fixed subsets.")
    st.plotly_chart(charts.training_curve(_curve(job), res.val_loss_dense,
                                          f"Fine-tuning {res.method} at {res.sparsity_target:.0%} ({res.pattern})"),
                    width="stretch")
    st.caption(f"{res.steps_done} steps of {res.batch_size} sequences on the training split, {res.device}, "
               f"{res.seconds:.1f} s. Validation loss on a fixed held-out subset; quality with the model card's "
               f"evaluation ({loaded.card.eval}). The pattern is checked after every step.")
    for note in res.notes:
        st.info(note)
    model = shared_cache().peek(job.about.model_key)
    if model is None:
        st.warning("The fine-tuned model was dropped to keep the server within its memory budget (the figures above "
                   "stay). Press *Fine-tune* again to download it, or rebuild it headless from the command below.")
    else:
        st.download_button("Download the fine-tuned model (zip: safetensors, tokenizer, recipe.json)",
                           lambda: _zip_export(model, job, loaded),
                           f"{res.model}-{res.method}-{res.sparsity_target:.0%}-finetuned.zip", "application/zip",
                           key="ft_download", on_click="ignore")
    st.caption("Reload it with `transformers` (zeros included) or rebuild it headless: "
               "`python -m prune_core finetune --recipe recipe.json`.")


def page() -> None:
    """Settings -> background fine-tuning with live curves -> before/after figures and export."""
    st.title("Fine-tune: recover what pruning lost")
    st.markdown(
        "Pruning removes weights a trained network relied on. A little more training, keeping the removed weights "
        "at zero, lets the others compensate. *gradual* and *movement* go further: they prune while training. "
        "Watch the training and validation loss: if validation stops falling while training does, the model "
        "starts memorising.")
    loaded = get_model()
    if loaded is None:
        st.stop()
    _run_section(loaded)
    step_section(loaded)


def _run_section(loaded) -> None:
    """Controls -> background fine-tuning with live curves -> its report."""
    try:
        config, ft = _controls(loaded)
    except PruneScopeError as exc:
        st.error(f"Cannot fine-tune with these settings: {exc}")
        return

    job = settle(JOB, "stopping: finishing the current step…")  # a rerun interrupted it: keep what it did
    start = st.button("Fine-tune", type="primary", key="ft_run")
    if start:
        job = _start(loaded, config, ft)
        stop_button(JOB, "ft_stop", "Stops after the current step; the result so far is kept and labelled partial.")
        bar, chart_box = st.progress(0.0, text="pruning and measuring the dense model…"), st.empty()
        _watch(job, chart_box, bar)
        st.rerun()  # redraw without the Stop button, with the result below
    if job is None or job.about.model != loaded.key:
        st.info("Press *Fine-tune*. The defaults finish in under a minute on a laptop CPU for the tiny models.")
        return
    if job.error is not None:
        if not isinstance(job.error, PruneScopeError):
            raise job.error
        st.error(f"Cannot fine-tune: {job.error}")
        return
    if job.result is not None:
        _report(job, loaded)


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
