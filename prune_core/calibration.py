"""Calibration: sample inputs, then prune block by block on the inputs the pruned blocks make.

One mechanism for every calibration-aware method (Wanda, SparseGPT, ...):
1. `calibration_inputs` draws samples from the model's *training* split (never evaluation).
2. `sequential_prune` captures what the model passes its Transformer blocks (`blocks.capture`), then for
   each block: forward hooks on its target layers accumulate X^T X (or only its diagonal), the hooks are
   removed, the method turns the statistics into masks/new weights, a private copy of the block
   is pruned, and that copy's outputs become the next block's inputs (as in both papers).
   A model whose blocks cannot run alone gets the same statistics from whole forwards of a private
   copy, stopped after the block being pruned.
The shared base model is only read: its blocks are run under `inference_mode`, never written.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from . import datasets
from .blocks import Captured, Stop, capture, find_blocks, forward_kwargs, output_of, this_thread_only
from .errors import PruneScopeError
from .progress import Progress, no_progress
from .targets import Target
from .tokens import tokenize

MIN_SAMPLES = 1
LM_BATCH = 8  # calibration sequences per forward pass (tweets differ in length: one at a time)


@dataclass
class LayerInputStats:
    """Second moments of one layer's inputs over all calibration tokens."""

    gram: torch.Tensor  # (in, in) sum of x x^T, or (in,) its diagonal when only that is needed
    tokens: int = 0

    @property
    def sq_norm(self) -> torch.Tensor:
        """||X_j||^2 per input feature j (Wanda's statistic): the Gram matrix's diagonal."""
        return self.gram if self.gram.dim() == 1 else torch.diagonal(self.gram)


@dataclass
class Calibration:
    """Inputs for calibration-aware methods, and a place to report what happened."""

    samples: list[dict[str, torch.Tensor]]
    progress: Progress = no_progress
    notes: list[str] = field(default_factory=list)


