"""Fine-tune page section: step through a gradual/movement pruning schedule (prune_core.stepmode).

The stepper (a private copy of the model, its optimizer and masks) lives in this session's
st.session_state: each user steps their own copy; the shared cached model is only copied from.
"""
from __future__ import annotations

import streamlit as st

from pages.ui import charts

from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.stepmode import ScheduleStepper, training_methods
from prune_core.targets import find_targets

KEY = "step_stepper"


def _stepper(loaded, config: PruneConfig, start: bool) -> ScheduleStepper | None:
    """This session's stepper for these settings; with `start`, a new one (from the dense model) when there is
    none or the settings changed. Nothing is copied before the first Step."""
    current = st.session_state.get(KEY)
    if current is not None and (current.loaded.key, current.config) == (loaded.key, config):
        return current
    if not start:
        return None
    with st.spinner("copying the model and measuring its starting losses…"):
        current = st.session_state[KEY] = ScheduleStepper(loaded, config)
    return current


def _reset() -> None:
    st.session_state.pop(KEY, None)


def step_section(loaded) -> None:
    """Step / Play / Reset through the schedule; sparsity, one layer's histogram with its cut, validation loss."""
    st.subheader("Step mode: watch a pruning schedule, one step at a time")
    st.markdown("Gradual pruning does not cut at once: it trains, removes a few more weights, trains again. Press "
                "*Step* to run Δt optimizer steps (one pruning event of the schedule) and watch the three views move "
                "together.")
    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("Method", training_methods(), key="step_method")
    final = c2.slider("Final sparsity (%)", 10, 95, 80, step=5, key="step_final") / 100
    modules = [t.module for t in find_targets(loaded.model, "all")]
    module = c3.selectbox("Layer for the histogram", modules, key="step_layer")
    try:
        config = PruneConfig(method=method, sparsity=final).validated()
    except PruneScopeError as exc:
        st.error(f"Cannot step through this schedule: {exc}")
        return
    b1, b2, b3, _ = st.columns([1, 1, 1, 3])
    existing = _stepper(loaded, config, start=False)
    done = existing is not None and existing.done
    step = b1.button("Step", key="step_step", type="primary", disabled=done, icon=":material/skip_next:")
    play = b2.button("Play to the end", key="step_play", disabled=done, icon=":material/play_arrow:")
    b3.button("Reset", key="step_reset", on_click=_reset, icon=":material/restart_alt:")
    slot = st.empty()
    try:
        stepper = _stepper(loaded, config, start=step or play)
        if stepper is None:
            slot.info("Press *Step* to start: you get your own copy of the dense model to prune.")
            return
        if step:
            stepper.advance()
        _draw(slot, stepper, module)
        while play and not stepper.done:  # redraw after each Δt, so the animation is the schedule itself
            stepper.advance()
            _draw(slot, stepper, module)
        if play:
            st.rerun()  # the buttons above were drawn before the run: redraw them (Step and Play now disabled)
    except PruneScopeError as exc:
        st.error(f"Cannot step through this schedule: {exc}")
        return
    s = stepper.schedule
    st.caption(f"Schedule (Zhu & Gupta's cubic ramp): dense for {s.start} steps, then every {s.every} steps up to step "
               f"{s.ramp_end} the sparsity rises to {s.final:.0%}, then fine-tuning to step {stepper.ft.steps}. "
               f"Batches of {stepper.ft.batch_size} sequences from the training split; validation "
               f"loss on {stepper.ft.loss_samples} fixed held-out sequences. Your own copy of the model: Reset "
               "starts again from the dense one.")


def _draw(slot, stepper: ScheduleStepper, module: str) -> None:
    """The three views of the current step, drawn into one placeholder (replaced on the next step)."""
    with slot.container():
        now = stepper.curve[-1]
        nxt = next((e for e in stepper.events() if e > stepper.step), None)
        k = st.columns(4)
        k[0].metric("Optimizer step", f"{stepper.step} / {stepper.ft.steps}",
                    f"next pruning at step {nxt}" if nxt else "schedule done: fine-tuning", delta_color="off")
        k[1].metric("Sparsity now", f"{now.sparsity:.1%}", f"schedule target {stepper.schedule.final:.0%}",
                    delta_color="off")
        k[2].metric("Validation loss", f"{now.val_loss:.4f}", f"{now.val_loss - stepper.curve[0].val_loss:+.4f} vs dense",
                    delta_color="inverse")
        hist, cut, removed = stepper.histogram(module)
        k[3].metric(f"Removed in {module.split('.', 1)[-1]}", f"{removed:,}")
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.histogram_chart(hist, module, cut, removed), width="stretch",
                        key=f"step_hist_{stepper.step}")
        c2.plotly_chart(charts.training_curve(stepper.curve_frame(), stepper.curve[0].val_loss,
                                              f"{stepper.config.method} pruning, step by step"),
                        width="stretch", key=f"step_curve_{stepper.step}")
