"""Dense vs pruned outputs on the same input: what a user reads, not just a number."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .calibration import max_positions
from .latency import torch_threads
from .tokens import tokenize
from .zoo import BIG_MODEL

EXAMPLE_SENTENCES = [
    "I love this, best day ever!",
    "This is the worst service I have ever had.",
    "not bad at all, pretty happy with it",
    "I am so tired of waiting, nothing works",
]
EXAMPLE_PROMPT = "ROMEO:\nBut soft, what light"


@dataclass(frozen=True)
class OutputRequest:
    """The outputs a page shows for dense and pruned: the class probabilities of `sentences` (a
    classifier), or else a continuation of `prompt` (`n_new` tokens drawn with `seed`)."""

    sentences: tuple[str, ...] = ()
    prompt: str = ""
    n_new: int = 0
    seed: int = 0

    @classmethod
    def for_model(cls, task: str, params: int, text: str, seed: int) -> "OutputRequest | None":
        """What a page asks for the typed `text` (None: nothing to show, an empty prompt): a classifier
        classifies it beside EXAMPLE_SENTENCES, a language model continues it."""
        if task == "sequence-classification":
            return cls(sentences=tuple(([text] if text.strip() else []) + EXAMPLE_SENTENCES))
        return cls(prompt=text, n_new=new_tokens(params), seed=seed) if text.strip() else None


def outputs(model: nn.Module, tokenizer, request: OutputRequest) -> str | list[dict[str, float]]:
    """What `request` asks of `model`: class probabilities per sentence, or the generated continuation."""
    if request.sentences:
        return classify(model, tokenizer, list(request.sentences))
    return generate(model, tokenizer, request.prompt, request.n_new, request.seed)


@torch.inference_mode()
def classify(model: nn.Module, tokenizer, sentences: list[str], max_length: int = 64) -> list[dict[str, float]]:
    """Class probabilities per sentence, keyed by label name."""
    enc = tokenize(tokenizer, sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    probs = torch.softmax(model(**enc).logits.float(), dim=-1)
    labels = model.config.id2label
    return [{labels[i]: float(p[i]) for i in range(p.numel())} for p in probs]


def new_tokens(params: int) -> int:
    """Continuation length: shorter for big models so a slider move stays interactive on a CPU
    (SmolLM2 decodes about 42 ms per token on one core, bound by memory: 24 tokens take about 1 s)."""
    return 80 if params < BIG_MODEL else 24


# One torch thread while a model decodes token by token. A small model's matmuls are too small to
# share: tiny GPT, 80 tokens, 0.15 s on one thread vs 0.22 s on two, idle, and 0.26 s vs 0.52 s beside
# a busy core (bench/omp_wait.py). A big one is bound by memory, not arithmetic: SmolLM2, 30 tokens,
# 1.27 s on one thread vs 1.35-1.42 s on two (2-core AMD EPYC). The other core stays free for the
# browser and the other sessions. The count is the calling thread's own: other jobs keep theirs.
DECODE_THREADS = 1


def prompt_budget(model: nn.Module, max_new_tokens: int) -> int | None:
    """How many prompt tokens fit: the model's positions minus room for the new tokens (None: no limit)."""
    limit = max_positions(model)
    return None if limit is None else max(1, limit - max_new_tokens)


def prompt_cut(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int) -> int:
    """How many tokens `generate` drops from the left of this prompt (0 when it fits), for the page to say."""
    budget = prompt_budget(model, max_new_tokens)
    n = len(tokenize(tokenizer, prompt, verbose=False)["input_ids"])
    return 0 if budget is None else max(0, n - budget)


@torch.inference_mode()
def generate(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int = 80, seed: int = 0,
             temperature: float = 0.8, top_k: int = 40) -> str:
    """Sampled continuation; same seed => same draws for dense and pruned.

    Draws come from a private generator, not the process-wide RNG that `model.generate` uses:
    with one server for a class, another session seeding it mid-generation would change ours.
    A prompt longer than the model's context is cut from the left (the end is what the next
    tokens continue), leaving room for the new tokens; past the last position the model has no
    embedding.
    """
    gen = torch.Generator().manual_seed(seed)
    ids = tokenize(tokenizer, prompt, return_tensors="pt", verbose=False)["input_ids"]
    budget = prompt_budget(model, max_new_tokens)
    if budget is not None and ids.shape[1] > budget:
        ids = ids[:, -budget:]
        max_new_tokens = min(max_new_tokens, max_positions(model) - budget)
    with torch_threads(DECODE_THREADS):
        out = _decode(model, tokenizer, ids, max_new_tokens, gen, temperature, top_k)
    return tokenizer.decode(out, skip_special_tokens=True)


def _decode(model: nn.Module, tokenizer, ids: torch.Tensor, max_new_tokens: int, gen: torch.Generator,
            temperature: float, top_k: int) -> list[int]:
    """Token ids drawn one at a time, reusing the model's key/value cache."""
    past, step, out = None, ids, []
    for _ in range(max_new_tokens):
        result = model(input_ids=step, cache=past, use_cache=True)  # transformers 5: `cache`
        past = result.cache
        logits = result.logits[0, -1].float() / temperature
        top = torch.topk(logits, min(top_k, logits.numel()))
        token = top.indices[torch.multinomial(torch.softmax(top.values, -1), 1, generator=gen)]
        if token.item() == tokenizer.eos_token_id:
            break
        out.append(token.item())
        step = token.view(1, 1)
    return out
