"""Speed: the same batch through dense, masked, CSR and physically smaller models; GPU 2:4 figures."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from pages.ui import charts
from pages.ui.caches import cached_batch_sweep, cached_csr_break_even, cached_gpu_2_4, cached_tradeoff, cached_variants
from pages.ui.picker import get_model
from pages.ui.urlstate import Controls
from pages.ui.nav import hand_over
from prune_core import faster
from prune_core.errors import PruneScopeError
from prune_core.gpu import crossings, cuda_problem, layer_shapes
from prune_core.run import LatencySpec

GPU_CSV = Path(__file__).resolve().parent.parent / "data" / "speed" / "gpu_2_4_h100.csv"
TRADEOFF_SPARSITIES = (0.25, 0.5, 0.75)  # the trade-off's masked and structured models
SWEEP_BATCHES = (1, 2, 4, 8)  # sequences per timed batch in the sweep
SWEEP_REPS = 5


@dataclass(frozen=True)
class SpeedSettings:
    """What the controls at the top decided, and the keys of the toggles further down."""

    sparsity: float
    spec: LatencySpec
    tradeoff_key: str
    sweep_key: str
    mode_key: str

    @property
    def tokens(self) -> int:
        return self.spec.batch * self.spec.seq_len


def _live_gpu(loaded, seq_len: int, url: Controls) -> None:
    """Time this model's 2:4 twin against dense on the GPU that is here, on request."""
    gpu_name = torch.cuda.get_device_name()
    st.markdown(f"A CUDA GPU is present (**{gpu_name}**): time this model dense (fp16) against its 2:4 "
                "magnitude-pruned twin on sparse tensor cores, end to end and per layer shape.")
    batches = st.multiselect("Batch sizes (sequences)", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
                             default=[1, 8, 32, 128], key=url.many("gpu_batches", "speed_gpu_batches",
                                                                   [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
                             disabled=url.locked("gpu_batches"))
    request = (loaded.key, tuple(sorted(batches)), seq_len)
    if st.button(f"Time 2:4 kernels on {gpu_name}", key="speed_gpu_run"):
        st.session_state["speed_gpu_request"] = request
    if st.session_state.get("speed_gpu_request") != request:  # never start GPU work without a click
        return
    try:
        with st.spinner("timing dense and 2:4 on the GPU (eager and CUDA graph)…"):
            report = cached_gpu_2_4(loaded.key, tuple(batches), seq_len)
    except (PruneScopeError, torch.OutOfMemoryError) as exc:
        st.error(f"Cannot time 2:4 kernels on this GPU: {exc}")
        return
    frame, skipped = pd.DataFrame([r.to_dict() for r in report.rows]), report.skipped
    mode = st.radio("Timing mode", ["cudagraph", "eager"], horizontal=True, key="gpu_live_mode",
                    help="eager: each call from Python; cudagraph: replayed CUDA graph (no launch overhead)")
    st.plotly_chart(charts.gpu_speedup_chart(frame, mode, "measured"), width="stretch")
    best = {k: v for k, v in crossings(frame).items() if k[1] == mode}
    st.caption(" · ".join(f"{lvl}: best {c['best']:.2f}x ({c['best_at']}), reaches 1x "
                          + (f"from {c['crosses_1x_at_tokens']} tokens" if c['crosses_1x_at_tokens'] else "never")
                          for (lvl, _), c in best.items())
               + f". {len(report.converted)} layers on 2:4 kernels"
               + (f", {len(skipped)} skipped (shape)" if skipped else "")
               + f"; largest |2:4 − same mask on dense kernels| in the logits: {report.max_abs_diff:.2g}. "
               "Small matrices and eager calls pay a fixed cost per call; 2x is the hardware limit.")
    for note in report.notes:
        st.info(note)
    st.download_button("Download these GPU timings (CSV)", frame.to_csv(index=False), "prunescope_gpu_2_4.csv",
                       "text/csv", key="speed_gpu_csv")


def page() -> None:
    """Variants on one batch, quality/speed trade-off, sweeps, recorded GPU figures."""
    st.title("Speed: when does pruning make a model faster?")
    st.markdown(
        "Zeroing weights (a *mask*) leaves every matrix the same size, so dense kernels do exactly the same "
        "work. Speed only comes from doing less work: **removing whole neurons** (smaller matrices), "
        "**sparse kernels** that skip zeros (they pay for indices, so they win only when almost everything "
        "is zero), or **2:4 sparse tensor cores** on recent NVIDIA GPUs. Here every option runs on the same batch.")
    url = Controls("speed")
    loaded = get_model()
    if loaded is None:
        st.stop()
    chosen = _controls(loaded, url)
    _variants_section(loaded, chosen)
    _tradeoff_section(loaded, chosen, url)
    _batch_section(loaded, chosen, url)
    _gpu_section(loaded, chosen, url)
    _crossover(loaded, chosen.tokens)


def _controls(loaded, url: Controls) -> SpeedSettings:
    """Sparsity and the timed batch, from the widgets (and the link's locked values)."""
    c1, c2, c3, c4 = st.columns(4)
    sparsity = c1.slider("Sparsity (% of weights / of MLP neurons removed)", 10, 95, 50, step=5,
                         key=url.number("sparsity", "speed_sparsity", 10, 95, 5), disabled=url.locked("sparsity")) / 100
    batch = int(c2.number_input("Batch", 1, 32, 1, key=url.number("batch", "speed_batch", 1, 32),
                                disabled=url.locked("batch")))
    seq_len = int(c3.number_input("Tokens per sequence", 8, 512, 128 if loaded.task == "causal-lm" else 64,
                                  key=url.number("seq_len", "speed_seq", 8, 512), disabled=url.locked("seq_len")))
    reps = int(c4.number_input("Timed repetitions", 3, 50, 10, key=url.number("reps", "speed_reps", 3, 50),
                               disabled=url.locked("reps")))
    chosen = SpeedSettings(sparsity, LatencySpec(batch=batch, seq_len=seq_len, reps=reps, threads=2),
                           tradeoff_key=url.flag("tradeoff", "speed_tradeoff"),
                           sweep_key=url.flag("sweep", "speed_sweep"),
                           mode_key=url.select("timing", "gpu_mode", ["cudagraph", "eager"]))
    url.done()
    return chosen


def _variants_section(loaded, chosen: SpeedSettings) -> None:
    """The four variants on the same batch: metrics, bars against the FLOP ideal, the table."""
    try:
        with st.spinner("timing dense, masked, CSR and structured on the same batch…"):
            variants = cached_variants(loaded.key, chosen.sparsity, chosen.spec)
    except PruneScopeError as exc:
        st.error(f"Cannot build the speed variants for this model: {exc}")
        st.stop()
    dense_ms = float(variants.loc[variants["variant"] == "dense", "median_ms"].iloc[0])
    cols = st.columns(len(variants))
    for col, row in zip(cols, variants.itertuples()):
        col.metric(row.variant, f"{row.median_ms:.2f} ms", f"{dense_ms / row.median_ms:.2f}x dense speed",
                   delta_color="off", help=row.what)
    st.plotly_chart(charts.speed_bars(variants), width="stretch")
    st.caption("Bars: measured median with interquartile range. Short lines: the FLOP ideal — dense time scaled by "
               "the multiply-adds each variant really performs. *masked* sits on the dense line because dense kernels "
               "multiply the zeros too; *csr* does fewer FLOPs but pays for index look-ups and irregular memory access, "
               "so it lands far above its ideal; *structured* does fewer FLOPs with the same efficient dense kernels, "
               "so it lands close to its ideal.")
    st.dataframe(variants[["variant", "what", "params", "quality", "median_ms", "ideal_ms"]], hide_index=True,
                 width="stretch")


def _tradeoff_section(loaded, chosen: SpeedSettings, url: Controls) -> None:
    """Quality beside latency for masked and structured pruning at TRADEOFF_SPARSITIES (on request)."""
    st.subheader("Quality beside speed")
    st.caption("Unstructured pruning keeps quality longer but never gets faster on dense kernels; removing whole "
               "neurons gets faster but costs more quality for each parameter removed.")
    if not st.toggle("Measure the quality/speed trade-off (25, 50, 75 %)", value=not loaded.card.big,
                     key=chosen.tradeoff_key, disabled=url.locked("tradeoff")):
        return
    with st.spinner(f"pruning, evaluating and timing {1 + 2 * len(TRADEOFF_SPARSITIES)} models…"):
        trade = cached_tradeoff(loaded.key, TRADEOFF_SPARSITIES, chosen.spec)
    st.plotly_chart(charts.tradeoff_chart(trade, loaded.card.quality_metric), width="stretch")
    st.caption(f"Timing: {trade['setup'].iloc[0]}. Quality on held-out data ({loaded.card.eval}).")


def _batch_section(loaded, chosen: SpeedSettings, url: Controls) -> None:
    """Latency over batch sizes (on request) beside dense vs CSR on one layer."""
    st.subheader("Batch size and the CSR break-even point")
    left, right = st.columns(2)
    with left:
        if st.toggle("Sweep batch sizes 1–8", value=not loaded.card.big, key=chosen.sweep_key,
                     disabled=url.locked("sweep")):
            with st.spinner("timing batch sizes…"):
                sweep = cached_batch_sweep(loaded.key, chosen.sparsity, SWEEP_BATCHES, chosen.spec.seq_len,
                                           SWEEP_REPS)
            st.plotly_chart(charts.sweep_chart(sweep, "batch", "batch size (sequences)",
                                               f"Latency vs batch size at {chosen.sparsity:.0%}"), width="stretch")
            st.caption("Masked tracks dense at every batch size; the structured model's advantage grows with the "
                       "batch, as the matrix multiplications dominate over fixed per-call costs.")
    with right:
        with st.spinner("timing one layer, dense vs CSR…"):
            be, layer, be_s = cached_csr_break_even(loaded.key, chosen.tokens)
        st.plotly_chart(charts.sweep_chart(be, "sparsity", "sparsity of the layer",
                                           f"Dense vs CSR on {layer}"), width="stretch")
        st.caption(f"CSR breaks even with dense at **{be_s:.0%}** sparsity on this layer and input." if be_s is not None
                   else "CSR never caught up with dense up to 99 % sparsity on this layer and input. "
                        "Published break-even points are around 80–90 %; small layers fare worse.")


def _gpu_section(loaded, chosen: SpeedSettings, url: Controls) -> None:
    """Live 2:4 timings where a CUDA GPU is present; the recorded GPU figures either way."""
    st.subheader("2:4 sparse tensor cores (GPU)")
    problem = cuda_problem()
    if problem is None:
        _live_gpu(loaded, chosen.spec.seq_len, url)
        st.markdown("**Recorded figures** (smollm2-135m's shapes and a large-layer check, from "
                    "`bench/gpu_semi_structured.py`):")
    else:
        st.warning(f"2:4 kernels cannot run here ({problem}). Below: figures recorded on a GPU, labelled with the "
                   "GPU they came from.", icon=":material/memory:")
    if not GPU_CSV.is_file():
        return
    gpu = pd.read_csv(GPU_CSV)
    mode = st.radio("Timing mode", ["cudagraph", "eager"], horizontal=True, key=chosen.mode_key,
                    disabled=url.locked("timing"),
                    help="eager: each call from Python; cudagraph: replayed CUDA graph (no launch overhead)")
    st.plotly_chart(charts.gpu_speedup_chart(gpu[gpu["level"].isin(["layer", "model", "check"])], mode),
                    width="stretch")
    st.caption("smollm2-135m's matrices are small (576–1536 wide): 2:4 kernels lose to dense at every batch size "
               "there, and eager calls pay a large fixed cost per call. The large-layer check (4096–11008 wide) "
               "shows the same kernels winning 1.1–1.5x, near the published 1.38x and below the 2x limit.")


def _crossover(loaded, tokens: int) -> None:
    """Per layer shape of this model: from how many tokens per call 2:4 beats dense (recorded GPUs)."""
    st.markdown("**Crossover: when would 2:4 pay off for this model?**")
    st.plotly_chart(charts.crossover_chart(faster.crossover_frame(layer_shapes(loaded.model)), tokens),
                    width="stretch", key="speed_crossover")
    st.caption("Per weight shape of this model, the tokens per call (batch x sequence) from which 2:4 sparse "
               "kernels stay faster than dense, from recorded GPU timings replayed as CUDA graphs (the best case: "
               "eager calls pay a fixed cost per call and cross later or never). Hatched bars never crossed up to "
               "the largest batch measured. Figures: `data/speed/`, made with "
               "`bench/gpu_semi_structured.py --shapes zoo`.")


if __name__ == "__main__":  # a fresh server ran this file as a legacy pages/ script (pages/ui/nav.py)
    hand_over(__file__)
