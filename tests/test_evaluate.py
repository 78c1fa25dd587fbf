"""perplexity() and accuracy() compute what they claim, deterministically, for any HF model."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from torch import nn
from transformers import (BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
                          PreTrainedTokenizerFast)

from prune_core.evaluate import accuracy, perplexity

TEXT = "to be, or not to be: that is the question.\n" * 40
CHARS = sorted(set(TEXT))


def char_tokenizer(pad: bool = True) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]"] + CHARS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    kwargs = {"pad_token": "[PAD]"} if pad else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", **kwargs)


class Uniform(nn.Module):
    """A causal LM that predicts every token with equal probability."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, **_) -> SimpleNamespace:
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab) + self.dummy)


@pytest.fixture(scope="module")
def tiny_gpt() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=len(CHARS) + 2, n_positions=64, n_embd=32,
                                      n_layer=2, n_head=2)).eval()


def test_uniform_model_has_perplexity_vocab_size() -> None:
    tok = char_tokenizer()
    assert perplexity(Uniform(len(tok)).eval(), tok, TEXT, seq_len=32, max_tokens=1000) == pytest.approx(len(tok))


def test_perplexity_matches_hf_loss_on_full_windows(tiny_gpt: GPT2LMHeadModel) -> None:
    tok = char_tokenizer()
    ids = torch.tensor(tok(TEXT)["input_ids"][:256]).view(4, 64)
    with torch.no_grad():
        expected = math.exp(tiny_gpt(input_ids=ids, labels=ids).loss.item())
    assert perplexity(tiny_gpt, tok, TEXT, seq_len=64, max_tokens=256) == pytest.approx(expected, rel=1e-5)


def test_perplexity_is_deterministic_and_batch_size_free(tiny_gpt: GPT2LMHeadModel) -> None:
    tok = char_tokenizer()
    a = perplexity(tiny_gpt, tok, TEXT, seq_len=64, max_tokens=1000, batch_size=8)  # 15 full + 1 tail window
    assert perplexity(tiny_gpt, tok, TEXT, seq_len=64, max_tokens=1000, batch_size=8) == a
    assert perplexity(tiny_gpt, tok, TEXT, seq_len=64, max_tokens=1000, batch_size=1) == pytest.approx(a, rel=1e-5)
    assert not tiny_gpt.training


def test_perplexity_uses_only_the_first_max_tokens(tiny_gpt: GPT2LMHeadModel) -> None:
    tok = char_tokenizer()
    assert perplexity(tiny_gpt, tok, TEXT, 64, 128) == perplexity(tiny_gpt, tok, TEXT[:128] + "zzz", 64, 128)


