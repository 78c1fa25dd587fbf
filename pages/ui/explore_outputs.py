"""Explore's outputs: the same input through the dense and the pruned model (generated text or class
probabilities), the refined full evaluation, and the pruned model's download."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from pages.ui.caches import (cached_run, dense_classification, dense_generation, pruned_classification,
                             pruned_generation)
from prune_core import samples
from prune_core.config import PruneConfig
from prune_core.delta import PruneDelta
from prune_core.errors import PruneScopeError
from prune_core.export import zip_export
from prune_core.recipe import export_pruned
from prune_core.run import EVALUATIONS, LatencySpec, PruneResult
from prune_core.zoo import LoadedModel


@dataclass
class Outputs:
    """The user's input and the place of the dense-vs-pruned outputs (filled last)."""

    loaded: LoadedModel
    text: str  # the typed sentence or prompt
    seed: int
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
        return cls(loaded=loaded, text=text, seed=seed, slot=slot)

    @property
    def classifier(self) -> bool:
        return self.loaded.task == "sequence-classification"

    @property
    def sentences(self) -> list[str]:
        return ([self.text] if self.text.strip() else []) + samples.EXAMPLE_SENTENCES

    @property
    def n_new(self) -> int:
        return samples.new_tokens(self.loaded.card.params)

    def with_copy(self) -> Callable[[object, PruneDelta], None] | None:
        """The outputs computed on the measuring job's pruned copy, not on a rebuilt one (None: nothing to do)."""
        key = self.loaded.key
        if self.classifier:
            return lambda pruned, delta: pruned_classification(key, delta, self.sentences, pruned)
        if not self.text.strip():
            return None
        return lambda pruned, delta: pruned_generation(key, delta, self.text, self.n_new, self.seed, pruned)

    def fill(self, result: PruneResult, delta: PruneDelta) -> None:
        """Dense and pruned outputs side by side."""
        loaded, text, n_new = self.loaded, self.text, self.n_new
        with self.slot.container():
            if self.classifier:
                sentences = self.sentences
                dense_p = dense_classification(loaded.key, sentences)
                pruned_p = pruned_classification(loaded.key, delta, sentences)
                st.dataframe([{"sentence": s, **{f"dense P({k})": round(v, 3) for k, v in d.items()},
                               **{f"pruned P({k})": round(v, 3) for k, v in p.items()}}
                              for s, d, p in zip(sentences, dense_p, pruned_p)], hide_index=True, width="stretch")
                st.caption("Same sentences, class probabilities of the dense and the pruned model.")
            elif text.strip():
                if cut := samples.prompt_cut(loaded.model, loaded.tokenizer, text, n_new):
                    st.info(f"The prompt is longer than this model's context: its first {cut} tokens are left out "
                            f"so that {n_new} new tokens fit.")
                a, b = st.columns(2)
                a.markdown("**Dense**")
                a.code(text + dense_generation(loaded.key, text, n_new, self.seed), language=None)
                b.markdown(f"**Pruned ({result.sparsity_actual:.0%})**")
                b.code(text + pruned_generation(loaded.key, delta, text, n_new, self.seed), language=None)
                st.caption(f"Same prompt, same random seed, {n_new} new tokens sampled with temperature 0.8 and "
                           "top-k 40.")


def refine(loaded: LoadedModel, config: PruneConfig, spec: LatencySpec, quick: PruneResult) -> None:
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
