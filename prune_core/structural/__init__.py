"""Structured pruning with physical removal: whole MLP neurons or attention heads go away.

Zeroed weights in dense matrices save nothing (see `run.speed_note`). Removing a *unit* - an MLP
neuron (one row of the up/gate matrices, one column of the down matrix) or an attention head (its
Q/K/V rows and its output-projection columns) - lets us rebuild smaller matrices, so the model
really is smaller and faster. The lifecycle, one module per step:

1. `architectures`: where each family keeps the matrices a unit owns (`unit_layout`);
2. `importance` scores every unit (`IMPORTANCE`), `plan` picks what to keep (`KEEP_RULES`:
   `layer` or `global` allocation) -> a JSON-serialisable `StructuralPlan`;
3. `surgery`: `shrink` deep-copies the model and replaces the affected Linear/Conv1D modules by
   smaller ones (`mask_units`, `unit_masks`: the same removal as zeros / as keep-masks);
4. `io`: `save_structured` / `load_structured` write and rebuild it (config + per-layer shapes).

Supported: GPT-2 (fused Conv1D `c_attn`), BERT-style encoders and Llama-style decoders. Llama
uses grouped-query attention (GQA): a head unit there is one *KV group* (a key/value head with
the query heads that share it), so the group size stays uniform and `num_key_value_groups`
keeps working. Per-layer sizes may differ; transformers' config cannot say so, hence
`prunescope_structure.json` next to the weights.

The model a plan is made from is only read: statistics are collected on a private copy (forward
hooks on a shared model would also fire in other sessions' forwards).
"""
from .architectures import (ARCHES, SUPPORTED, UNITS, Arch, Layout, Part, Slot, detect_arch, feature_indices,
                            unit_layout)
from .importance import IMPORTANCE, Importance, get_importance, register, unit_scores
from .io import FORMAT_VERSION, STRUCTURE_FILE, load_structured, save_structured, structure_of
from .plan import KEEP_RULES, StructuralPlan, kept_indices, plan_for, plan_from_scores, plan_units
from .surgery import apply_keeps, mask_units, shrink, unit_masks

__all__ = [
    "ARCHES", "SUPPORTED", "UNITS", "Arch", "Layout", "Part", "Slot", "detect_arch", "feature_indices", "unit_layout",
    "IMPORTANCE", "Importance", "get_importance", "register", "unit_scores",
    "FORMAT_VERSION", "STRUCTURE_FILE", "load_structured", "save_structured", "structure_of",
    "KEEP_RULES", "StructuralPlan", "kept_indices", "plan_for", "plan_from_scores", "plan_units",
    "apply_keeps", "mask_units", "shrink", "unit_masks",
]
