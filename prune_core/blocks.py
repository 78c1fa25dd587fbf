"""The Transformer blocks of any model, and running them one at a time on captured inputs.

`find_blocks` finds the blocks from the model itself: the longest ModuleList whose every entry holds
linear layers (GPT-2 `h`, Llama `layers`, BERT `layer`, ...), so no family needs a name table.

Calibration prunes block by block: block i+1 must see what the *pruned* block i makes. `capture` records
what the model passes each block besides the hidden states (masks, rotary position embeddings, ...), once
per calibration sample. Blocks of one model do not all get the same arguments (Gemma 2 alternates sliding
and full attention masks, ModernBERT local and global rotary embeddings), so a probe forward of the first
sequence finds which blocks share arguments, and replays every block on its recorded inputs: where a replay
does not reproduce what the next block received, this model's blocks cannot be run one by one, and the
caller falls back to whole-model forwards (`Captured.replayable` is False).
"""
from __future__ import annotations

import functools
import inspect
import threading
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from .errors import PruneScopeError

Call = tuple[tuple, dict]  # (args, kwargs) one block was called with


def find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The ModuleList of Transformer blocks (GPT-2 `h`, Llama `layers`, BERT `layer`, ...) and its path."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and all(
                any(isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D" for m in child.modules())
                for child in module):
            if best is None or len(module) > len(best[1]):
                best = (name, module)
    if best is None:
        raise PruneScopeError("could not find the Transformer blocks of this model (a list of layers made of "
                              "linear layers)")
    return best


def this_thread_only(hook: Callable) -> Callable:
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


class Stop(Exception):
    """Raised by a capture hook: nothing after the blocks needed has to run."""


def hidden_of(call: Call) -> torch.Tensor | None:
    """The hidden states a block was called with: its first argument, or `hidden_states=`."""
    args, kwargs = call
    found = args[0] if args else kwargs.get("hidden_states")
    return found if isinstance(found, torch.Tensor) else None


def with_hidden(call: Call, hidden: torch.Tensor | None) -> Call:
    """The same call with other hidden states (None: a slot kept empty in storage)."""
    args, kwargs = call
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def output_of(out: Any) -> torch.Tensor:
    """A block's new hidden states (blocks return them alone or first in a tuple)."""
    return out[0] if isinstance(out, (tuple, list)) else out


def _same(a: Any, b: Any) -> bool:
    """The same arguments: the very same tensors (equal values can differ for another input, e.g. a
    sliding-window mask and a full one on a short text), equal containers of them, equal plain values."""
    if a is b:
        return True
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # objects whose == is not a plain truth value
        return False


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(((a - b).abs().max() <= 1e-4 * (1 + b.abs().max())).item())


@dataclass
class Captured:
    """What each calibration sample passes the blocks.

    `hidden[s]`: what sample s feeds the first block; `calls[s][j]`: its other arguments to block j,
    for the blocks listed in `share` (block i is called like block `share[i]`, hidden slot empty)."""

    hidden: list[torch.Tensor]
    calls: list[dict[int, Call]]
    share: list[int]
    replayable: bool

    def call(self, sample: int, block: int, hidden: torch.Tensor) -> Call:
        """Block `block`'s call for `sample`, with `hidden` as its input."""
        return with_hidden(self.calls[sample][self.share[block]], hidden)


def forward_kwargs(model: nn.Module) -> dict:
    """No KV cache: calibration never generates, and a cache would only hold memory (and be updated by
    a replayed block)."""
    return {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}


class _Probe:
    """The hooks of one capture forward: record each block's call, check replays, stop when done.

    Calls are kept without their hidden states (the caller substitutes its own); only the first block's
    input and, while checking, the previous block's full call are held."""

    def __init__(self, blocks: nn.ModuleList, last: int, check: bool):
        self.blocks, self.last, self.check = blocks, last, check
        self.calls: dict[int, Call] = {}
        self.first: torch.Tensor | None = None
        self.previous: Call | None = None
        self.replay_ok = True
        self.replaying = False

    def hook(self, index: int):
        def pre(module, args, kwargs):
            if self.replaying:
                return None
            call = (args, kwargs)
            if index == 0:
                self.first = hidden_of(call)
            elif self.check and self.replay_ok:
                self.replay_ok = index - 1 in self.calls and self._replays(index - 1, hidden_of(call))
            self.calls[index] = with_hidden(call, None)
            self.previous = call if self.check else None
            if index >= self.last:
                raise Stop
            return None
        return pre

    def _replays(self, index: int, seen: torch.Tensor | None) -> bool:
        """Does running block `index` alone on its recorded call give what the next block received?"""
        if self.previous is None or seen is None or hidden_of(self.previous) is None:
            return False
        self.replaying = True
        try:
            out = output_of(self.blocks[index](*self.previous[0], **self.previous[1]))
        except Exception:  # a block that cannot be called on its own
            return False
        finally:
            self.replaying = False
        return isinstance(out, torch.Tensor) and _close(out, seen)


def _run(model: nn.Module, blocks: nn.ModuleList, sample: dict, last: int, check: bool) -> _Probe:
    probe = _Probe(blocks, last, check)
    handles = [b.register_forward_pre_hook(this_thread_only(probe.hook(i)), with_kwargs=True)
               for i, b in enumerate(blocks)]
    try:
        model(**sample, **forward_kwargs(model))
    except Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    return probe


def _sharing(calls: dict[int, Call], n_blocks: int) -> list[int]:
    """For each block, the first block called with the same arguments (hidden states aside)."""
    share: list[int] = []
    for i in range(n_blocks):
        share.append(next(j for j in [*dict.fromkeys(share), i] if _same(calls[j], calls[i])))
    return share


def _one_row(sample: dict) -> dict:
    """The first sequence of a batch: enough to probe how the blocks are called, at a fraction of the cost."""
    return {k: v[:1] if isinstance(v, torch.Tensor) and v.dim() > 0 else v for k, v in sample.items()}


@torch.inference_mode()
def capture(model: nn.Module, blocks: nn.ModuleList, samples: list[dict[str, torch.Tensor]]) -> Captured:
    """Each sample's inputs to the blocks. A probe of one sequence runs through every block first, to find
    which blocks share arguments and whether each block replays alone; then each sample runs only as far as
    the last block whose arguments are its own."""
    probe = _run(model, blocks, _one_row(samples[0]), len(blocks) - 1, check=True)
    if len(probe.calls) < len(blocks) or probe.first is None or not probe.replay_ok:
        return Captured([], [], [], replayable=False)  # blocks not called in order, or not alone
    share = _sharing(probe.calls, len(blocks))
    keep = sorted(set(share))
    captured = Captured([], [], share, replayable=True)
    for sample in samples:
        run = _run(model, blocks, sample, keep[-1], check=False)
        if run.first is None or any(j not in run.calls for j in keep):
            return Captured([], [], [], replayable=False)
        captured.hidden.append(run.first)
        captured.calls.append({j: run.calls[j] for j in keep})
    return captured