def calibration_inputs(loaded, n_samples: int, seq_len: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """Batches holding n_samples sequences from the training split: LM windows, or tweets."""
    if n_samples < MIN_SAMPLES:
        raise PruneScopeError(f"calibration needs at least {MIN_SAMPLES} sample, got {n_samples}")
    check_length(loaded.model, seq_len)
    if seq_len < 2:
        raise PruneScopeError(f"calibration sequence length must be at least 2 tokens, got {seq_len}")
    rng = random.Random(seed)
    tok = loaded.tokenizer
    if loaded.task == "causal-lm":
        text = datasets.shakespeare_text("train")
        rows = []
        for _ in range(n_samples):
            start = rng.randrange(0, len(text) - 20 * seq_len)
            ids = tokenize(tok, text[start:start + 20 * seq_len], add_special_tokens=False, return_tensors="pt")["input_ids"]
            if ids.shape[1] < seq_len:
                raise PruneScopeError("training text too short for this calibration sequence length")
            rows.append(ids[:, :seq_len])
        # equal lengths, so batch them: one forward per block per batch is much faster on CPU
        return [{"input_ids": torch.cat(rows[i:i + LM_BATCH])} for i in range(0, len(rows), LM_BATCH)]
    pool = datasets.tweets("train")
    picks = rng.sample(range(len(pool)), min(n_samples, len(pool)))
    return [dict(tokenize(tok, pool[i][0], truncation=True, max_length=seq_len, return_tensors="pt")) for i in picks]


def check_length(model: nn.Module, seq_len: int) -> None:
    """Refuse calibration sequences longer than the model's position embeddings reach."""
    max_pos = max_positions(model)
    if max_pos is not None and seq_len > max_pos:
        raise PruneScopeError(f"calibration sequence length {seq_len} is beyond this model's maximum of "
                              f"{max_pos} tokens; use at most {max_pos}")


def max_positions(model: nn.Module) -> int | None:
    """Longest sequence the model's position embeddings allow (BERT/Llama name it one way, GPT-2 another).
    A learned position table with a padding row (RoBERTa) numbers positions after that row, so it holds
    that many fewer."""
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return None
    for name, module in model.named_modules():
        if (isinstance(module, nn.Embedding) and "position" in name and module.num_embeddings == limit
                and module.padding_idx is not None):
            return max(1, limit - module.padding_idx - 1)
    return limit


BlockPruner = Callable[[list[Target], dict[str, LayerInputStats]], tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]


class _Replay:
    """Blocks run one at a time on captured inputs; the shared model is only read (pruned blocks are
    private copies)."""

    def __init__(self, model: nn.Module, blocks: nn.ModuleList, captured: Captured):
        self.model, self.blocks, self.captured = model, blocks, captured
        self.modules = dict(model.named_modules())
        self.hidden = list(captured.hidden)
        self.current: nn.Module | None = None  # block i as the next block must see it

    def run_block(self, i: int) -> None:
        """Block i, dense, on what the (pruned) earlier blocks made: its hooks collect statistics."""
        for s, hidden in enumerate(self.hidden):
            args, kwargs = self.captured.call(s, i, hidden)
            self.blocks[i](*args, **kwargs)

    def pruned(self, i: int, targets: list[Target], masks: dict, weights: dict) -> None:
        self.current = _pruned_copy(self.model, self.blocks[i], targets, masks, weights)

    def advance(self, i: int) -> None:
        block, self.current = self.current or self.blocks[i], None
        outputs = []
        for s, hidden in enumerate(self.hidden):
            args, kwargs = self.captured.call(s, i, hidden)
            outputs.append(output_of(block(*args, **kwargs)))
        self.hidden = outputs


class _WholeModel:
    """For models whose blocks cannot run alone: whole forwards of a private copy, stopped after block i,
    with each block's pruning written into the copy (slower: the early blocks run again for every block)."""

    def __init__(self, model: nn.Module, samples: list[dict[str, torch.Tensor]]):
        self.twin = copy.deepcopy(model).eval()
        self.samples = samples
        self.modules = dict(self.twin.named_modules())
        self.blocks = find_blocks(self.twin)[1]

    def run_block(self, i: int) -> None:
        def stop(module, args, output):
            raise Stop

        handle = self.blocks[i].register_forward_hook(this_thread_only(stop))
        try:
            for sample in self.samples:
                try:
                    self.twin(**sample, **forward_kwargs(self.twin))
                except Stop:
                    pass
        finally:
            handle.remove()

    def pruned(self, i: int, targets: list[Target], masks: dict, weights: dict) -> None:
        _apply(dict(self.twin.named_parameters()), targets, masks, weights)

    def advance(self, i: int) -> None:
        pass


@torch.inference_mode()
def sequential_prune(model: nn.Module, targets: list[Target], calibration: Calibration, prune_block: BlockPruner,
                     full_gram: bool) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Run `prune_block` on each block's statistics; return all masks and new weights.

    `prune_block(block_targets, stats)` returns ({name: keep-mask}, {name: new weight}) in each
    parameter's own layout. Only the blocks' own matrices are pruned (a head is refused).
    """
    _, blocks = find_blocks(model)
    by_block: dict[int, list[Target]] = {}
    for t in targets:
        if t.block is None:
            raise PruneScopeError("calibration-aware methods prune the Transformer blocks only; "
                                  "untick 'include head'")
        by_block.setdefault(t.block, []).append(t)
    captured = capture(model, blocks, calibration.samples)
    runner = _Replay(model, blocks, captured) if captured.replayable else _WholeModel(model, calibration.samples)
    if not captured.replayable:
        calibration.notes.append("this model's blocks cannot run one at a time, so calibration ran the whole "
                                 "model once per block (slower, same result)")
    masks: dict[str, torch.Tensor] = {}
    new_weights: dict[str, torch.Tensor] = {}
    last = max(by_block, default=-1)
    for i in range(last + 1):
        block_targets = by_block.get(i, [])
        calibration.progress(i / (last + 1), f"block {i + 1}/{len(blocks)}: collecting statistics")
        if block_targets:
            stats = _collect(runner, i, block_targets, full_gram)
            calibration.progress((i + 0.5) / (last + 1), f"block {i + 1}/{len(blocks)}: pruning")
            m, w = prune_block(block_targets, stats)
            masks.update(m)
            new_weights.update(w)
            if m or w:  # an observer that prunes nothing (OWL's outlier profile) passes the dense block on
                runner.pruned(i, block_targets, m, w)
        if i < last:  # the next block sees what this (pruned) block produces
            runner.advance(i)
    calibration.progress(1.0, "calibration pruning done")
    return masks, new_weights


def _collect(runner: _Replay | _WholeModel, i: int, block_targets: list[Target],
             full_gram: bool) -> dict[str, LayerInputStats]:
    """Accumulate X^T X (or diag) for each target layer of block i; hooks removed after."""
    stats = {t.name: LayerInputStats(torch.zeros((t.in_features, t.in_features) if full_gram else t.in_features,
                                                 dtype=torch.float64)) for t in block_targets}

    def make_hook(name: str):
        def hook(module, args, output):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).double()
            s = stats[name]
            s.gram += x.t() @ x if full_gram else (x * x).sum(0)
            s.tokens += x.shape[0]
        return hook

    handles = [runner.modules[t.module].register_forward_hook(this_thread_only(make_hook(t.name)))
               for t in block_targets]
    try:
        runner.run_block(i)
    finally:
        for h in handles:
            h.remove()
    return stats


def _apply(params: dict[str, nn.Parameter], block_targets: list[Target], masks: dict[str, torch.Tensor],
           new_weights: dict[str, torch.Tensor]) -> None:
    """Write new weights and masks into parameters of a private copy."""
    with torch.no_grad():
        for t in block_targets:
            if t.name in new_weights:
                params[t.name].copy_(new_weights[t.name])
            if t.name in masks:
                params[t.name].mul_(masks[t.name].to(params[t.name].dtype))


def _pruned_copy(model: nn.Module, block: nn.Module, block_targets: list[Target],
                 masks: dict[str, torch.Tensor], new_weights: dict[str, torch.Tensor]) -> nn.Module:
    """A private copy of `block` with its new weights and masks applied (the base stays intact)."""
    pruned = copy.deepcopy(block)
    own = {id(p): n for n, p in block.named_parameters()}
    local = dict(pruned.named_parameters())
    model_params = dict(model.named_parameters())
    params = {t.name: local[own[id(model_params[t.name])]] for t in block_targets}
    _apply(params, block_targets, masks, new_weights)
    return pruned
