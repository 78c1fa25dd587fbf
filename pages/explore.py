"""Explore: prune the picked model live and see size, speed, quality and weights, dense beside pruned."""
from __future__ import annotations

import streamlit as st

from pages.scoreboard import challenge_section
from pages.urlstate import Controls
from pages.common import (LARGE, cached_baseline, cached_run, cached_summary, dense_generation, get_model,
                          pruned_classification, pruned_generation, warm_model)
from prune_core import charts, faster, samples, teaching
from prune_core.calibration import max_positions
from prune_core.config import ALLOCATIONS, PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.export import zip_export
from prune_core.methods import METHODS
from prune_core.patterns import PATTERNS, parse_pattern
from prune_core.recipe import export_pruned
from prune_core.run import EVALUATIONS, LatencySpec, eval_settings
from prune_core.tables import histogram_frame, latency_frame, layers_frame, quality_frame, sizes_frame
from prune_core.structural import IMPORTANCE
from prune_core.targets import SCOPES


def page() -> None:
    """Controls -> cached pruning run -> cards, charts and side-by-side outputs."""
    st.title("Explore: prune a Transformer live")
    st.markdown(
        "Pruning sets some weights of a trained network to zero. Move the sparsity slider and watch three "
        "things change: how much **quality** the model loses on text it never saw, how **big** it is in each "
        "storage format, and how **fast** it runs. The dense (unpruned) model is always shown beside it.")

    _glossary()
    url = Controls("explore")
    loaded = get_model()
    if loaded is None:
        st.stop()
    card = loaded.card
    st.caption(f"**{card.name}** · {card.task} · {card.params / 1e6:.2f} M parameters · {card.source}"
               + (f" · ⚠ {card.notes}" if card.notes else ""))

    # ---- controls ---------------------------------------------------------------------------------
    c1, c2, c3 = st.columns(3)
    pattern = c2.selectbox("Pattern (granularity)", list(PATTERNS), key=url.select("pattern", "pattern", PATTERNS),
                           disabled=url.locked("pattern"),
                           help="\n\n".join(f"**{k}**: {v}" for k, v in PATTERNS.items()))
    c2.caption(PATTERNS[pattern])
    parsed = parse_pattern(pattern)
    if parsed.structural:  # whole units: the methods are unit-importance scores
        choices = {k: v.description for k, v in IMPORTANCE.items() if parsed.unit in v.units}
        calibrated = {k for k, v in IMPORTANCE.items() if v.needs_calibration}
    else:
        choices = {k: v.info.description for k, v in METHODS.items()}
        calibrated = {k for k, v in METHODS.items() if v.info.needs_calibration}
    method = c1.selectbox("Method (importance score)", list(choices), index=list(choices).index("magnitude"),
                          key=url.select("method", f"method_{'units' if parsed.structural else 'weights'}", choices,
                                         f" for the pattern {pattern}"), disabled=url.locked("method"),
                          help="\n\n".join(f"**{k}**: {v}" for k, v in choices.items()))
    c1.caption(choices[method])
    needs_calibration = method in calibrated
    fixed = parsed.fixed_sparsity
    unit_word = {"neuron": "MLP neurons", "head": "attention heads"}.get(parsed.unit, "weights")
    if fixed is None:
        sparsity_pct = c3.slider(f"Sparsity (% of {unit_word} removed)", 0, 95, 50, step=5,
                                 key=url.number("sparsity", "sparsity", 0, 95, 5), disabled=url.locked("sparsity"))
    else:
        c3.slider("Sparsity (% of weights removed)", 0, 95, int(fixed * 100), disabled=True, key="sparsity_nm",
                  help=f"{pattern} always removes {fixed:.0%}")
        sparsity_pct = round(fixed * 100)
    scope = c3.selectbox("Scope", list(SCOPES), format_func=lambda s: f"{s}: {SCOPES[s]}",
                         key=url.select("scope", "scope", SCOPES), disabled=parsed.structural or url.locked("scope"), help="Structural patterns set the scope themselves: "
                                                          "neurons live in the MLP, heads in attention.")
    d1, d2, d3 = st.columns(3)
    # N:M fixes every layer; OWL is for one-shot weight pruning; calibrated methods prune block by block
    if fixed is not None:
        usable = ["layer"]
    elif parsed.structural or METHODS[method].info.prunes_during_training:
        usable = ["layer", "global"]
    else:
        usable = ["layer", "owl"] if needs_calibration else list(ALLOCATIONS)
    allocation = d1.radio("Allocation", usable, horizontal=True, key=url.select("allocation", "allocation", usable),
                          disabled=len(usable) == 1 or url.locked("allocation"),
                          help="\n\n".join(f"**{k}**: {v}" for k, v in ALLOCATIONS.items()))
    needs_calibration = needs_calibration or allocation == "owl"  # OWL's outlier profile needs data too
    include_head = d2.checkbox("Also prune the output head", value=False, key=url.flag("head", "include_head"),
                               disabled=parsed.structural or url.locked("head"),
                               help="Off by default: the head maps features to words/classes and is fragile.")
    seed = d3.number_input("Seed", min_value=0, max_value=10_000, value=0, step=1,
                           key=url.number("seed", "seed", 0, 10_000), disabled=url.locked("seed"))
    calib = {}
    if needs_calibration:
        with st.expander("Calibration settings", expanded=False):
            e1, e2, e3 = st.columns(3)
            calib["calib_samples"] = int(e1.number_input("Calibration samples", 1, 256, 32,
                                                         key=url.number("calib_samples", "calib_samples", 1, 256),
                                                         disabled=url.locked("calib_samples"),
                                                         help="Sequences drawn from the training split, never "
                                                              "from the evaluation split."))
            max_len = int(max_positions(loaded.model) or 512)
            calib["calib_seq_len"] = int(e2.number_input("Tokens per sample", 2, max(2, min(max_len, 2048)),
                                                         min(128, max_len), disabled=url.locked("calib_seq_len"),
                                                         key=url.number("calib_seq_len", "calib_seq_len", 2,
                                                                        max(2, min(max_len, 2048)))))
            if not parsed.structural and METHODS[method].info.uses_damping:
                calib["damping"] = float(e3.number_input("Damping (fraction of mean diag H)", 0.0001, 1.0, 0.01,
                                                         format="%.4f", disabled=url.locked("damping"),
                                                         key=url.number("damping", "damping", 0.0001, 1.0,
                                                                        kind=float)))
    _latency_defaults_follow(loaded.key)
    with st.expander("Measurement settings"):
        m1, m2, m3 = st.columns(3)
        default = LatencySpec.for_model(card)
        spec = LatencySpec(batch=int(m1.number_input("Latency batch", 1, 64, default.batch,
                                                     key=url.number("batch", f"lat_batch@{loaded.key}", 1, 64),
                                                     disabled=url.locked("batch"))),
                           seq_len=int(m2.number_input("Latency tokens per sequence", 8, 512, default.seq_len,
                                                       key=url.number("seq_len", f"lat_seq_len@{loaded.key}", 8, 512),
                                                       disabled=url.locked("seq_len"))),
                           reps=int(m3.number_input("Timed repetitions", 3, 50, default.reps,
                                                    key=url.number("reps", f"lat_reps@{loaded.key}", 3, 50),
                                                    disabled=url.locked("reps"))),
                           warmup=default.warmup, threads=2)
        n1, n2 = st.columns(2)
        evaluation = n1.radio("Held-out evaluation", list(EVALUATIONS), index=list(EVALUATIONS).index("quick"),
                              horizontal=True, key=url.select("eval", "evaluation", EVALUATIONS),
                              disabled=url.locked("eval"),
                              help="\n\n".join(f"**{k}**: {v}" for k, v in EVALUATIONS.items()) +
                                   "\n\nDense and pruned are always scored on the same examples.")
        measure_file = n2.checkbox("Measure compressed file size (zstd)", value=card.params < LARGE,
                                   key=url.flag("file", "measure_file"), disabled=url.locked("file"),
                                   help="Compresses every pruned tensor: about a second per 100 M weights.")

    config = PruneConfig(method=method, sparsity=sparsity_pct / 100, pattern=pattern, allocation=allocation,
                         scope="all" if parsed.structural else scope,
                         include_head=include_head and not parsed.structural,
                         seed=int(seed), **calib)
    url.done()
    if not parsed.structural:
        st.info(f"**{method}**: {METHODS[method].info.explain}", icon=":material/school:")

    guess = _predict_gate(loaded, config, url, evaluation)

    # ---- cheap phase: counts and sizes from the weights and masks, on screen at once ---------------
    warm_model(loaded.key)  # per-model facts the counts use, built once in the background
    progress_box = st.empty()
    bar = progress_box.progress(0.0, text="computing masks on calibration data…" if needs_calibration
                                else "counting…")
    try:
        summary = cached_summary(loaded.key, config, lambda f, m: bar.progress(min(1.0, f), text=m))
    except PruneScopeError as exc:
        progress_box.empty()
        st.error(f"Cannot prune with these settings: {exc}")
        st.stop()
    progress_box.empty()
    # Every figure that needs the evaluation gets its place now, saying "measuring…": a figure of the
    # previous setting is never left on screen as if it were current.
    k = st.columns(5)
    k[0].metric("Weights removed (in scope)", f"{summary.sparsity_actual:.1%}",
                help=f"{summary.params_in_scope:,} weights in scope; {summary.sparsity_model:.1%} of the whole model")
    k[1].metric("Nonzero parameters", f"{summary.params_nonzero / 1e6:.3f} M",
                f"{(summary.params_nonzero - summary.size_dense.params_nonzero) / 1e6:+.3f} M", delta_color="off")
    quality_slot, latency_slot, file_slot = k[2].empty(), k[3].empty(), k[4].empty()
    quality_slot.metric(f"Held-out {card.quality_metric}", "measuring…")
    latency_slot.metric("Latency (median)", "measuring…")
    if measure_file:
        file_slot.metric("File on disk (zstd)", "measuring…")
    else:
        file_slot.metric("Dense fp32 size", f"{summary.size_pruned.dense_fp32 / 1e6:.1f} MB", "unchanged by masks",
                         delta_color="off")
    status_slot = st.empty()
    guess_slot = st.empty()
    faster_slot = st.empty()
    _faster(faster_slot, loaded, config, summary.sparsity_actual)
    for note in summary.notes:
        st.info(note)
    caption_slot = st.empty()

    layers = layers_frame(summary)
    st.plotly_chart(charts.layer_sparsity_chart(layers, summary.sparsity_actual if fixed else config.sparsity),
                    width="stretch")
    st.caption("Each bar is one weight matrix. With *layer* allocation every bar sits on the target line; with "
               "*global* allocation one threshold is shared, so layers with small weights lose more.")
    left, right = st.columns([3, 2])
    with left:
        layer_name = st.selectbox("Layer for the weight histogram", list(layers["layer"]),
                                  key=url.select("layer", "hist_layer", layers["layer"]), disabled=url.locked("layer"))
        row = layers[layers["layer"] == layer_name].iloc[0]
        target = next(t for t in summary.layers if t.module == row["module"])
        dense_w, pruned_w = summary.weight_pair(loaded.model, target)
        st.plotly_chart(charts.histogram_chart(histogram_frame(dense_w, pruned_w), layer_name, target.threshold,
                                               target.params - target.nonzero), width="stretch")
        st.caption("Grey: all weights before pruning. Orange: the weights that survive. Magnitude pruning cuts out "
                   "a band around zero (dashed lines: the cut); random pruning thins every value evenly.")
    with right:
        size_slot = st.empty()
        size_slot.plotly_chart(charts.size_chart(sizes_frame(summary)), width="stretch")
        st.caption("Masks do not shrink the dense fp32 model. Sparse formats pay for indices: CSR only wins at "
                   "high sparsity; a bitmask wins earlier; 2:4 appears only when that pattern holds."
                   + (" The zstd file size comes with the measurement." if measure_file else ""))
        quality_chart_slot = st.empty()
        quality_chart_slot.info(f"Held-out {card.quality_metric}: measuring…", icon=":material/hourglass_top:")
        latency_chart_slot = st.empty()
        latency_chart_slot.info("Latency: measuring…", icon=":material/hourglass_top:")
    with st.expander("Per-layer table"):
        st.dataframe(layers[["layer", "kind", "out_features", "in_features", "params", "nonzero", "sparsity",
                             "threshold"]], hide_index=True, width="stretch")
    st.subheader("Same input, dense vs pruned")
    if loaded.task == "sequence-classification":
        text = st.text_input("Type a sentence", value="", placeholder="e.g. what a lovely day")
    else:
        text = st.text_area("Prompt", value=samples.EXAMPLE_PROMPT, height=70)
    outputs_slot = st.empty()
    outputs_slot.info("Outputs: after the measurement…", icon=":material/hourglass_top:")
    classifier = loaded.task == "sequence-classification"
    sentences = ([text] if text.strip() else []) + samples.EXAMPLE_SENTENCES
    n_new = samples.new_tokens(card.params)
    if classifier:  # the outputs are computed on the measuring job's pruned copy, not on a rebuilt one
        with_copy = lambda pruned, delta: pruned_classification(loaded.key, delta, sentences, pruned)  # noqa: E731
    else:
        with_copy = (lambda pruned, delta: pruned_generation(loaded.key, delta, text, n_new, int(seed), pruned)
                     ) if text.strip() else None

    # ---- heavy phase: pruned copy, quality with its interval, latency, file size (cached) ----------
    bar = status_slot.progress(0.0, text="measuring quality and latency…")
    try:
        result, delta = cached_run(loaded.key, config, spec, measure_file,
                                   lambda f, m: bar.progress(min(1.0, f), text=m), summary, evaluation, with_copy)
    except PruneScopeError as exc:
        status_slot.error(f"Cannot measure with these settings: {exc}")
        st.stop()
    status_slot.empty()
    _fill_measured(result, card, quality_slot, latency_slot, file_slot, size_slot, quality_chart_slot,
                   latency_chart_slot, caption_slot)
    _faster(faster_slot, loaded, config, result.sparsity_actual, result, spec.batch * spec.seq_len)
    if evaluation == "quick":
        _refine(loaded, config, spec, result)
    if guess is not None:
        scored = teaching.score_guess(guess, result.quality, result.quality_dense)
        log = st.session_state.setdefault("predict_log", {})  # keyed by setting: a rerun does not add a row
        log[f"{loaded.key}|{config}"] = {"model": loaded.name, "setting": _setting_text(config), "guess": guess,
                                          "measured": result.quality, "dense": result.quality_dense}
        with guess_slot.container():
            st.success(scored.text(result.quality_metric), icon=":material/psychology:")
            with st.expander(f"Your guesses so far ({len(log)})"):
                st.dataframe(list(log.values()), hide_index=True, width="stretch")

    _download(loaded, config, result, delta)
    challenge_section(loaded, result, url)

    # ---- outputs side by side, last ----------------------------------------------------------------
    with outputs_slot.container():
        if classifier:
            dense_p = samples.classify(loaded.model, loaded.tokenizer, sentences)
            pruned_p = pruned_classification(loaded.key, delta, sentences)
            st.dataframe([{"sentence": s, **{f"dense P({k})": round(v, 3) for k, v in d.items()},
                           **{f"pruned P({k})": round(v, 3) for k, v in p.items()}}
                          for s, d, p in zip(sentences, dense_p, pruned_p)], hide_index=True, width="stretch")
            st.caption("Same sentences, class probabilities of the dense and the pruned model.")
        elif text.strip():
            if cut := samples.prompt_cut(loaded.model, loaded.tokenizer, text, n_new):
                st.info(f"The prompt is longer than this model's context: its first {cut} tokens are left out so "
                        f"that {n_new} new tokens fit.")
            a, b = st.columns(2)
            a.markdown("**Dense**")
            a.code(text + dense_generation(loaded.key, text, n_new, int(seed)), language=None)
            b.markdown(f"**Pruned ({result.sparsity_actual:.0%})**")
            b.code(text + pruned_generation(loaded.key, delta, text, n_new, int(seed)), language=None)
            st.caption(f"Same prompt, same random seed, {n_new} new tokens sampled with temperature 0.8 and top-k 40.")


