"""Recovery fine-tuning that keeps the sparsity pattern, and the training loop of gradual/movement pruning.

Why: one-shot pruning removes weights and stops there; a short training run on the *training*
split lets the surviving weights make up for the removed ones (recovery). The pattern must survive
training: gradients of removed weights are zeroed before every optimizer step, the masks are applied
again after it, and every step checks that no removed weight came back (a broken pattern is a bug
and raises). Losses are measured on fixed train/validation subsets, the same for every run, so a
pruned + fine-tuned model can be compared with the dense one on the same data (the gap between
them says how well each generalizes). The base model is never touched: training runs on a copy.
"""
from __future__ import annotations

import copy
import inspect
import math
import re
import time
from dataclasses import replace, asdict, dataclass, field
from typing import Callable

import torch
from torch import nn

from . import datasets
from .calibration import max_positions
from .config import MAX_SEED, PruneConfig
from .errors import PruneScopeError
from .methods import get_method
from .patterns import parse_pattern
from .run import measure_quality, prune_model
from .targets import Target, find_targets
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
        if _number("steps", self.steps) == 0:
            raise PruneScopeError("a budget of 0 steps runs no training at all; give at least 1 step")
        steps = _integer("steps", self.steps, 1)
        if steps > MAX_STEPS:
            raise PruneScopeError(f"at most {MAX_STEPS:,} steps in one run, got {steps:,}")
        lr = _number("learning rate", self.lr)
        if not lr > 0:
            raise PruneScopeError(f"learning rate must be a positive number (e.g. 5e-4), got {self.lr!r}")
        batch = _integer("batch size", self.batch_size, 1)
        if batch > MAX_BATCH:
            raise PruneScopeError(f"batch size must be at most {MAX_BATCH} sequences, got {batch}")
        seq_len = _integer("sequence length", self.seq_len, 2)
        eval_every = _integer("eval_every (steps between validation evaluations)", self.eval_every, 1)
        seed = _integer("seed", self.seed, 0)
        if seed > MAX_SEED:
            raise PruneScopeError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed}")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise PruneScopeError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        decay = _number("weight decay", self.weight_decay)
        if decay < 0:
            raise PruneScopeError(f"weight decay must be 0 or more, got {self.weight_decay!r}")
        samples = _integer("loss_samples", self.loss_samples, 1)
        ramp = _number("ramp_fraction", self.ramp_fraction)
        if not 0 < ramp <= 1:
            raise PruneScopeError(f"ramp_fraction must be in (0, 1] (share of the steps spent raising sparsity), "
                                  f"got {self.ramp_fraction!r}")
        start = _number("ramp_start", self.ramp_start)
        if not 0 <= start < 1:
            raise PruneScopeError(f"ramp_start must be in [0, 1) (share of the steps before pruning starts), "
                                  f"got {self.ramp_start!r}")
        every = _integer("prune_every", self.prune_every, 0)
        return FinetuneConfig(steps, lr, batch, seq_len, eval_every, seed, self.device, decay, samples, start, ramp,
                              every, bool(self.dropout))

    def to_dict(self) -> dict:
        return asdict(self)


