"""Dense vs pruned outputs on the same input: what a user reads, not just a number."""
from __future__ import annotations

import torch
from torch import nn

from .calibration import max_positions

EXAMPLE_SENTENCES = [
    "I love this, best day ever!",
    "This is the worst service I have ever had.",
    "not bad at all, pretty happy with it",
    "I am so tired of waiting, nothing works",
]
EXAMPLE_PROMPT = "ROMEO:\nBut soft, what light"


@torch.inference_mode()
def classify(model: nn.Module, tokenizer, sentences: list[str], max_length: int = 64) -> list[dict[str, float]]:
    """Class probabilities per sentence, keyed by label name."""
    enc = tokenizer(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    probs = torch.softmax(model(**enc).logits.float(), dim=-1)
    labels = model.config.id2label
    return [{labels[i]: float(p[i]) for i in range(p.numel())} for p in probs]


def new_tokens(params: int) -> int:
    """Continuation length: shorter for big models so a slider move stays interactive on a CPU."""
    return 80 if params < 50_000_000 else 30


def prompt_budget(model: nn.Module, max_new_tokens: int) -> int | None:
    """How many prompt tokens fit: the model's positions minus room for the new tokens (None: no limit)."""
    limit = max_positions(model)
    return None if limit is None else max(1, limit - max_new_tokens)


def prompt_cut(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int) -> int:
    """How many tokens `generate` drops from the left of this prompt (0 when it fits), for the page to say."""
    budget = prompt_budget(model, max_new_tokens)
    n = len(tokenizer(prompt, verbose=False)["input_ids"])
    return 0 if budget is None else max(0, n - budget)


@torch.inference_mode()
def generate(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int = 80, seed: int = 0) -> str:
    """Sampled continuation (temperature 0.8, top-k 40); same seed => same draws for both models.

    A prompt longer than the model's context is cut from the left (the end is what the next tokens
    continue), leaving room for the new tokens; past the last position the model has no embedding.
    """
    torch.manual_seed(seed)
    enc = tokenizer(prompt, return_tensors="pt", verbose=False)
    budget = prompt_budget(model, max_new_tokens)
    if budget is not None and enc["input_ids"].shape[1] > budget:
        enc = {k: v[:, -budget:] for k, v in enc.items()}
        max_new_tokens = min(max_new_tokens, max_positions(model) - budget)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=0.8,
                         top_k=40, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
