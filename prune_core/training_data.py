"""A training budget (`FinetuneConfig`) and the data it draws: seeded training batches and the fixed
train/validation subsets every loss is measured on.

Why fixed subsets: the same for every run (whatever its seed), so a pruned + fine-tuned model can be
compared with the dense one on the same data, and the gap between train and validation loss says how
well each generalizes. Used by the training loop (`training_loop.py`) and by step mode.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import asdict, dataclass

import torch
from torch import nn

from . import datasets
from .calibration import max_positions
from .checks import MAX_SEED, integer, number
from .errors import PruneScopeError
from .tokens import tokenize
from .zoo import LoadedModel

MAX_STEPS = 100_000  # optimizer steps in one run: hours on a GPU; more is a typo
MAX_BATCH = 1024  # sequences per step
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class FinetuneConfig:
    """A training budget. Defaults recover a tiny model in seconds on a 2-core CPU."""

    steps: int = 100  # optimizer steps
    lr: float = 5e-4  # peak AdamW learning rate: linear warm-up over 10 % of the steps, linear decay to 10 %
    batch_size: int = 16  # sequences per step (LM windows, or tweets)
    seq_len: int = 64  # causal LM training window; classification uses the tokenizer's truncation
    eval_every: int = 10  # steps between validation evaluations (curve points)
    seed: int = 0  # batch order (and dropout, when on)
    device: str = "auto"  # "auto" -> cuda when available, else cpu
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    loss_samples: int = 128  # sequences in each fixed train / validation loss subset (same for every run)
    ramp_start: float = 0.1  # gradual/movement: share of the steps trained dense first (movement scores accumulate)
    ramp_fraction: float = 0.5  # gradual/movement: share of the steps over which sparsity then rises to the target
    prune_every: int = 0  # gradual/movement: steps between pruning events (Zhu & Gupta's Δt; 0: a tenth of the ramp)
    dropout: bool = False  # the model's dropout while training; off, runs are bit-reproducible even side by side

    def validated(self) -> "FinetuneConfig":
        """Check every field; a budget that cannot run one step is refused before any work."""
        if number("steps", self.steps) == 0:
            raise PruneScopeError("a budget of 0 steps runs no training at all; give at least 1 step")
        steps = integer("steps", self.steps, 1)
        if steps > MAX_STEPS:
            raise PruneScopeError(f"at most {MAX_STEPS:,} steps in one run, got {steps:,}")
        lr = number("learning rate", self.lr)
        if not lr > 0:
            raise PruneScopeError(f"learning rate must be a positive number (e.g. 5e-4), got {self.lr!r}")
        batch = integer("batch size", self.batch_size, 1)
        if batch > MAX_BATCH:
            raise PruneScopeError(f"batch size must be at most {MAX_BATCH} sequences, got {batch}")
        seq_len = integer("sequence length", self.seq_len, 2)
        eval_every = integer("eval_every (steps between validation evaluations)", self.eval_every, 1)
        seed = integer("seed", self.seed, 0)
        if seed > MAX_SEED:
            raise PruneScopeError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise PruneScopeError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        decay = number("weight decay", self.weight_decay)
        if decay < 0:
            raise PruneScopeError(f"weight decay must be 0 or more, got {self.weight_decay!r}")
        samples = integer("loss_samples", self.loss_samples, 1)
        ramp = number("ramp_fraction", self.ramp_fraction)
        if not 0 < ramp <= 1:
            raise PruneScopeError(f"ramp_fraction must be in (0, 1] (share of the steps spent raising sparsity), "
                                  f"got {self.ramp_fraction!r}")
        start = number("ramp_start", self.ramp_start)
        if not 0 <= start < 1:
            raise PruneScopeError(f"ramp_start must be in [0, 1) (share of the steps before pruning starts), "
                                  f"got {self.ramp_start!r}")
        every = integer("prune_every", self.prune_every, 0)
        return FinetuneConfig(steps=steps, lr=lr, batch_size=batch, seq_len=seq_len, eval_every=eval_every,
                              seed=seed, device=self.device, weight_decay=decay, loss_samples=samples,
                              ramp_start=start, ramp_fraction=ramp, prune_every=every, dropout=bool(self.dropout))

    def to_dict(self) -> dict:
        return asdict(self)


def default_budget(loaded: LoadedModel, seed: int = 0) -> FinetuneConfig:
    """The small budget gradual/movement use when run like any other method (Explore, Compare, `prune`).

    About 40 steps of 1024 tokens: a few seconds for the tiny models on 2 CPU cores. Larger models get
    fewer, smaller steps (still minutes on a CPU: use `finetune` with a GPU for a real budget).
    """
    small = loaded.card.params < 20_000_000
    return FinetuneConfig(steps=40 if small else 16, lr=1e-3 if small else 1e-4, batch_size=16 if small else 4,
                          seq_len=64 if small else 32, eval_every=1_000_000, seed=seed, loss_samples=16)


_TOKENS: dict[tuple[int, str], torch.Tensor] = {}


def _token_ids(tokenizer, split: str) -> torch.Tensor:
    """The whole Shakespeare split as token ids, tokenized once per tokenizer (a second or two)."""
    key = (id(tokenizer), split)
    if key not in _TOKENS:
        ids = tokenize(tokenizer, datasets.shakespeare_text(split), add_special_tokens=False, verbose=False)["input_ids"]
        _TOKENS[key] = torch.tensor(ids, dtype=torch.long)
    return _TOKENS[key]


class TrainingData:
    """Training batches in a fixed, seeded order (an epoch = one pass over the split, reshuffled), and the
    fixed train/validation subsets the losses are measured on (independent of the seed)."""

    def __init__(self, loaded: LoadedModel, ft: FinetuneConfig):
        self.task, self.tokenizer, self.ft = loaded.task, loaded.tokenizer, ft
        self._cache = "use_cache" in inspect.signature(loaded.model.forward).parameters
        if self.task == "causal-lm":
            limit = max_positions(loaded.model)
            if limit is not None and ft.seq_len > limit:
                raise PruneScopeError(f"sequence length {ft.seq_len} is beyond this model's maximum of {limit} tokens")
            self.windows = self._windows(_token_ids(self.tokenizer, "train"))
            valid = self._windows(_token_ids(self.tokenizer, "valid"))
            self.n = len(self.windows)
            what = f"windows of {ft.seq_len} tokens"
        else:
            self.examples = datasets.tweets("train")
            self.max_length = int(loaded.card.eval.get("max_length", 64))
            valid_examples = datasets.tweets("valid")
            self.n = len(self.examples)
            what = "examples"
        if self.n < ft.batch_size:
            raise PruneScopeError(f"the training split holds {self.n} {what}, fewer than one batch of "
                                  f"{ft.batch_size}: lower the batch size" + (" or the sequence length"
                                                                             if self.task == "causal-lm" else ""))
        self.per_epoch = self.n // ft.batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)
        spread = torch.linspace(0, self.n - 1, min(ft.loss_samples, self.n)).long().tolist()
        if self.task == "causal-lm":
            self.train_subset = self._chunks(self.windows[spread])
            self.val_subset = self._chunks(valid[: ft.loss_samples])
        else:
            self.train_subset = self._chunks([self.examples[i] for i in spread])
            self.val_subset = self._chunks(valid_examples[: ft.loss_samples])

    def _windows(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.numel() // self.ft.seq_len
        return ids[: n * self.ft.seq_len].view(n, self.ft.seq_len)

    def _encode(self, rows) -> dict[str, torch.Tensor]:
        if self.task == "causal-lm":
            return {"input_ids": rows}
        enc = tokenize(self.tokenizer, [t for t, _ in rows], padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "labels": torch.tensor([y for _, y in rows])}

    def _chunks(self, rows, size: int = 32) -> list[dict[str, torch.Tensor]]:
        return [self._encode(rows[i:i + size]) for i in range(0, len(rows), size)]

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        """The i-th training batch (0-based); the same for the same seed, whatever else runs."""
        epoch, k = divmod(i, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.ft.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.n, generator=gen)
        idx = self._order[k * self.ft.batch_size:(k + 1) * self.ft.batch_size]
        if self.task == "causal-lm":
            return self._encode(self.windows[idx])
        return self._encode([self.examples[j] for j in idx.tolist()])

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], reduction: str = "mean") -> torch.Tensor:
        """Next-token cross-entropy (LMs) or classification cross-entropy, in fp32."""
        device = next(model.parameters()).device
        extra = {"use_cache": False} if self._cache else {}
        if self.task == "causal-lm":
            x = batch["input_ids"].to(device)
            logits = model(input_ids=x, **extra).logits[:, :-1].float()
            return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1),
                                               reduction=reduction)
        logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                       **extra).logits.float()
        return nn.functional.cross_entropy(logits, batch["labels"].to(device), reduction=reduction)

    @torch.no_grad()
    def subset_loss(self, model: nn.Module, subset: list[dict[str, torch.Tensor]]) -> float:
        """Mean loss per predicted token (LMs) or per example over a fixed subset."""
        total, count = 0.0, 0
        for b in subset:
            total += float(self.loss(model, b, reduction="sum").double())
            count += b["input_ids"].shape[0] * (b["input_ids"].shape[1] - 1) if self.task == "causal-lm" \
                else b["input_ids"].shape[0]
        return total / count

    def losses(self, model: nn.Module) -> tuple[float, float]:
        """(train, validation) loss on the fixed subsets."""
        return self.subset_loss(model, self.train_subset), self.subset_loss(model, self.val_subset)
