"""Speed: the same batch through dense, masked, CSR and physically smaller models; GPU 2:4 figures."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from pages.ui import charts
from pages.ui.caches import cached_model, heavy
from pages.ui.picker import get_model
from pages.ui.urlstate import Controls
from pages.ui.nav import hand_over
from prune_core import faster
from prune_core.errors import PruneScopeError
from prune_core.gpu import crossings, cuda_problem, layer_shapes, measure_2_4
from prune_core.run import LatencySpec
from prune_core.speed import compare_variants, batch_sweep, largest_layer_break_even, tradeoff

GPU_CSV = Path(__file__).resolve().parent.parent / "data" / "speed" / "gpu_2_4_h100.csv"


@st.cache_data(max_entries=16, show_spinner=False)
@heavy
def _variants(name: str, sparsity: float, spec: LatencySpec) -> pd.DataFrame:
    return pd.DataFrame([v.to_dict() for v in compare_variants(cached_model(name), sparsity, spec)])


@st.cache_data(max_entries=8, show_spinner=False)
@heavy
def _tradeoff(name: str, spec: LatencySpec) -> pd.DataFrame:
    return pd.DataFrame(tradeoff(cached_model(name), [0.25, 0.5, 0.75], spec))


@st.cache_data(max_entries=8, show_spinner=False)
@heavy
def _sweep(name: str, sparsity: float, seq_len: int) -> pd.DataFrame:
    return pd.DataFrame(batch_sweep(cached_model(name), sparsity, [1, 2, 4, 8], seq_len, reps=5))


@st.cache_data(max_entries=8, show_spinner=False)
@heavy
def _break_even(name: str, tokens: int) -> tuple[pd.DataFrame, str, float | None]:
    rows, layer, be = largest_layer_break_even(cached_model(name).model, tokens)
    return pd.DataFrame([r.to_dict() for r in rows]), layer, be


@st.cache_data(max_entries=4, show_spinner=False)
def _gpu_2_4(name: str, batches: tuple[int, ...], seq_len: int) -> tuple[pd.DataFrame, list[str], dict, float, list]:
    report = measure_2_4(cached_model(name), list(batches), seq_len)
    return (pd.DataFrame([r.to_dict() for r in report.rows]), report.converted, report.skipped,
            report.max_abs_diff, report.notes)


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
            frame, converted, skipped, diff, notes = _gpu_2_4(loaded.key, tuple(sorted(batches)), seq_len)
    except (PruneScopeError, torch.OutOfMemoryError) as exc:
        st.error(f"Cannot time 2:4 kernels on this GPU: {exc}")
        return
    mode = st.radio("Timing mode", ["cudagraph", "eager"], horizontal=True, key="gpu_live_mode",
                    help="eager: each call from Python; cudagraph: replayed CUDA graph (no launch overhead)")
    st.plotly_chart(charts.gpu_speedup_chart(frame, mode, "measured"), width="stretch")
    best = {k: v for k, v in crossings(frame).items() if k[1] == mode}
    st.caption(" · ".join(f"{lvl}: best {c['best']:.2f}x ({c['best_at']}), reaches 1x "
                          + (f"from {c['crosses_1x_at_tokens']} tokens" if c['crosses_1x_at_tokens'] else "never")
                          for (lvl, _), c in best.items())
               + f". {len(converted)} layers on 2:4 kernels" + (f", {len(skipped)} skipped (shape)" if skipped else "")
               + f"; largest |2:4 − same mask on dense kernels| in the logits: {diff:.2g}. "
               "Small matrices and eager calls pay a fixed cost per call; 2x is the hardware limit.")
    for note in notes:
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

    c1, c2, c3, c4 = st.columns(4)
    sparsity = c1.slider("Sparsity (% of weights / of MLP neurons removed)", 10, 95, 50, step=5,
                         key=url.number("sparsity", "speed_sparsity", 10, 95, 5), disabled=url.locked("sparsity")) / 100
    batch = int(c2.number_input("Batch", 1, 32, 1, key=url.number("batch", "speed_batch", 1, 32),
                                disabled=url.locked("batch")))
    seq_len = int(c3.number_input("Tokens per sequence", 8, 512, 128 if loaded.task == "causal-lm" else 64,
                                  key=url.number("seq_len", "speed_seq", 8, 512), disabled=url.locked("seq_len")))
    reps = int(c4.number_input("Timed repetitions", 3, 50, 10, key=url.number("reps", "speed_reps", 3, 50),
                               disabled=url.locked("reps")))
    spec = LatencySpec(batch=batch, seq_len=seq_len, reps=reps, threads=2)
    tradeoff_key, sweep_key = url.flag("tradeoff", "speed_tradeoff"), url.flag("sweep", "speed_sweep")
    mode_key = url.select("timing", "gpu_mode", ["cudagraph", "eager"])
    url.done()


    try:
        with st.spinner("timing dense, masked, CSR and structured on the same batch…"):
            variants = _variants(loaded.key, sparsity, spec)
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

    st.subheader("Quality beside speed")
    st.caption("Unstructured pruning keeps quality longer but never gets faster on dense kernels; removing whole "
               "neurons gets faster but costs more quality for each parameter removed.")


    if st.toggle("Measure the quality/speed trade-off (25, 50, 75 %)", value=not loaded.card.big,
                 key=tradeoff_key, disabled=url.locked("tradeoff")):
        with st.spinner("pruning, evaluating and timing 7 models…"):
            trade = _tradeoff(loaded.key, spec)
        st.plotly_chart(charts.tradeoff_chart(trade, loaded.card.quality_metric), width="stretch")
        st.caption(f"Timing: {trade['setup'].iloc[0]}. Quality on held-out data ({loaded.card.eval}).")

    st.subheader("Batch size and the CSR break-even point")
    left, right = st.columns(2)


    with left:
        if st.toggle("Sweep batch sizes 1–8", value=not loaded.card.big, key=sweep_key,
                     disabled=url.locked("sweep")):
            with st.spinner("timing batch sizes…"):
                sweep = _sweep(loaded.key, sparsity, seq_len)
            st.plotly_chart(charts.sweep_chart(sweep, "batch", "batch size (sequences)",
                                               f"Latency vs batch size at {sparsity:.0%}"), width="stretch")
            st.caption("Masked tracks dense at every batch size; the structured model's advantage grows with the "
                       "batch, as the matrix multiplications dominate over fixed per-call costs.")
    with right:
        with st.spinner("timing one layer, dense vs CSR…"):
            be, layer, be_s = _break_even(loaded.key, batch * seq_len)
        st.plotly_chart(charts.sweep_chart(be, "sparsity", "sparsity of the layer",
                                           f"Dense vs CSR on {layer}"), width="stretch")
        st.caption(f"CSR breaks even with dense at **{be_s:.0%}** sparsity on this layer and input." if be_s is not None
                   else "CSR never caught up with dense up to 99 % sparsity on this layer and input. "
                        "Published break-even points are around 80–90 %; small layers fare worse.")

    st.subheader("2:4 sparse tensor cores (GPU)")
    problem = cuda_problem()
    if problem is None:
        _live_gpu(loaded, seq_len, url)
        st.markdown("**Recorded figures** (smollm2-135m's shapes and a large-layer check, from `bench/gpu_semi_structured.py`):")
    else:
        st.warning(f"2:4 kernels cannot run here ({problem}). Below: figures recorded on a GPU, labelled with the "
                   "GPU they came from.", icon=":material/memory:")
    if GPU_CSV.is_file():
        gpu = pd.read_csv(GPU_CSV)
        mode = st.radio("Timing mode", ["cudagraph", "eager"], horizontal=True, key=mode_key,
                        disabled=url.locked("timing"),
                        help="eager: each call from Python; cudagraph: replayed CUDA graph (no launch overhead)")
        st.plotly_chart(charts.gpu_speedup_chart(gpu[gpu["level"].isin(["layer", "model", "check"])], mode),
                        width="stretch")
        st.caption("smollm2-135m's matrices are small (576–1536 wide): 2:4 kernels lose to dense at every batch size "
                   "there, and eager calls pay a large fixed cost per call. The large-layer check (4096–11008 wide) "
                   "shows the same kernels winning 1.1–1.5x, near the published 1.38x and below the 2x limit.")
    _crossover(loaded, batch * seq_len)


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
