"""Structured pruning with physical removal: whole MLP neurons or attention heads go away.

Zeroed weights in dense matrices save nothing (see `run.speed_note`). Removing a *unit* - an MLP
neuron (one row of the up/gate matrices, one column of the down matrix) or an attention head (its
Q/K/V rows and its output-projection columns) - lets us rebuild smaller matrices, so the model
really is smaller and faster. The lifecycle:

1. `plan_units` scores every unit (an importance from `IMPORTANCE`) and picks what to keep
   (`layer` or `global` allocation) -> a JSON-serialisable `StructuralPlan`;
2. `shrink` deep-copies the model and replaces the affected Linear/Conv1D modules by smaller ones;
3. `save_structured` / `load_structured` write and rebuild it (config + per-layer shapes).

Supported: GPT-2 (fused Conv1D `c_attn`), BERT-style encoders and Llama-style decoders. Llama
uses grouped-query attention (GQA): a head unit there is one *KV group* (a key/value head with
the query heads that share it), so the group size stays uniform and `num_key_value_groups`
keeps working. Per-layer sizes may differ; transformers' config cannot say so, hence
`prunescope_structure.json` next to the weights.

The model a plan is made from is only read: statistics are collected on a private copy (forward
hooks on a shared model would also fire in other sessions' forwards).
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_model
from torch import nn
from transformers.pytorch_utils import Conv1D

from .calibration import find_blocks
from .errors import PruneScopeError
from .targets import Target, as_out_in, find_targets, from_out_in

UNITS = {"neuron": "MLP neurons", "head": "attention heads"}
ALLOCATIONS = {
    "layer": "every block loses the same fraction of its units",
    "global": "one ranking across blocks (scores divided by their block's mean |score|); blocks end up unequal",
}
STRUCTURE_FILE = "prunescope_structure.json"
FORMAT_VERSION = 1
SUPPORTED = "GPT-2 (GPT2LMHeadModel), BERT-style (BertForSequenceClassification) and Llama-style (LlamaForCausalLM)"


# --------------------------------------------------------------------------- architectures
@dataclass(frozen=True)
class Part:
    """One matrix that a unit owns a slice of, by its module path inside a block.

    role "in": the matrix *produces* the units (its output rows and bias entries are sliced);
    role "out": it *consumes* them (its input columns are sliced; bias kept).
    `query`: a head unit spans all query heads of its KV group here (Llama q_proj / o_proj).
    `segments`: fused projections hold several unit-indexed blocks side by side (GPT-2 Q|K|V).
    """

    path: str
    role: str
    query: bool = False
    segments: int = 1


@dataclass(frozen=True)
class Arch:
    """Where one architecture family keeps its MLP and attention, and what to update after surgery."""

    name: str
    mlp: tuple[Part, ...]
    attn: tuple[Part, ...]
    attn_module: str  # the module whose forward reshapes into heads
    mlp_module: str
    # attention module -> (head_dim, query heads per unit): read from the module, so re-shrinking works
    head_shape: Callable[[nn.Module], tuple[int, int]]
    set_heads: Callable[[nn.Module, int, int], None] = lambda m, n_query_heads, head_dim: None
    set_neurons: Callable[[nn.Module, int], None] = lambda m, n: None


def _gpt2_set_heads(m: nn.Module, n: int, hd: int) -> None:
    m.num_heads, m.split_size = n, n * hd  # forward splits c_attn's output by split_size


def _bert_set_heads(m: nn.Module, n: int, hd: int) -> None:
    m.num_attention_heads, m.all_head_size = n, n * hd


def _llama_set_neurons(m: nn.Module, n: int) -> None:
    m.intermediate_size = n


ARCHES: dict[str, Arch] = {
    "gpt2": Arch(
        "GPT-2",
        mlp=(Part("mlp.c_fc", "in"), Part("mlp.c_proj", "out")),
        attn=(Part("attn.c_attn", "in", segments=3), Part("attn.c_proj", "out")),
        attn_module="attn", mlp_module="mlp",
        head_shape=lambda m: (m.head_dim, 1), set_heads=_gpt2_set_heads),
    "bert": Arch(
        "BERT-style",
        mlp=(Part("intermediate.dense", "in"), Part("output.dense", "out")),
        attn=(Part("attention.self.query", "in"), Part("attention.self.key", "in"),
              Part("attention.self.value", "in"), Part("attention.output.dense", "out")),
        attn_module="attention.self", mlp_module="intermediate",
        head_shape=lambda m: (m.attention_head_size, 1), set_heads=_bert_set_heads),
    "llama": Arch(
        "Llama-style",
        mlp=(Part("mlp.gate_proj", "in"), Part("mlp.up_proj", "in"), Part("mlp.down_proj", "out")),
        attn=(Part("self_attn.q_proj", "in", query=True), Part("self_attn.k_proj", "in"),
              Part("self_attn.v_proj", "in"), Part("self_attn.o_proj", "out", query=True)),
        attn_module="self_attn", mlp_module="mlp",
        head_shape=lambda m: (m.head_dim, m.num_key_value_groups), set_neurons=_llama_set_neurons),
}


def detect_arch(model: nn.Module) -> str:
    """Key in ARCHES of the family whose module names this model's blocks have."""
    try:
        _, blocks = find_blocks(model)
    except PruneScopeError:
        blocks = None
    if blocks is not None:
        names = {n for n, _ in blocks[0].named_modules()}
        for key, arch in ARCHES.items():
            paths = [p.path for p in arch.mlp + arch.attn] + [arch.attn_module]
            if all(p in names for p in paths):
                if key == "gpt2" and getattr(model.config, "add_cross_attention", False):
                    break
                return key
    raise PruneScopeError(f"structured pruning does not know the architecture {type(model).__name__}; "
                          f"supported: {SUPPORTED}")