def _faster(slot, loaded, config: PruneConfig, sparsity: float, result=None, tokens: int | None = None) -> None:
    """"Could anything run this faster?" for this result; the measured figures (latency, this CPU's CSR
    break-even) join it once the measurement is done."""
    latency = (result.latency_ms_dense, result.latency_ms) if result is not None else None
    answer = faster.answer_for(loaded, config.pattern, sparsity, latency, tokens)
    box = {faster.YES: slot.success, faster.GPU_ONLY: slot.info}.get(answer.verdict, slot.warning)
    box(answer.markdown(), icon=":material/speed:")


def _latency_defaults_follow(model_key: str) -> None:
    """The latency settings start from each model's own defaults (SmolLM2: 32 tokens, 5 repetitions):
    their widgets are keyed per model, and after a switch of model the previous model's values are
    dropped from the URL too. The first model of a session keeps what a link set."""
    previous = st.session_state.get("_latency_model")
    st.session_state["_latency_model"] = model_key
    if previous is not None and previous != model_key:
        for name in ("batch", "seq_len", "reps"):
            if name in st.query_params:
                del st.query_params[name]


def _fill_measured(result, card, quality_slot, latency_slot, file_slot, size_slot, quality_chart_slot,
                   latency_chart_slot, caption_slot) -> None:
    """Replace the "measuring…" placeholders with the measured figures."""
    lower_better = result.quality_metric == "perplexity"
    with quality_slot.container():
        st.metric(f"Held-out {result.quality_metric}", f"{result.quality:.4g}",
                  f"{result.quality - result.quality_dense:+.4g} vs dense {result.quality_dense:.4g}",
                  delta_color="inverse" if lower_better else "normal",
                  help=f"95 % interval: {result.quality_interval}. Intervals that overlap with dense's mean the "
                       "difference may be noise of the evaluation size.")
        if result.quality_lo is not None:
            st.caption(f"{result.evaluation} evaluation · 95 % CI {result.quality_lo:.4g}–{result.quality_hi:.4g} (dense "
                       f"{result.quality_dense_lo:.4g}–{result.quality_dense_hi:.4g})")
    lat_d, lat_p = result.latency_dense, result.latency_pruned
    noise = max(lat_d.q3_ms - lat_d.q1_ms, lat_p.q3_ms - lat_p.q1_ms)
    within = abs(result.latency_ms - result.latency_ms_dense) <= noise
    latency_slot.metric("Latency (median)", f"{result.latency_ms:.2f} ms",
                        f"{result.latency_ms / result.latency_ms_dense:.2f}x dense" + (" (noise)" if within else ""),
                        delta_color="off", help=f"Dense: {result.latency_ms_dense:.2f} ms. {lat_p.setup}. "
                                                f"Noise = the larger interquartile range ({noise:.2f} ms).")
    if result.size_pruned.file_zstd is not None:
        file_slot.metric("File on disk (zstd)", f"{result.size_pruned.file_zstd / 1e6:.2f} MB",
                         f"{(result.size_pruned.file_zstd - result.size_dense.file_zstd) / 1e6:+.2f} MB",
                         delta_color="inverse")
        size_slot.plotly_chart(charts.size_chart(sizes_frame(result)), width="stretch")
    quality_chart_slot.plotly_chart(charts.quality_chart(quality_frame(result), result.quality_metric),
                                    width="stretch")
    latency_chart_slot.plotly_chart(charts.latency_chart(latency_frame(result)), width="stretch")
    caption_slot.caption(f"Pruned in {result.prune_seconds:.2f} s; whole measurement {result.total_seconds:.1f} s. "
                         f"Quality on held-out data ({result.evaluation} evaluation): "
                         f"{eval_settings(card, result.evaluation)}; 95 % interval: {result.quality_interval}.")