def _number(what: str, value) -> float:
    if isinstance(value, bool):
        raise PruneScopeError(f"{what} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise PruneScopeError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise PruneScopeError(f"{what} must be a finite number, got {value!r}")
    return x


def _integer(what: str, value, minimum: int) -> int:
    x = _number(what, value)
    if x != int(x) or x < minimum:
        raise PruneScopeError(f"{what} must be a whole number of at least {minimum}, got {value!r}")
    return int(x)


# Recovery budgets chosen so one run takes well under a minute on 2 idle CPU cores and recovery is
# visible (bench/recovery.py, the Paper page and the Fine-tune page share them). The GPT trains on
# 256-token windows, the length it is evaluated on (and was trained on).
RECOVERY_BUDGETS = {
    "tiny-shakespeare-gpt": FinetuneConfig(steps=150, lr=1e-3, batch_size=4, seq_len=256, eval_every=25),
    "tiny-sentiment-bert": FinetuneConfig(steps=150, lr=1e-4, batch_size=16, eval_every=25),
}


def recovery_budget(name: str, seed: int = 0) -> FinetuneConfig:
    """The default recovery fine-tuning budget for a model (a generic one for models not listed)."""
    return replace(RECOVERY_BUDGETS.get(name, FinetuneConfig()), seed=seed)


def default_budget(loaded: LoadedModel, seed: int = 0) -> FinetuneConfig:
    """The small budget gradual/movement use when run like any other method (Explore, Compare, `prune`).

    About 40 steps of 1024 tokens: a few seconds for the tiny models on 2 CPU cores. Larger models get
    fewer, smaller steps (still minutes on a CPU: use `finetune` with a GPU for a real budget).
    """
    small = loaded.card.params < 20_000_000
    return FinetuneConfig(steps=40 if small else 16, lr=1e-3 if small else 1e-4, batch_size=16 if small else 4,
                          seq_len=64 if small else 32, eval_every=1_000_000, seed=seed, loss_samples=16)


@dataclass
class CurvePoint:
    """One training step. Step 0 is the starting model, its losses on the fixed subsets; after that
    `train_loss` is that step's batch loss and `val_loss` is measured every `eval_every` steps."""

    step: int
    train_loss: float
    val_loss: float | None
    sparsity: float  # fraction of in-scope weights that are exactly zero after this step

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FinetuneResult:
    """One fine-tuning run; field names match `PruneResult` where they mean the same thing."""

    model: str
    method: str
    pattern: str
    sparsity_target: float
    seed: int  # the training seed (batch order); `prune_seed` is the PruneConfig's
    steps: int
    lr: float
    quality_metric: str  # "accuracy" or "perplexity", like PruneResult
    quality_dense: float
    quality_pruned: float | None  # after one-shot pruning, before recovery; None when pruned during training
    quality: float  # after fine-tuning
    sparsity_actual: float  # fraction of in-scope weights == 0 in the final weights
    train_loss: float  # final, on the fixed train subset
    val_loss: float  # final, on the fixed validation subset
    train_loss_dense: float  # the dense model on the same subsets
    val_loss_dense: float
    curve: list[CurvePoint]
    partial: bool  # stopped early by should_stop
    diverged: bool  # a NaN/inf loss stopped training; the last good weights were restored
    notes: list[str]
    seconds: float
    device: str
    allocation: str = "layer"
    scope: str = "all"
    include_head: bool = False
    steps_done: int = 0  # optimizer steps actually run (fewer than `steps` when partial or diverged)
    batch_size: int = 0
    seq_len: int = 0
    train_seconds: float = 0.0  # the training loop alone
    params_in_scope: int = 0
    generalization_gap: float = 0.0  # val_loss - train_loss
    generalization_gap_dense: float = 0.0
    prune_seed: int = 0  # PruneConfig.seed (random scores); the CLI's --seed sets both

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """Flat row (no curve, no notes) for tables, the store and `--json`."""
        return {k: v for k, v in asdict(self).items() if not isinstance(v, (dict, list))}


@dataclass
class FinetuneBaseline:
    """The dense model on the evaluation and on the fixed loss subsets: measured once, reused by every run."""

    quality: float
    train_loss: float
    val_loss: float
    seconds: float
    seq_len: int = 0  # the subsets these losses were measured on
    loss_samples: int = 0


@dataclass
class Training:
    """What the training loop did."""

    curve: list[CurvePoint]
    steps_done: int
    partial: bool
    diverged: bool
    notes: list[str]
    seconds: float
    device: str


@dataclass
class TrainingContext:
    """What a method that prunes during training needs beyond the model: data, budget, progress."""

    loaded: LoadedModel
    ft: FinetuneConfig
    progress: Callable[[float, str], None] = lambda f, m: None
    notes: list[str] = field(default_factory=list)  # like Calibration.notes: `prune_model` copies them


def resolve_device(name: str) -> torch.device:
    """'auto' -> the GPU when there is one; asking for a GPU that is not there is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PruneScopeError(f"device '{name}' was asked for, but this machine has no CUDA GPU; use 'auto' or 'cpu'")
    return torch.device(name)


# ---- data -------------------------------------------------------------------------------------------

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


# ---- the training loop --------------------------------------------------------------------------------

def _noop_point(point: CurvePoint, steps: int) -> None:
    pass


def _never() -> bool:
    return False


def _lr_at(step: int, ft: FinetuneConfig) -> float:
    """Linear warm-up over the first 10 % of the steps, then linear decay to 10 % of the peak."""
    warmup = max(1, ft.steps // 10)
    if step < warmup:
        return ft.lr * (step + 1) / warmup
    return ft.lr * (1.0 - 0.9 * (step - warmup) / max(1, ft.steps - warmup))


class _Pattern:
    """The masks on the training device, applied to weights and gradients, and checked."""

    def __init__(self, targets: list[Target], params: dict[str, nn.Parameter], masks: dict[str, torch.Tensor]):
        self.targets, self.params, self.masks = targets, params, masks
        self.in_scope = sum(t.numel for t in targets)

    @torch.no_grad()
    def apply(self) -> None:
        for t in self.targets:  # masked_fill, not multiply: 0 * inf or 0 * NaN would not be zero
            self.params[t.name].masked_fill_(~self.masks[t.name], 0.0)

    @torch.no_grad()
    def mask_grads(self) -> None:
        for t in self.targets:
            grad = self.params[t.name].grad
            if grad is not None:
                grad.masked_fill_(~self.masks[t.name], 0.0)

    @torch.no_grad()
    def check(self, step: int) -> float:
        """Sparsity of the weights now; raises if a removed weight is nonzero (the pattern was broken)."""
        zeros = 0
        for t in self.targets:
            p = self.params[t.name]
            if bool(((p != 0) & ~self.masks[t.name]).any()):
                raise RuntimeError(f"after step {step} a removed weight of {t.module} is nonzero: the sparsity "
                                   "pattern was not kept")
            zeros += int((p == 0).sum())
        return zeros / self.in_scope


def train(loaded: LoadedModel, model: nn.Module, targets: list[Target], masks: dict[str, torch.Tensor],
          ft: FinetuneConfig, data: TrainingData | None = None, pruner=None,
          progress: Callable[[CurvePoint, int], None] = _noop_point,
          should_stop: Callable[[], bool] = _never) -> Training:
    """Train `model` in place (a private copy, moved to the training device) keeping `masks`.

    `masks` (keep-masks by parameter name) is updated in place when `pruner` (a
    `methods.training.ScheduledPruner`) tightens it. A NaN/inf loss stops training and restores the
    weights and masks of the last evaluation whose losses were finite; `should_stop()` is asked before
    every step. `progress(point, steps)` is called after every step.
    """
    ft = ft.validated()
    start = time.perf_counter()
    data = data or TrainingData(loaded, ft)
    device = resolve_device(ft.device)
    model.to(device)
    model.requires_grad_(True)
    model.train(ft.dropout)  # without dropout: eval mode, nothing random in the forward pass
    params = dict(model.named_parameters())
    for name, keep in masks.items():
        masks[name] = keep.to(device=device, dtype=torch.bool)
    pattern = _Pattern(targets, params, masks)
    pattern.apply()
    optimizer = torch.optim.AdamW(model.parameters(), lr=ft.lr, weight_decay=ft.weight_decay)
    notes: list[str] = []
    partial = diverged = False
    steps_done = 0

    def snapshot() -> dict:
        return {"params": {n: p.detach().clone() for n, p in params.items()},
                "masks": {n: m.clone() for n, m in masks.items()}, "step": steps_done}

    def restore(state: dict) -> None:
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(state["params"][n])
        masks.update(state["masks"])

    def evaluate(subset) -> float:  # dropout off while measuring, back on (if asked for) to train
        model.eval()
        try:
            return data.subset_loss(model, subset)
        finally:
            model.train(ft.dropout)

    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the caller's random state is left as it was
        torch.manual_seed(ft.seed)
        curve = [CurvePoint(0, evaluate(data.train_subset), evaluate(data.val_subset), pattern.check(0))]
        progress(curve[0], ft.steps)
        good = snapshot()
        for step in range(1, ft.steps + 1):
            if should_stop():
                partial = True
                notes.append(f"stopped after {steps_done} of {ft.steps} steps: these results are partial")
                break
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step - 1, ft)
            loss = data.loss(model, data.batch(step - 1))
            value = float(loss.detach())
            bad = None if math.isfinite(value) else f"the training loss was {value} at step {step}"
            if bad is None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if pruner is not None:
                    pruner.observe(params)
                pattern.mask_grads()
                optimizer.step()
                pattern.apply()
                if pruner is not None and pruner.step(step, params, masks):
                    pattern.apply()
                sparsity = pattern.check(step)
                val = None
                if step % ft.eval_every == 0 or step == ft.steps:
                    val = evaluate(data.val_subset)
                    if not math.isfinite(val):
                        bad = f"the validation loss was {val} after step {step}"
            if bad is not None:
                diverged = True
                restore(good)
                notes.append(f"training diverged ({bad}); stopped and restored the weights of step {good['step']}, "
                             f"the last evaluation with finite losses. Try a smaller learning rate (this run: {ft.lr:g})")
                break
            steps_done = step
            point = CurvePoint(step, value, val, sparsity)
            curve.append(point)
            progress(point, ft.steps)
            if val is not None:
                good = snapshot()
    del optimizer
    model.requires_grad_(False)
    model.eval()
    return Training(curve, steps_done, partial, diverged, notes, time.perf_counter() - start, str(device))


def train_while_pruning(loaded: LoadedModel, source: nn.Module, targets: list[Target], config: PruneConfig,
                        ft: FinetuneConfig, method, progress: Callable[[CurvePoint, int], None] = _noop_point,
                        should_stop: Callable[[], bool] = _never, data: TrainingData | None = None,
                        ) -> tuple[nn.Module, dict[str, torch.Tensor], Training]:
    """A copy of `source` trained while `method` (gradual, movement) raises its sparsity on the schedule."""
    model = copy.deepcopy(source)
    params = dict(model.named_parameters())
    masks = {t.name: torch.ones_like(params[t.name], dtype=torch.bool) for t in targets}
    training = train(loaded, model, targets, masks, ft, data, method.pruner(targets, config, ft), progress, should_stop)
    return model, masks, training


# ---- one run, end to end --------------------------------------------------------------------------------

def finetune_baseline(loaded: LoadedModel, ft: FinetuneConfig, data: TrainingData | None = None) -> FinetuneBaseline:
    """The dense model's quality and losses on the fixed subsets (evaluated on a GPU copy when there is one)."""
    start = time.perf_counter()
    ft = ft.validated()
    data = data or TrainingData(loaded, ft)
    device = resolve_device(ft.device)
    model = loaded.model if device.type == "cpu" else copy.deepcopy(loaded.model).to(device)
    train_loss, val_loss = data.losses(model)
    return FinetuneBaseline(measure_quality(loaded, model), train_loss, val_loss, time.perf_counter() - start,
                            ft.seq_len, ft.loss_samples)


@torch.no_grad()
def _sparsity(model: nn.Module, targets: list[Target]) -> float:
    params = dict(model.named_parameters())
    return sum(int((params[t.name] == 0).sum()) for t in targets) / sum(t.numel for t in targets)


def finetune(loaded: LoadedModel, config: PruneConfig, ft: FinetuneConfig,
             progress: Callable[[CurvePoint, int], None] = _noop_point, should_stop: Callable[[], bool] = _never,
             baseline: FinetuneBaseline | None = None) -> tuple[FinetuneResult, nn.Module]:
    """Prune a private copy (one-shot, or during training for gradual/movement), fine-tune it keeping the
    pattern, and measure it beside the dense model. Sparsity 0 fine-tunes the dense model: the control.

    Returns the result and the fine-tuned model (on the CPU, in eval mode). Pass `baseline`
    (`finetune_baseline`) to reuse the dense figures across runs with the same `ft.seq_len`/`loss_samples`.
    """
    start = time.perf_counter()
    config, ft = config.validated(), ft.validated()
    pattern = parse_pattern(config.pattern)
    if pattern.structural:
        raise PruneScopeError(f"fine-tuning keeps a mask of removed weights; pattern '{pattern.name}' removes whole "
                              "units instead. Use 'unstructured' or an N:M pattern")
    resolve_device(ft.device)
    method = get_method(config.method)
    data = TrainingData(loaded, ft)  # fails fast on a split too short for one batch
    baseline = baseline or finetune_baseline(loaded, ft, data)
    if (baseline.seq_len, baseline.loss_samples) != (ft.seq_len, ft.loss_samples):
        raise ValueError("the dense baseline was measured on other loss subsets (seq_len/loss_samples differ)")
    notes: list[str] = []
    if method.info.prunes_during_training:
        targets = find_targets(loaded.model, config.scope, config.include_head)
        model, masks, training = train_while_pruning(loaded, loaded.model, targets, config, ft, method, progress,
                                                     should_stop, data)
        quality_pruned = None
    else:
        mask_set, model = prune_model(loaded, config)
        targets, masks = mask_set.targets, dict(mask_set.masks)
        notes += mask_set.notes
        quality_pruned = measure_quality(loaded, model)
        training = train(loaded, model, targets, masks, ft, data, None, progress, should_stop)
    notes += training.notes
    quality = measure_quality(loaded, model)
    train_loss, val_loss = data.losses(model)
    model.cpu()
    sparsity = _sparsity(model, targets)
    target = pattern.fixed_sparsity if pattern.is_nm else config.sparsity
    if sparsity < target - 1e-6 and (training.partial or training.diverged):
        notes.append(f"sparsity reached only {sparsity:.1%} of the target {target:.1%}: training stopped before "
                     "the pruning schedule finished")
    result = FinetuneResult(
        model=loaded.key, method=config.method, pattern=config.pattern, sparsity_target=target, seed=ft.seed,
        steps=ft.steps, lr=ft.lr, quality_metric=loaded.card.quality_metric, quality_dense=baseline.quality,
        quality_pruned=quality_pruned, quality=quality, sparsity_actual=sparsity, train_loss=train_loss,
        val_loss=val_loss, train_loss_dense=baseline.train_loss, val_loss_dense=baseline.val_loss,
        curve=training.curve, partial=training.partial, diverged=training.diverged, notes=notes,
        seconds=time.perf_counter() - start, device=training.device, allocation=config.allocation,
        scope=config.scope, include_head=config.include_head, steps_done=training.steps_done,
        batch_size=ft.batch_size, seq_len=ft.seq_len, train_seconds=training.seconds,
        params_in_scope=sum(t.numel for t in targets), generalization_gap=val_loss - train_loss,
        generalization_gap_dense=baseline.val_loss - baseline.train_loss, prune_seed=config.seed)
    return result, model