@dataclass
class _Slot:
    """A Part resolved in one block: the module, its Target (for the weight layout) and widths."""

    part: Part
    module_path: str  # full path in the model
    module: nn.Module
    target: Target
    width: int  # features per unit per segment
    units: int


@dataclass
class _Layout:
    """Per block, the resolved Parts of one unit kind."""

    arch_key: str
    unit: str
    blocks_path: str
    blocks: list[list[_Slot]]
    queries_per_unit: int = 1
    head_dim: int = 1

    @property
    def units(self) -> list[int]:
        return [slots[0].units for slots in self.blocks]


def _layout(model: nn.Module, unit: str) -> _Layout:
    """Resolve the unit's Parts in every block; unit counts come from the current shapes."""
    if unit not in UNITS:
        raise PruneScopeError(f"unknown unit '{unit}'; choose 'neuron' ({UNITS['neuron']}) or 'head' ({UNITS['head']})")
    key = detect_arch(model)
    arch = ARCHES[key]
    blocks_path, blocks = find_blocks(model)
    targets = {t.module: t for t in find_targets(model, "all")}
    layout = _Layout(key, unit, blocks_path, [])
    for b, block in enumerate(blocks):
        prefix = f"{blocks_path}.{b}"
        if unit == "head":
            head_dim, qpu = arch.head_shape(block.get_submodule(arch.attn_module))
            layout.head_dim, layout.queries_per_unit = head_dim, qpu
        slots = []
        for part in (arch.mlp if unit == "neuron" else arch.attn):
            module = block.get_submodule(part.path)
            target = targets[f"{prefix}.{part.path}"]
            width = 1 if unit == "neuron" else head_dim * (layout.queries_per_unit if part.query else 1)
            size = target.out_features if part.role == "in" else target.in_features
            slots.append(_Slot(part, f"{prefix}.{part.path}", module, target, width, size // (width * part.segments)))
        if len({s.units for s in slots}) != 1:
            raise PruneScopeError(f"block {b} of this {arch.name} model has inconsistent {UNITS[unit]} sizes "
                                  f"({[s.units for s in slots]}); it cannot be pruned structurally")
        layout.blocks.append(slots)
    return layout


def _unit_rows(units: torch.Tensor, slot: _Slot) -> torch.Tensor:
    """Feature indices (along the sliced dimension) owned by `units`, segment by segment."""
    w, n = slot.width, slot.units
    per = (units[:, None] * w + torch.arange(w)).reshape(-1)  # (len(units) * w,)
    return torch.cat([s * n * w + per for s in range(slot.part.segments)])


def _unit_word(layout: _Layout, count: int | None = None) -> str:
    if layout.unit == "neuron":
        return "MLP neuron" if count == 1 else "MLP neurons"
    if layout.queries_per_unit > 1:
        g = "KV group" if count == 1 else "KV groups"
        return f"{g} (a key/value head with its {layout.queries_per_unit} query heads)"
    return "attention head" if count == 1 else "attention heads"


# --------------------------------------------------------------------------- plan
@dataclass
class StructuralPlan:
    """What to keep: per block, the sorted indices of the units kept, and the scores behind it.

    For Llama-style (GQA) head plans a unit is one KV group: `queries_per_unit` query heads.
    """

    unit: str  # "neuron" | "head"
    method: str  # importance name in IMPORTANCE
    allocation: str  # "layer" | "global"
    sparsity: float  # requested fraction of units to remove
    arch: str  # key in ARCHES
    units: list[int]  # units per block before pruning
    kept: list[list[int]]  # per block, sorted indices kept
    scores: list[list[float]]  # per block, importance of every unit (higher = keep)
    queries_per_unit: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(self.units) - sum(len(k) for k in self.kept)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StructuralPlan":
        return cls(**{**d, "kept": [list(map(int, k)) for k in d["kept"]],
                      "scores": [list(map(float, s)) for s in d["scores"]], "units": list(map(int, d["units"]))})

    def rows(self) -> list[dict]:
        """One row per block, for tables and charts."""
        return [{"block": b, "unit": self.unit, "units": n, "kept": len(k), "removed": n - len(k)}
                for b, (n, k) in enumerate(zip(self.units, self.kept))]


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _pct(x: float) -> str:
    return f"{100 * x:.4g} %"


def _check_sparsity(sparsity: float) -> float:
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise PruneScopeError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if not 0.0 <= s < 1.0:
        raise PruneScopeError(f"sparsity must be in [0, 1) (0.5 removes half the units), got {sparsity}")
    return s


def _layer_keep(scores: list[torch.Tensor], sparsity: float, layout: _Layout) -> list[list[int]]:
    kept = []
    for b, s in enumerate(scores):
        n = s.numel()
        k = _round_half_up(sparsity * n)
        if sparsity > 0 and k == 0:
            raise PruneScopeError(
                f"{_pct(sparsity)} of the {n} {_unit_word(layout, n)} in block {b} is {sparsity * n:.3g}, which rounds "
                f"to 0 units: nothing would be removed. Use at least {_pct(0.5 / n)} (removes 1 of {n}), "
                f"or 'global' allocation")
        if k >= n:
            raise PruneScopeError(
                f"{_pct(sparsity)} of the {n} {_unit_word(layout, n)} in block {b} rounds to {k}: all of them. "
                f"A block must keep at least 1; use a sparsity below {_pct((n - 0.5) / n)} "
                f"(at most {n - 1} of {n} removed)")
        order = torch.argsort(s, stable=True)  # ascending: the first k go
        kept.append(sorted(order[k:].tolist()))
    return kept


def _global_keep(scores: list[torch.Tensor], sparsity: float, layout: _Layout) -> list[list[int]]:
    total = sum(s.numel() for s in scores)
    k = _round_half_up(sparsity * total)
    if sparsity > 0 and k == 0:
        raise PruneScopeError(f"{_pct(sparsity)} of the {total} {_unit_word(layout, total)} is "
                              f"{sparsity * total:.3g}, which rounds to 0 units: nothing would be removed; "
                              f"use at least {_pct(0.5 / total)}")
    if k > total - len(scores):
        raise PruneScopeError(f"{_pct(sparsity)} of the {total} {_unit_word(layout, total)} is {k}, but every "
                              f"block must keep at least 1: at most {total - len(scores)} can go")
    # comparable across blocks: each block's scores divided by their mean magnitude
    normed = [s / s.abs().mean().clamp_min(1e-30) for s in scores]
    flat = torch.cat(normed)
    owner = torch.cat([torch.full((s.numel(),), b) for b, s in enumerate(scores)])
    local = torch.cat([torch.arange(s.numel()) for s in scores])
    left = [s.numel() for s in scores]
    remove: list[set[int]] = [set() for _ in scores]
    for i in torch.argsort(flat, stable=True).tolist():
        if k == 0:
            break
        b = int(owner[i])
        if left[b] > 1:  # never the last unit of a block
            remove[b].add(int(local[i]))
            left[b] -= 1
            k -= 1
    return [[j for j in range(s.numel()) if j not in r] for s, r in zip(scores, remove)]


KEEP_RULES: dict[str, Callable[[list[torch.Tensor], float, _Layout], list[list[int]]]] = {
    "layer": _layer_keep,
    "global": _global_keep,
}


# --------------------------------------------------------------------------- importance
@dataclass(frozen=True)
class Importance:
    """A unit importance score, registered by name. Higher = more important = kept."""

    name: str
    description: str
    units: tuple[str, ...]
    needs_calibration: bool
    score: Callable[[nn.Module, _Layout, list], list[torch.Tensor]]  # (model, layout, samples) -> per block (units,)


IMPORTANCE: dict[str, Importance] = {}


def register(name: str, description: str, units: tuple[str, ...], needs_calibration: bool):
    def wrap(fn):
        IMPORTANCE[name] = Importance(name, description, units, needs_calibration, fn)
        return fn
    return wrap


def _sq_norms(slot: _Slot) -> torch.Tensor:
    """Sum of squared weights each unit owns in one matrix: (units,)."""
    w = as_out_in(slot.module.weight.detach(), slot.target).float()
    n, width, seg = slot.units, slot.width, slot.part.segments
    if slot.part.role == "in":
        return (w.reshape(seg, n, width, -1) ** 2).sum((0, 2, 3))
    return (w.reshape(w.shape[0], n, width) ** 2).sum((0, 2))


@register("magnitude", "L2 norm of all the weights a unit owns (rows it produces, columns it feeds)",
          ("neuron", "head"), needs_calibration=False)
@torch.no_grad()
def magnitude_importance(model: nn.Module, layout: _Layout, samples) -> list[torch.Tensor]:
    return [torch.sqrt(sum(_sq_norms(s) for s in slots)) for slots in layout.blocks]


def _private(model: nn.Module, unit: str) -> tuple[nn.Module, _Layout]:
    """A copy to run hooks/ablations on (the given model may be shared), and its layout."""
    twin = copy.deepcopy(model).eval()
    return twin, _layout(twin, unit)


@register("activation", "mean |activation| of the unit on calibration data x norm of its outgoing weights "
          "(heads: mean L2 norm of the head's attention output)", ("neuron", "head"), needs_calibration=True)
@torch.inference_mode()
def activation_importance(model: nn.Module, layout: _Layout, samples) -> list[torch.Tensor]:
    twin, lay = _private(model, layout.unit)
    outs = [next(s for s in slots if s.part.role == "out") for slots in lay.blocks]
    sums = [torch.zeros(s.units, dtype=torch.float64) for s in outs]
    tokens = [0] * len(outs)

    def make_hook(b: int, slot: _Slot):
        def hook(module, args):
            x = args[0].detach().reshape(-1, slot.units, slot.width)  # (tokens, units, width)
            sums[b] += x.double().norm(dim=-1).sum(0)
            tokens[b] += x.shape[0]
        return hook

    handles = [s.module.register_forward_pre_hook(make_hook(b, s)) for b, s in enumerate(outs)]
    try:
        for batch in samples:
            twin(**batch)
    finally:
        for h in handles:
            h.remove()
    return [(sums[b] / max(tokens[b], 1)).float() * torch.sqrt(_sq_norms(s)) for b, s in enumerate(outs)]


def _is_causal_lm(model: nn.Module) -> bool:
    name = type(model).__name__
    return "ForCausalLM" in name or "LMHeadModel" in name


def _calibration_loss(model: nn.Module, samples: list, reference: list[torch.Tensor] | None) -> float:
    """LM: mean next-token loss. Classifier: mean KL(dense || this) of class probabilities."""
    total = 0.0
    for i, batch in enumerate(samples):
        if reference is None:
            total += float(model(**batch, labels=batch["input_ids"]).loss)
        else:
            logp = F.log_softmax(model(**batch).logits.float(), -1)
            total += float(F.kl_div(logp, reference[i], log_target=True, reduction="batchmean"))
    return total / len(samples)


@register("loss", "increase of the calibration loss when the unit alone is removed (LMs: next-token loss; "
          "classifiers: KL divergence of the class probabilities from the dense model's)",
          ("head",), needs_calibration=True)
@torch.inference_mode()
def loss_importance(model: nn.Module, layout: _Layout, samples) -> list[torch.Tensor]:
    twin, lay = _private(model, layout.unit)
    causal = _is_causal_lm(twin)
    reference = None if causal else [F.log_softmax(twin(**b).logits.float(), -1) for b in samples]
    base = _calibration_loss(twin, samples, None) if causal else 0.0
    scores = []
    for slots in lay.blocks:
        out = next(s for s in slots if s.part.role == "out")
        weight = out.module.weight
        row = torch.zeros(out.units)
        for u in range(out.units):
            idx = _unit_rows(torch.tensor([u]), out)
            saved = weight.detach().clone()
            w = as_out_in(weight.data, out.target)  # a view: zeroing it zeroes the parameter
            w[:, idx] = 0  # zeroing the columns that read the unit removes it exactly
            try:
                row[u] = _calibration_loss(twin, samples, reference) - base
            finally:
                weight.data.copy_(saved)
        scores.append(row)
    return scores


def unit_scores(model: nn.Module, unit: str, method: str = "magnitude", samples: list | None = None) -> list[torch.Tensor]:
    """Importance of every unit, per block (higher = keep). `model` is only read."""
    layout = _layout(model, unit)
    imp = _importance(method, unit)
    if imp.needs_calibration and not samples:
        raise PruneScopeError(f"importance '{method}' needs calibration samples "
                              "(prune_core.calibration.calibration_inputs); none were given")
    return imp.score(model, layout, samples)


def _importance(method: str, unit: str) -> Importance:
    if method not in IMPORTANCE:
        raise PruneScopeError(f"unknown importance '{method}'; available: {', '.join(IMPORTANCE)}")
    imp = IMPORTANCE[method]
    if unit not in imp.units:
        raise PruneScopeError(f"importance '{method}' scores {' and '.join(UNITS[u] for u in imp.units)} only, "
                              f"not {UNITS.get(unit, unit)}")
    return imp


def plan_units(model: nn.Module, unit: str, sparsity: float, method: str = "magnitude",
               allocation: str = "layer", samples: list | None = None) -> StructuralPlan:
    """Score the units and choose which to keep; the model is only read.

    >>> plan = plan_units(loaded.model, "neuron", 0.5)          # half the MLP neurons of each block
    >>> small = shrink(loaded.model, plan)
    """
    sparsity = _check_sparsity(sparsity)
    if allocation not in KEEP_RULES:
        raise PruneScopeError(f"unknown allocation '{allocation}'; choose one of: {', '.join(KEEP_RULES)}")
    layout = _layout(model, unit)
    _importance(method, unit)
    scores = unit_scores(model, unit, method, samples)
    kept = KEEP_RULES[allocation](scores, sparsity, layout)
    return StructuralPlan(unit, method, allocation, sparsity, layout.arch_key, layout.units, kept,
                          [s.tolist() for s in scores], layout.queries_per_unit)


def plan_for(loaded, unit: str, sparsity: float, method: str = "magnitude", allocation: str = "layer",
             calib_samples: int = 16, calib_seq_len: int = 128, seed: int = 0) -> StructuralPlan:
    """`plan_units` for a zoo model, drawing calibration data from its training split if needed."""
    samples = None
    if _importance(method, unit).needs_calibration:
        from .calibration import calibration_inputs

        samples = calibration_inputs(loaded, calib_samples, calib_seq_len, seed)
    return plan_units(loaded.model, unit, sparsity, method, allocation, samples)


# --------------------------------------------------------------------------- surgery
def _check_plan(layout: _Layout, plan: StructuralPlan) -> list[torch.Tensor]:
    if plan.unit not in UNITS:
        raise PruneScopeError(f"unknown unit '{plan.unit}' in plan; choose 'neuron' or 'head'")
    if plan.arch != layout.arch_key:
        raise PruneScopeError(f"this plan was made for a {ARCHES[plan.arch].name if plan.arch in ARCHES else plan.arch} "
                              f"model, not a {ARCHES[layout.arch_key].name} one")
    if list(plan.units) != layout.units or len(plan.kept) != len(layout.blocks):
        raise PruneScopeError(f"this plan was made for a model with {plan.units} {UNITS[plan.unit]} per block; "
                              f"this one has {layout.units}")
    out = []
    for b, (keep, n) in enumerate(zip(plan.kept, layout.units)):
        if not keep:
            raise PruneScopeError(f"the plan removes all {n} {_unit_word(layout, n)} of block {b}; "
                                  "removing a whole layer is not supported: keep at least 1")
        if sorted(set(keep)) != list(keep) or keep[0] < 0 or keep[-1] >= n:
            raise PruneScopeError(f"block {b}: kept indices must be sorted, distinct and in 0..{n - 1}; got {keep}")
        out.append(torch.tensor(keep, dtype=torch.long))
    return out


def _smaller(slot: _Slot, rows: torch.Tensor) -> nn.Module:
    """A new Linear/Conv1D holding only the given features of the sliced dimension."""
    old = slot.module
    w = as_out_in(old.weight.detach(), slot.target)
    bias = old.bias.detach() if old.bias is not None else None
    if slot.part.role == "in":
        w = w.index_select(0, rows)
        bias = bias.index_select(0, rows) if bias is not None else None
    else:
        w = w.index_select(1, rows)
    out_f, in_f = w.shape
    if isinstance(old, Conv1D):
        new = Conv1D(out_f, in_f)
    else:
        new = torch.nn.utils.skip_init(nn.Linear, in_f, out_f, bias=bias is not None,
                                       dtype=old.weight.dtype, device=old.weight.device)
    new.weight = nn.Parameter(from_out_in(w, slot.target).clone(), requires_grad=old.weight.requires_grad)
    if bias is not None:
        new.bias = nn.Parameter(bias.clone(), requires_grad=old.bias.requires_grad)
    new.train(old.training)
    return new


def _apply(model: nn.Module, layout: _Layout, keeps: list[torch.Tensor]) -> None:
    """Replace the unit-owning modules of every block of `model` (already a private copy)."""
    arch = ARCHES[layout.arch_key]
    for slots, keep in zip(layout.blocks, keeps):
        for slot in slots:
            model.set_submodule(slot.module_path, _smaller(slot, _unit_rows(keep, slot)))
        block_path = slots[0].module_path[: -len(slots[0].part.path) - 1]
        block = model.get_submodule(block_path)
        if layout.unit == "head":
            arch.set_heads(block.get_submodule(arch.attn_module), len(keep) * layout.queries_per_unit, layout.head_dim)
        else:
            arch.set_neurons(block.get_submodule(arch.mlp_module), len(keep))


def shrink(model: nn.Module, plan: StructuralPlan) -> nn.Module:
    """A deep copy of `model` with the plan's removed units physically gone; `model` is untouched.

    Neurons: rows of the up (and gate) matrices, columns of the down matrix. Heads: Q/K/V rows and
    output-projection columns, and the attention module's head count. For Llama-style GQA a head
    unit is a whole KV group (its K/V head and the query heads sharing it).
    """
    keeps = _check_plan(_layout(model, plan.unit), plan)
    small = copy.deepcopy(model)
    _apply(small, _layout(small, plan.unit), keeps)
    return small


@torch.no_grad()
def mask_units(model: nn.Module, plan: StructuralPlan) -> nn.Module:
    """A dense copy in which the removed units' outgoing columns are zero: same function as `shrink`."""
    layout = _layout(model, plan.unit)
    keeps = _check_plan(layout, plan)
    masked = copy.deepcopy(model)
    params = dict(masked.named_parameters())
    for slots, keep, n in zip(layout.blocks, keeps, layout.units):
        gone = torch.tensor(sorted(set(range(n)) - set(keep.tolist())), dtype=torch.long)
        for slot in slots:
            if slot.part.role == "out" and gone.numel():
                as_out_in(params[slot.target.name], slot.target)[:, _unit_rows(gone, slot)] = 0
    return masked


# --------------------------------------------------------------------------- export
def structure_of(model: nn.Module) -> dict:
    """Per-block sizes of a (possibly shrunk) model, as written to prunescope_structure.json."""
    neurons, heads = _layout(model, "neuron"), _layout(model, "head")
    return {
        "format": FORMAT_VERSION, "arch": neurons.arch_key, "blocks_path": neurons.blocks_path,
        "head_dim": heads.head_dim, "queries_per_unit": heads.queries_per_unit,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "layers": [{"block": b, "mlp_neurons": n, "head_units": h, "query_heads": h * heads.queries_per_unit}
                   for b, (n, h) in enumerate(zip(neurons.units, heads.units))],
    }


def save_structured(model: nn.Module, tokenizer, plan: StructuralPlan | Sequence[StructuralPlan],
                    out_dir: str | Path) -> Path:
    """safetensors weights + config + tokenizer + prunescope_structure.json (per-layer sizes, plans).

    The config stays the dense one (it cannot express per-layer sizes), so plain
    `from_pretrained` refuses these weights; use `load_structured`. Tied tensors are stored once.
    """
    from .export import check_export_dir

    out = check_export_dir(out_dir)
    plans = [plan] if isinstance(plan, StructuralPlan) else list(plan)
    record = {**structure_of(model), "plans": [p.to_dict() for p in plans]}
    config = copy.deepcopy(model.config)
    config.architectures = [type(model).__name__]
    if hasattr(config, "quantization_config"):  # GGUF models are dequantized to fp32 on load: plain now
        del config.quantization_config
    try:
        out.mkdir(parents=True, exist_ok=True)
        # written directly: save_pretrained refuses models that were loaded from GGUF
        save_model(model, str(out / "model.safetensors"), metadata={"format": "pt"})
        config.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        (out / STRUCTURE_FILE).write_text(json.dumps(record, indent=2))
    except OSError as exc:
        raise PruneScopeError(f"could not write to '{out}': {exc.strerror or exc}") from None
    return out


def _resize(model: nn.Module, unit: str, sizes: list[int]) -> None:
    """Give each block `sizes[b]` units (the first ones: the weights are about to be overwritten)."""
    layout = _layout(model, unit)
    if len(sizes) != len(layout.blocks):
        raise PruneScopeError(f"{STRUCTURE_FILE} describes {len(sizes)} blocks; the config builds {len(layout.blocks)}")
    _apply(model, layout, [torch.arange(min(s, n)) for s, n in zip(sizes, layout.units)])


def load_structured(path: str | Path) -> nn.Module:
    """Rebuild a model written by `save_structured`: config -> per-layer shapes -> strict safetensors load."""
    import transformers

    path = Path(path)
    try:
        record = json.loads((path / STRUCTURE_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise PruneScopeError(f"'{path}' holds no readable {STRUCTURE_FILE} ({exc}); was it written by "
                              "save_structured?") from None
    if record.get("format") != FORMAT_VERSION:
        raise PruneScopeError(f"{STRUCTURE_FILE} has format {record.get('format')}; this PruneScope reads {FORMAT_VERSION}")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise PruneScopeError(f"'{path}' has no .safetensors weights")
    from .checkpoint import load_config, read_config_json

    read_config_json(path)  # no custom code, a model type transformers knows
    config = load_config(path)
    arch_names = getattr(config, "architectures", None) or []
    cls = getattr(transformers, arch_names[0], None) if arch_names else None
    if cls is None or not issubclass(cls, transformers.PreTrainedModel):
        raise PruneScopeError(f"config names architecture {arch_names or '(none)'}, which transformers does not "
                              f"provide; supported: {SUPPORTED}")
    kwargs = {"attn_implementation": record["attn_implementation"]} if record.get("attn_implementation") else {}
    model = cls._from_config(config, dtype=torch.float32, **kwargs)
    layers = record["layers"]
    _resize(model, "neuron", [layer["mlp_neurons"] for layer in layers])
    _resize(model, "head", [layer["head_units"] for layer in layers])
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    expected = model.state_dict()
    aliases = _aliases(model)
    missing = sorted(k for k in set(expected) - set(state) if not aliases[k] & set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise PruneScopeError(f"weights in '{path}' do not match {STRUCTURE_FILE}: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
    model.load_state_dict(state, strict=False)  # strict above, modulo tied names stored once
    model.eval()
    return model


def _aliases(model: nn.Module) -> dict[str, set[str]]:
    """For each state-dict name, the names sharing its storage (a tied LM head and the embeddings)."""
    by_ptr: dict[int, set[str]] = {}
    entries = model.state_dict(keep_vars=True)
    for name, t in entries.items():
        by_ptr.setdefault(t.data_ptr(), set()).add(name)
    return {name: by_ptr[t.data_ptr()] for name, t in entries.items()}


def unit_masks(model: nn.Module, plan: StructuralPlan) -> dict[str, torch.Tensor]:
    """Keep-masks (each parameter's layout) of the weights a plan removes: rows of the matrices
    that produce the removed units, columns of those that consume them. For per-layer counts."""
    layout = _layout(model, plan.unit)
    keeps = _check_plan(layout, plan)
    params = dict(model.named_parameters())
    masks: dict[str, torch.Tensor] = {}
    for slots, keep, n in zip(layout.blocks, keeps, layout.units):
        gone = torch.tensor(sorted(set(range(n)) - set(keep.tolist())), dtype=torch.long)
        for slot in slots:
            t = slot.target
            mask = masks.setdefault(t.name, torch.ones_like(params[t.name], dtype=torch.bool))
            if gone.numel():
                view = as_out_in(mask, t)
                idx = _unit_rows(gone, slot)
                if slot.part.role == "in":
                    view[idx, :] = False
                else:
                    view[:, idx] = False
    return masks