def _refine(loaded, config: PruneConfig, spec: LatencySpec, quick) -> None:
    """The quick evaluation's figure beside the full one, on request: the interval narrows."""
    key = f"refine|{loaded.key}|{config}"
    if not (st.session_state.get(key) or st.button("Refine: score this setting on the full held-out set",
                                                   key="refine_button",
                                                   help="The slider uses a quick evaluation (" +
                                                        EVALUATIONS["quick"] + "). This scores dense and pruned "
                                                        "on the whole held-out set.")):
        return
    st.session_state[key] = True
    bar = st.progress(0.0, text="scoring on the full held-out set…")
    try:
        full, _ = cached_run(loaded.key, config, spec, False, lambda f, m: bar.progress(min(1.0, f), text=m),
                             evaluation="full")
    except PruneScopeError as exc:
        bar.empty()
        st.error(f"Cannot measure with these settings: {exc}")
        return
    bar.empty()
    st.success(f"**{full.quality_metric}, full evaluation: {full.quality:.4g}** (95 % CI {full.quality_lo:.4g}–"
               f"{full.quality_hi:.4g}; dense {full.quality_dense:.4g}). The quick one said {quick.quality:.4g} "
               f"({quick.quality_lo:.4g}–{quick.quality_hi:.4g}; dense {quick.quality_dense:.4g}): four times the "
               f"data, an interval about half as wide ({full.quality_interval}).", icon=":material/zoom_in:")


