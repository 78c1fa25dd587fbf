"""Explore's outputs: the same input through the dense and the pruned model (generated text or class
probabilities), the refined full evaluation, and the pruned model's download."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from pages.ui.caches import cached_dense_quality, cached_outputs, cached_quality, measured_outputs
from prune_core import samples
from prune_core.config import PruneConfig
from prune_core.delta import PruneDelta
from prune_core.errors import PruneScopeError
from prune_core.export import zip_export
from prune_core.measure import Measured
from prune_core.recipe import export_pruned
from prune_core.run import EVALUATIONS, PruneResult
from prune_core.zoo import LoadedModel


@dataclass
class Outputs:
    """The user's input and the place of the dense-vs-pruned outputs (filled last)."""

    loaded: LoadedModel
    text: str  # the typed sentence or prompt
    request: samples.OutputRequest | None  # what the measurement makes on its pruned copy (None: nothing)
    slot: object

    @classmethod
    def draw(cls, loaded: LoadedModel, seed: int) -> "Outputs":
        """The input box and a placeholder for the outputs."""
        st.subheader("Same input, dense vs pruned")
        if loaded.task == "sequence-classification":
            text = st.text_input("Type a sentence", value="", placeholder="e.g. what a lovely day")
        else:
            text = st.text_area("Prompt", value=samples.EXAMPLE_PROMPT, height=70)
        slot = st.empty()
        slot.info("Outputs: after the measurement…", icon=":material/hourglass_top:")
        request = samples.OutputRequest.for_model(loaded.task, loaded.card.params, text, seed)
        return cls(loaded=loaded, text=text, request=request, slot=slot)

    def fill(self, measured: Measured) -> None:
        """Dense and pruned outputs side by side: the dense model's once per input, the pruned copy's
        from the measurement (or its copy rebuilt, for an input typed since)."""
        request, key = self.request, self.loaded.key
        if request is None:  # an empty prompt: nothing to continue
            self.slot.empty()
            return
        dense, pruned = cached_outputs(key, request), measured_outputs(key, measured, request)
        with self.slot.container():
            if request.sentences:
                st.dataframe([{"sentence": s, **{f"dense P({k})": round(v, 3) for k, v in d.items()},
                               **{f"pruned P({k})": round(v, 3) for k, v in p.items()}}
                              for s, d, p in zip(request.sentences, dense, pruned)], hide_index=True, width="stretch")
                st.caption("Same sentences, class probabilities of the dense and the pruned model.")
                return
            loaded, text, n_new = self.loaded, request.prompt, request.n_new
            if cut := samples.prompt_cut(loaded.model, loaded.tokenizer, text, n_new):
                st.info(f"The prompt is longer than this model's context: its first {cut} tokens are left out "
                        f"so that {n_new} new tokens fit.")
            a, b = st.columns(2)
            a.markdown("**Dense**")
            a.code(text + dense, language=None)
            b.markdown(f"**Pruned ({measured.result.sparsity_actual:.0%})**")
            b.code(text + pruned, language=None)
            st.caption(f"Same prompt, same random seed, {n_new} new tokens sampled with temperature 0.8 and "
                       "top-k 40.")


def refine(loaded: LoadedModel, config: PruneConfig, measured: Measured) -> None:
    """The quick evaluation's figure beside the full one, on request: the interval narrows. The full
    evaluation scores the measured copy (rebuilt from its delta) and the dense model: nothing is pruned
    or timed again."""
    key = f"refine|{loaded.key}|{config}"
    if not (st.session_state.get(key) or st.button("Refine: score this setting on the full held-out set",
                                                   key="refine_button",
                                                   help="The slider uses a quick evaluation (" +
                                                        EVALUATIONS["quick"] + "). This scores dense and pruned "
                                                        "on the whole held-out set.")):
        return
    st.session_state[key] = True
    bar = st.progress(0.0, text="scoring on the full held-out set…")
    show = lambda f, m: bar.progress(min(1.0, f), text=m)  # noqa: E731
    try:
        full, dense = cached_quality(loaded.key, measured.delta, "full", show), cached_dense_quality(loaded.key,
                                                                                                     "full", show)
    except PruneScopeError as exc:
        bar.empty()
        st.error(f"Cannot measure with these settings: {exc}")
        return
    bar.empty()
    quick = measured.result
    st.success(f"**{quick.quality_metric}, full evaluation: {full.value:.4g}** (95 % CI {full.lo:.4g}–"
               f"{full.hi:.4g}; dense {dense.value:.4g}). The quick one said {quick.quality:.4g} "
               f"({quick.quality_lo:.4g}–{quick.quality_hi:.4g}; dense {quick.quality_dense:.4g}): four times the "
               f"data, an interval about half as wide ({full.how}).", icon=":material/zoom_in:")


def download(loaded: LoadedModel, config: PruneConfig, result: PruneResult, delta: PruneDelta) -> None:
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
