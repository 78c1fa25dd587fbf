"""Quality metrics for any Hugging Face causal LM or sequence classifier.

Why: pruning is judged by how much quality it costs, so the dense model and every
pruned variant must be scored by the same deterministic code. The model may be a
shared, read-only base model: nothing here changes its mode or weights.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from torch import nn

from .errors import PruneScopeError
from .tokens import tokenize


def _check_eval_mode(model: nn.Module) -> None:
    # Dropout in train mode would make scores random; we refuse rather than flip the
    # mode of a model other threads may be using.
    if model.training:
        raise ValueError("model is in training mode; call model.eval() before evaluating it")


def _device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


# Logits per batch: a class on one server runs several evaluations at once. SmolLM2's quick evaluation
# (8 windows of 64 tokens, 49 k vocabulary): 128 MB batches peaked 0.31 GB above the model, 32 MB
# batches 0.09 GB, same figure, as fast (1.18 vs 1.24 s); 16 MB was slower (1.45-1.68 s).
LOGITS_BYTES = 32 * 1024**2
MAX_MEAN_NLL = math.log(torch.finfo(torch.float64).max)  # ~709.8 nats: exp() of more overflows


def _vocab(model: nn.Module) -> int:
    """Size of the output layer: each scored token costs that many fp32 logits (several times over)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        return head.weight.shape[0]
    return getattr(getattr(model, "config", None), "vocab_size", 1)


def _first_tokens(tokenizer: Any, text: str, max_tokens: int) -> list[int]:
    """Token ids of the first `max_tokens` tokens, tokenising only a growing prefix of text; kept per
    tokenizer, since every slider move scores the same held-out text (tokenising it was 2 % of a
    classroom server's CPU).

    Why a prefix: eval texts can be megabytes. A prefix that yields 64 tokens more than needed
    gives the same first `max_tokens` ids as the whole text (tokenisers are local).
    """
    known = _TOKENS.setdefault(tokenizer, {})  # sessions share it: one get, one set (no check-then-read)
    ids = known.get((text, max_tokens))
    if ids is None:
        n_chars = 8 * max_tokens + 1024
        while True:
            found = tokenize(tokenizer, text[:n_chars], add_special_tokens=False)["input_ids"]
            if n_chars >= len(text) or len(found) >= max_tokens + 64:
                break
            n_chars *= 2
        ids = tuple(found[:max_tokens])
        if len(known) >= 8:  # a few texts and cuts per tokenizer (quick and full evaluation)
            known.clear()
        known[(text, max_tokens)] = ids
    return list(ids)


_TOKENS: "weakref.WeakKeyDictionary[Any, dict[tuple[str, int], tuple[int, ...]]]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Estimate:
    """A held-out figure with its 95 % interval, from the size of the evaluation."""

    value: float
    lo: float
    hi: float
    n: int  # examples (accuracy) or windows (perplexity) the interval is over
    how: str  # "Wilson interval over n examples" / "bootstrap over n windows"

    def to_dict(self) -> dict:
        return asdict(self)


def wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion: honest near 0 and 1, unlike p ± z·se."""
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_perplexity(nll: Sequence[float], counts: Sequence[int], reps: int = 1000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of exp(sum NLL / sum tokens) over windows resampled with replacement (seeded)."""
    nll_t = torch.tensor(list(nll), dtype=torch.float64)
    cnt = torch.tensor(list(counts), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, nll_t.numel(), (reps, nll_t.numel()), generator=gen)
    ppl = torch.exp(nll_t[idx].sum(1) / cnt[idx].sum(1))
    q = torch.quantile(ppl, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(q[0]), float(q[1])


def window_nll(model: nn.Module, tokenizer: Any, text: str, seq_len: int, max_tokens: int,
               batch_size: int = 8) -> tuple[list[float], list[int]]:
    """Summed next-token NLL and predicted-token count of each window of the first `max_tokens` tokens.

    The tokens are cut into non-overlapping windows of `seq_len` (the last one may be shorter);
    each window is scored independently, every token after the first in a window is predicted.
    """
    if seq_len < 2 or max_tokens < 2 or batch_size < 1:
        raise ValueError("perplexity needs seq_len >= 2, max_tokens >= 2 and batch_size >= 1")
    _check_eval_mode(model)
    batch_size = min(batch_size, max(1, LOGITS_BYTES // (seq_len * _vocab(model) * 4)))
    ids = _first_tokens(tokenizer, text, max_tokens)
    if len(ids) < 2:
        raise ValueError("text is too short: fewer than 2 tokens to score")
    windows = [ids[i:i + seq_len] for i in range(0, len(ids), seq_len)]
    windows = [w for w in windows if len(w) >= 2]
    full = [w for w in windows if len(w) == seq_len]
    batches = [full[i:i + batch_size] for i in range(0, len(full), batch_size)]
    batches += [[w] for w in windows if len(w) < seq_len]  # a short tail window, unpadded
    device = _device(model)
    nll: list[float] = []
    counts: list[int] = []
    for batch in batches:
        loss = token_nll(model, torch.tensor(batch, dtype=torch.long, device=device))
        nll.extend(float(v) for v in loss.double().sum(1))
        counts.extend([loss.shape[1]] * loss.shape[0])
    if not all(math.isfinite(v) for v in nll):
        raise PruneScopeError(f"the model's next-token loss on the held-out text is {_bad(nll)}: its arithmetic "
                              f"overflows fp32 (weights finite but far too large?), so no perplexity exists")
    return nll, counts


def _bad(values: Sequence[float]) -> str:
    return "NaN" if any(math.isnan(v) for v in values) else "infinite"


def _perplexity(nll: Sequence[float], counts: Sequence[int]) -> float:
    """exp(mean NLL), refused where it exceeds any float (a mean loss of over 709 nats per token)."""
    mean = sum(nll) / sum(counts)
    if mean > MAX_MEAN_NLL:
        raise PruneScopeError(f"the model's mean next-token loss on the held-out text is {mean:.4g} nats, so its "
                              "perplexity exceeds the largest number a computer can hold; its weights are finite but "
                              "far too large for a language model")
    return math.exp(mean)


@torch.inference_mode()
def token_nll(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Next-token NLL of every token after the first, (batch, seq-1), for a (batch, seq) batch of ids:
    the per-token figures a perplexity is made of (which tokens pruning hurts)."""
    _check_eval_mode(model)
    logits = model(input_ids=x).logits[:, :-1].float()
    target = x[:, 1:]
    return nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1),
                                       reduction="none").view(target.shape)


def perplexity_estimate(model: nn.Module, tokenizer: Any, text: str, seq_len: int, max_tokens: int,
                        batch_size: int = 8, seed: int = 0) -> Estimate:
    """`perplexity` with a 95 % bootstrap interval over its windows."""
    nll, counts = window_nll(model, tokenizer, text, seq_len, max_tokens, batch_size)
    lo, hi = bootstrap_perplexity(nll, counts, seed=seed)
    return Estimate(_perplexity(nll, counts), lo, hi, len(nll), f"bootstrap over {len(nll)} windows "
                    f"of {seq_len} tokens")


def perplexity(model: nn.Module, tokenizer: Any, text: str, seq_len: int, max_tokens: int,
               batch_size: int = 8) -> float:
    """exp(mean next-token NLL) over the first `max_tokens` tokens of `text` (see `window_nll`)."""
    nll, counts = window_nll(model, tokenizer, text, seq_len, max_tokens, batch_size)
    return _perplexity(nll, counts)


def accuracy_estimate(model: nn.Module, tokenizer: Any, examples: Sequence[tuple[str, int]],
                      batch_size: int = 64, max_length: int = 64) -> Estimate:
    """`accuracy` with its 95 % Wilson interval over the examples."""
    acc = accuracy(model, tokenizer, examples, batch_size, max_length)
    correct = round(acc * len(examples))
    lo, hi = wilson(correct, len(examples))
    return Estimate(acc, lo, hi, len(examples), f"Wilson interval over {len(examples)} examples")


def accuracy(model: nn.Module, tokenizer: Any, examples: Sequence[tuple[str, int]],
             batch_size: int = 64, max_length: int = 64) -> float:
    """Fraction of (text, label) examples whose argmax logit equals the label.

    Texts are truncated to `max_length` tokens. Without a pad token, examples are
    scored one at a time so no padding is needed (a GPT-2 classifier needs it).
    """
    if not examples:
        raise ValueError("accuracy needs at least one example")
    pred = example_logits(model, tokenizer, [t for t, _ in examples], batch_size, max_length).argmax(dim=-1)
    return int((pred == torch.tensor([y for _, y in examples])).sum()) / len(examples)


def example_logits(model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int = 64,
                   max_length: int = 64) -> torch.Tensor:
    """Logits (n, classes) of each text, on the CPU: what `accuracy` counts, kept per example (which
    examples a pruned model gets wrong). Truncated to `max_length`; one at a time without a pad token."""
    _check_eval_mode(model)
    if getattr(tokenizer, "pad_token", None) is None:
        batch_size = 1
    device = _device(model)
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            chunk = list(texts[i:i + batch_size])
            enc = tokenize(tokenizer, chunk, padding=len(chunk) > 1, truncation=True,
                           max_length=max_length, return_tensors="pt")
            out.append(model(input_ids=enc["input_ids"].to(device),
                             attention_mask=enc["attention_mask"].to(device)).logits.cpu())
    logits = torch.cat(out)
    if not bool(torch.isfinite(logits).all()):
        raise PruneScopeError(f"the model's class scores on the held-out examples are "
                              f"{'NaN' if bool(logits.isnan().any()) else 'infinite'}: its arithmetic overflows fp32 "
                              "(weights finite but far too large?), so no accuracy exists")
    return logits
