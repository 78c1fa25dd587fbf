"""Explore's controls -> one `ExploreSettings` (the PruneConfig and how to measure it).

Every widget is bound to the URL (pages/ui/urlstate.py). Which combinations are valid is asked of
prune_core/config.py, not repeated here: the page offers the allocations it accepts for the picked
method and pattern (`usable_allocations`), and the setting is validated once (`ExploreSettings.resolved`),
with the pattern these controls parsed and the method they picked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import cycle

import streamlit as st

from pages.ui.urlstate import Controls
from prune_core.calibration import max_positions
from prune_core.config import ALLOCATIONS, PruneConfig, ResolvedConfig, usable_allocations
from prune_core.methods import ParamSpec, PruningMethod, available, specs
from prune_core.patterns import PATTERNS, WEIGHT_LEVEL, Pattern, parse_pattern
from prune_core.run import EVALUATIONS, LatencySpec
from prune_core.targets import SCOPES
from prune_core.zoo import LoadedModel


@dataclass(frozen=True)
class ExploreSettings:
    """What the controls ask for: the pruning run and how it is measured."""

    config: PruneConfig  # as the controls set it; `resolved` validates it
    pattern: Pattern  # the config's pattern, parsed once for the controls
    method: PruningMethod  # the config's method, picked from the catalogue by the controls
    spec: LatencySpec  # latency harness settings
    evaluation: str  # a name in EVALUATIONS ("quick" on every slider move)
    measure_file: bool  # compress every tensor to measure the zstd file size

    def resolved(self) -> ResolvedConfig:
        """The config validated, once (the config keeps its resolution), with the controls' pattern and
        method; PruneScopeError says why settings cannot prune."""
        return self.config.resolved(self.pattern, self.method)


def read_controls(loaded: LoadedModel, url: Controls) -> ExploreSettings:
    """Draw the controls (method, pattern, sparsity, scope, allocation, head, seed, calibration and
    measurement settings), then the URL's link box and the method's explanation."""
    c1, c2, c3 = st.columns(3)
    pattern = c2.selectbox("Pattern (granularity)", list(PATTERNS), key=url.select("pattern", "pattern", PATTERNS),
                           disabled=url.locked("pattern"),
                           help="\n\n".join(f"**{k}**: {v}" for k, v in PATTERNS.items()))
    c2.caption(PATTERNS[pattern])
    parsed = parse_pattern(pattern)
    methods = available(parsed)  # whole units (neuron, head) have their own, unit-importance methods
    weight_level = parsed.granularity in WEIGHT_LEVEL  # single weights: scope and head are the user's to set
    choices = {k: m.info.description for k, m in methods.items()}
    method = c1.selectbox("Method (importance score)", list(choices), index=list(choices).index("magnitude"),
                          key=url.select("method", f"method_{'weights' if weight_level else 'units'}", choices,
                                         f" for the pattern {pattern}"), disabled=url.locked("method"),
                          help="\n\n".join(f"**{k}**: {v}" for k, v in choices.items()))
    c1.caption(choices[method])
    chosen = methods[method]
    info = chosen.info
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
                         key=url.select("scope", "scope", SCOPES), disabled=not weight_level or url.locked("scope"),
                         help="Structural patterns set the scope themselves: neurons live in the MLP, heads in "
                              "attention.")
    d1, d2, d3 = st.columns(3)
    usable = usable_allocations(parsed, chosen) or ["layer"]  # none: the run's own validation says why
    allocation = d1.radio("Allocation", usable, horizontal=True, key=url.select("allocation", "allocation", usable),
                          disabled=len(usable) == 1 or url.locked("allocation"),
                          help="\n\n".join(f"**{k}**: {v}" for k, v in ALLOCATIONS.items()))
    needs_calibration = info.needs_calibration or allocation == "owl"  # OWL's outlier profile needs data too
    include_head = d2.checkbox("Also prune the output head", value=False, key=url.flag("head", "include_head"),
                               disabled=not weight_level or url.locked("head"),
                               help="Off by default: the head maps features to words/classes and is fragile.")
    seed = d3.number_input("Seed", min_value=0, max_value=10_000, value=0, step=1,
                           key=url.number("seed", "seed", 0, 10_000), disabled=url.locked("seed"))
    calib = _calibration_controls(loaded, url) if needs_calibration else {}
    params = _method_param_controls(url, chosen)
    spec, evaluation, measure_file = _measurement_controls(loaded, url)
    config = PruneConfig(method=method, sparsity=sparsity_pct / 100, pattern=pattern, allocation=allocation,
                         scope=scope if weight_level else "all",
                         include_head=include_head and weight_level, seed=int(seed), method_params=params, **calib)
    url.done()
    if info.explain:
        st.info(f"**{method}**: {info.explain}", icon=":material/school:")
    return ExploreSettings(config=config, pattern=parsed, method=chosen, spec=spec, evaluation=evaluation,
                           measure_file=measure_file)


def _calibration_controls(loaded: LoadedModel, url: Controls) -> dict:
    """Calibration samples and tokens per sample: PruneConfig fields."""
    calib = {}
    with st.expander("Calibration settings", expanded=False):
        e1, e2 = st.columns(2)
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
    return calib


def _method_param_controls(url: Controls, method: PruningMethod) -> dict:
    """One number input per parameter the method declares (`PruningMethod.params`), each in the URL under
    its own name; nothing for a method without parameters."""
    declared = specs(method.params)
    if not declared:
        return {}
    values = {}
    with st.expander(f"Settings of {method.info.name}", expanded=False):
        for column, spec in zip(cycle(st.columns(3)), declared):
            values[spec.name] = _param_input(column, url, method.info.name, spec)
    return values


def _param_input(column, url: Controls, method: str, spec: ParamSpec) -> int | float:
    """The number input of one declared parameter: range, step and help from its declaration."""
    kind = spec.kind
    lo, hi = (None if v is None else kind(v) for v in (spec.min, spec.max))
    key = url.number(spec.name, f"param_{method}_{spec.name}", -math.inf if lo is None else lo,
                     math.inf if hi is None else hi, kind=kind)
    value = column.number_input(spec.label, lo, hi, kind(spec.default), step=None if spec.step is None else
                                kind(spec.step), format=_number_format(spec), key=key, help=spec.help or None,
                                disabled=url.locked(spec.name))
    return kind(value)


def _number_format(spec: ParamSpec) -> str:
    """Enough decimals to show the default, the range's ends and the step exactly (0.0001 needs 4)."""
    if spec.kind is int:
        return "%d"
    shown = [v for v in (spec.default, spec.min, spec.max, spec.step) if v is not None]
    decimals = max([len(f"{float(v):f}".rstrip("0").split(".")[1]) for v in shown] + [2])
    return f"%.{decimals}f"