def _download(loaded, config: PruneConfig, result, delta) -> None:
    """The pruned model as a zip (safetensors, tokenizer, recipe.json); the copy is rebuilt from its
    delta and the zip built only when clicked."""
    st.download_button("Download the pruned model (zip: safetensors, tokenizer, recipe.json)",
                       lambda: zip_export(lambda folder: export_pruned(delta.build(loaded.model), loaded, result,
                                                                       config, folder)),
                       f"{loaded.card.name}-{config.method}-{config.pattern.replace(':', 'of')}-"
                       f"{result.sparsity_target:.0%}.zip", "application/zip", key="explore_download",
                       on_click="ignore")
    st.caption("Rebuild it bit for bit from the recipe: `python -m prune_core prune --recipe recipe.json "
               "--export DIR`.")


def _setting_text(config: PruneConfig) -> str:
    return f"{config.method}, {config.pattern}, {config.sparsity:.0%}, {config.allocation}, {config.scope}"


def _predict_gate(loaded, config: PruneConfig, url: Controls, evaluation: str) -> float | None:
    """'Predict, then reveal': hold the results back until the student has guessed the quality.

    Returns the guess once revealed (None when the mode is off); stops the page while waiting.
    """
    if not st.toggle("Predict, then reveal", key=url.flag("reveal", "predict_mode", on="predict", off="off"),
                     disabled=url.locked("reveal"),
                     help="Guess the pruned model's quality before PruneScope measures it."):
        return None
    card = loaded.card
    lower = card.quality_metric == "perplexity"
    revealed = st.session_state.setdefault("predict_revealed", {})
    key = f"{loaded.key}|{config}"
    if key in revealed:
        return revealed[key]
    dense = cached_baseline(loaded.key, False, evaluation=evaluation).quality
    st.markdown(f"**Your turn.** With *{_setting_text(config)}*, what held-out **{card.quality_metric}** do you "
                f"expect? The dense model scores **{dense:.4g}**" + (" (lower is better)." if lower else
                                                                     " (higher is better)."))
    with st.form("predict_form"):
        guess = st.number_input(f"Your guess ({card.quality_metric})", value=float(dense), format="%.4f",
                                key="predict_guess")
        if not st.form_submit_button("Reveal"):
            st.stop()
    revealed[key] = float(guess)
    return float(guess)


def _glossary() -> None:
    with st.expander("Glossary", icon=":material/menu_book:"):
        for term, text in teaching.GLOSSARY.items():
            st.markdown(f"**{term}**: {text}")


if __name__ == "__main__":  # opened as a legacy pages/ script before st.navigation ran
    st.session_state["deep_link"] = "explore"
    st.switch_page("app.py", query_params=st.query_params.to_dict())