def test_held_out_tokens_are_tokenised_once_per_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every slider move scores the same text: its ids are kept per tokenizer, equal to a fresh tokenisation."""
    from prune_core import evaluate

    calls = []
    real = evaluate.tokenize
    monkeypatch.setattr(evaluate, "tokenize", lambda *a, **k: calls.append(a[1][:5]) or real(*a, **k))
    tok, other = char_tokenizer(), char_tokenizer()
    fresh = real(tok, TEXT, add_special_tokens=False)["input_ids"]
    assert evaluate._first_tokens(tok, TEXT, 100) == fresh[:100] and len(calls) == 1
    assert evaluate._first_tokens(tok, TEXT, 100) == fresh[:100] and len(calls) == 1  # kept
    assert evaluate._first_tokens(tok, TEXT, 50) == fresh[:50] and len(calls) == 2  # another cut
    assert evaluate._first_tokens(other, TEXT, 100) == fresh[:100] and len(calls) == 3  # another tokenizer
    assert evaluate._first_tokens(tok, TEXT[1:], 100) == fresh[1:101] and len(calls) == 4  # another text


def test_training_mode_is_refused_not_changed(tiny_gpt: GPT2LMHeadModel) -> None:
    tok = char_tokenizer()
    tiny_gpt.train()
    try:
        with pytest.raises(ValueError, match="eval"):
            perplexity(tiny_gpt, tok, TEXT, 64, 128)
        assert tiny_gpt.training
    finally:
        tiny_gpt.eval()


@pytest.fixture(scope="module")
def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(
        vocab_size=len(CHARS) + 2, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=2)).eval()


EXAMPLES = [(TEXT[i:i + 5 + i % 23], i % 2) for i in range(0, 300, 3)]


def test_accuracy_agrees_with_per_example_argmax(tiny_bert: BertForSequenceClassification) -> None:
    tok = char_tokenizer()
    with torch.no_grad():
        preds = [int(tiny_bert(**tok(t, return_tensors="pt")).logits.argmax()) for t, _ in EXAMPLES]
    expected = sum(p == y for p, (_, y) in zip(preds, EXAMPLES)) / len(EXAMPLES)
    assert accuracy(tiny_bert, tok, EXAMPLES, batch_size=16) == expected  # padding changes nothing
    assert accuracy(tiny_bert, tok, EXAMPLES, batch_size=16) == accuracy(tiny_bert, tok, EXAMPLES, batch_size=7)


def test_accuracy_without_pad_token_scores_one_by_one(tiny_bert: BertForSequenceClassification) -> None:
    assert accuracy(tiny_bert, char_tokenizer(pad=False), EXAMPLES) == accuracy(tiny_bert, char_tokenizer(), EXAMPLES)


def test_accuracy_truncates_to_max_length(tiny_bert: BertForSequenceClassification) -> None:
    tok = char_tokenizer()
    long = [(TEXT, 0), (TEXT[:500], 1)]
    assert 0.0 <= accuracy(tiny_bert, tok, long, max_length=16) <= 1.0  # 1700 chars would overflow 64 positions


def test_bad_arguments_are_errors(tiny_gpt: GPT2LMHeadModel, tiny_bert: BertForSequenceClassification) -> None:
    tok = char_tokenizer()
    with pytest.raises(ValueError):
        accuracy(tiny_bert, tok, [])
    with pytest.raises(ValueError):
        perplexity(tiny_gpt, tok, TEXT, seq_len=1, max_tokens=100)
    with pytest.raises(ValueError):
        perplexity(tiny_gpt, tok, "t", seq_len=8, max_tokens=100)


def test_wilson_interval_covers_the_true_accuracy_95_percent_of_the_time() -> None:
    from prune_core.evaluate import wilson

    gen = torch.Generator().manual_seed(0)
    for p, n in ((0.925, 1000), (0.6, 200), (0.98, 500)):
        correct = torch.binomial(torch.full((4000,), float(n)), torch.full((4000,), p), generator=gen)
        covered = sum(lo <= p <= hi for lo, hi in (wilson(int(c), n) for c in correct))
        assert 0.93 <= covered / 4000 <= 0.97, (p, n, covered)


def test_bootstrap_interval_over_windows_covers_the_true_perplexity() -> None:
    # Synthetic windows: per-token NLL ~ Gamma with a known mean, so the true perplexity is exp(mean).
    from prune_core.evaluate import bootstrap_perplexity

    gen = torch.Generator().manual_seed(1)
    true_mean, windows, tokens = 2.0, 32, 64
    covered, draws = 0, 400
    for i in range(draws):
        shape = torch.full((windows, tokens), 4.0)
        nll = torch._standard_gamma(shape, generator=gen) / 4.0 * true_mean  # mean 2.0 nats per token
        lo, hi = bootstrap_perplexity(nll.sum(1).tolist(), [tokens] * windows, reps=400, seed=i)
        covered += lo <= math.exp(true_mean) <= hi
    assert 0.91 <= covered / draws <= 0.98, covered


def test_estimates_bracket_the_plain_figures(tiny_gpt: GPT2LMHeadModel) -> None:
    from prune_core.evaluate import perplexity_estimate

    tok, text = char_tokenizer(), TEXT
    est = perplexity_estimate(tiny_gpt, tok, text, seq_len=16, max_tokens=400)
    assert est.value == pytest.approx(perplexity(tiny_gpt, tok, text, seq_len=16, max_tokens=400), rel=1e-12)
    assert est.lo < est.value < est.hi and est.n == 25
    assert perplexity_estimate(tiny_gpt, tok, text, seq_len=16, max_tokens=400) == est  # seeded
