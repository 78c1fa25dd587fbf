"""The result of the cheap phase of a pruning run: counts and sizes, no pruned copy, no evaluation.

`summary.summarize` makes one; `run.run` measures its setting and keeps it inside the `PruneResult`
(`MaskSummary.measured`). `sizes` turns per-layer nonzero counts into every storage format's size, as
`sizes.size_report` measures them on a pruned copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from torch import nn

from .facts import ModelFacts
from .masks import LayerStats, MaskSet
from .notes import Note
from .sizes import FP32, SizeReport, sparse_layer_bytes
from .structural import StructuralPlan
from .targets import Target


@dataclass
class MaskSummary:
    """The figures of a pruning run that need no pruned copy and no evaluation; a `PruneResult` holds
    them (its `counts`) and exports them under these names. Bit-identical to what the pruned copy
    measures (tests/test_summary.py).
    """

    sparsity_target: float
    sparsity_actual: float
    sparsity_model: float
    params_total: int
    params_nonzero: int
    params_in_scope: int
    size_dense: SizeReport  # file_zstd None until measured: compressing needs zstd (slow phase)
    size_pruned: SizeReport
    layers: list[LayerStats]
    notes: list[Note]
    seconds: float
    how: str  # "counted" (no masks built) or "masks" (masks computed, then counted)
    structure: dict | None = None
    keep_of: Callable[[str], torch.Tensor] | None = field(default=None, repr=False)  # one layer's keep-mask
    mask_set: MaskSet | None = field(default=None, repr=False)  # the masks, where they were computed
    targets: list[Target] = field(default_factory=list, repr=False)

    def to_mask_set(self) -> MaskSet:
        """All the masks, as `pruning.prune_masks` returns them (bit-identical), for the measuring phase:
        a global |w| threshold from the sorted index is much faster than a fresh selection."""
        if self.mask_set is not None:
            return self.mask_set
        masks = {t.name: self.keep_of(t.name) for t in self.targets}
        thresholds = {l.name: l.threshold for l in self.layers if l.threshold is not None}
        plan = StructuralPlan.from_dict(self.structure) if self.structure is not None else None
        return MaskSet(self.targets, masks, thresholds=thresholds, seconds=self.seconds, plan=plan)

    def measured(self, size_dense: SizeReport, file_zstd: int | None) -> "MaskSummary":
        """These figures with the compressed file sizes measured (the dense model's with its other sizes),
        without the masks: what a `PruneResult` keeps (the cached summary keeps the masks, a result
        must not hold them alive)."""
        return replace(self, size_dense=size_dense, size_pruned=replace(self.size_pruned, file_zstd=file_zstd),
                       keep_of=None, mask_set=None, targets=[])

    def weight_pair(self, model: nn.Module, target: LayerStats) -> tuple[torch.Tensor, torch.Tensor]:
        """(dense weight, pruned weight) of one layer, from its keep-mask: for the histogram."""
        dense = dict(model.named_parameters())[target.name].detach()
        new = self.mask_set.new_weights.get(target.name, dense) if self.mask_set is not None else dense
        return dense, new * self.keep_of(target.name).to(dense.dtype)


def sizes(facts: ModelFacts, nnz: dict[str, int], shapes: dict[str, tuple[int, int]], total: int,
          holds: Callable[[], bool]) -> SizeReport:
    """`sizes.size_report` from counts: `nnz` and `shapes` ((out, in)) of the size targets."""
    other = (total - sum(o * i for o, i in shapes.values())) * FP32
    csr = bitmask = nm = other
    for name, (out_f, in_f) in shapes.items():
        layer_csr, layer_bitmask, layer_nm = sparse_layer_bytes(out_f, out_f * in_f, nnz[name])
        csr += layer_csr
        bitmask += layer_bitmask
        nm += layer_nm
    params_nonzero = sum(facts.nonzero.values()) + sum(nnz[n] - facts.nonzero[n] for n in nnz)
    return SizeReport(total, params_nonzero, total * FP32, csr, bitmask, nm if holds() else None, None)


def dense_sizes(facts: ModelFacts) -> SizeReport:
    """The dense model's sizes (no file size), over the default scope as `run.dense_baseline` reports them."""
    names = [n for n, t in facts.targets.items() if t.kind != "head"]
    shapes = {n: (facts.targets[n].out_features, facts.targets[n].in_features) for n in names}
    return sizes(facts, {n: facts.nonzero[n] for n in names}, shapes, facts.total,
                 lambda: all(facts.layers[n].holds_2_4 for n in names))