def _measurement_controls(loaded: LoadedModel, url: Controls) -> tuple[LatencySpec, str, bool]:
    """(latency settings, evaluation, measure the file size?). The latency settings start from each
    model's own defaults: they are per-model controls of the URL."""
    card = loaded.card
    with st.expander("Measurement settings"):
        m1, m2, m3 = st.columns(3)
        default = LatencySpec.for_model(card)
        spec = LatencySpec(batch=int(m1.number_input("Latency batch", 1, 64, default.batch,
                                                     key=url.number("batch", "lat_batch", 1, 64,
                                                                    per_model=loaded.key),
                                                     disabled=url.locked("batch"))),
                           seq_len=int(m2.number_input("Latency tokens per sequence", 8, 512, default.seq_len,
                                                       key=url.number("seq_len", "lat_seq_len", 8, 512,
                                                                      per_model=loaded.key),
                                                       disabled=url.locked("seq_len"))),
                           reps=int(m3.number_input("Timed repetitions", 3, 50, default.reps,
                                                    key=url.number("reps", "lat_reps", 3, 50, per_model=loaded.key),
                                                    disabled=url.locked("reps"))),
                           warmup=default.warmup, threads=2)
        n1, n2 = st.columns(2)
        evaluation = n1.radio("Held-out evaluation", list(EVALUATIONS), index=list(EVALUATIONS).index("quick"),
                              horizontal=True, key=url.select("eval", "evaluation", EVALUATIONS),
                              disabled=url.locked("eval"),
                              help="\n\n".join(f"**{k}**: {v}" for k, v in EVALUATIONS.items()) +
                                   "\n\nDense and pruned are always scored on the same examples.")
        measure_file = n2.checkbox("Measure compressed file size (zstd)", value=not card.big,
                                   key=url.flag("file", "measure_file", per_model=loaded.key), disabled=url.locked("file"),
                                   help="Compresses every pruned tensor: about a second per 100 M weights.")
    return spec, evaluation, measure_file
