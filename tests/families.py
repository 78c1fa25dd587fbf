"""Tiny random checkpoints of fifteen Transformer families, built with transformers' own classes.

Each is what a researcher would try: a config of the family (2 blocks, hidden 32-64), random weights,
saved with `save_pretrained(safe_serialization=True)` next to a tokenizer that fits (the shipped
character-level GPT tokenizer for decoders, the shipped WordPiece tokenizer for encoders).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers as T

from prune_core.zoo import MODELS_DIR

DECODER_TOKENIZER = MODELS_DIR / "tiny-shakespeare-gpt"  # 83 characters
ENCODER_TOKENIZER = MODELS_DIR / "tiny-sentiment-bert"  # 8000 WordPiece tokens
_DEC = dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=128, pad_token_id=0, bos_token_id=2, eos_token_id=2)
_ENC = dict(vocab_size=8000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=128, pad_token_id=0, num_labels=2)


@dataclass(frozen=True)
class Family:
    """One family: its config and model classes, and whether its blocks can be removed structurally."""

    name: str
    config: type
    model: type
    kwargs: dict
    encoder: bool = False
    structural: bool = False

    @property
    def task(self) -> str:
        return "sequence-classification" if self.encoder else "causal-lm"


FAMILIES = [
    Family("gpt2", T.GPT2Config, T.GPT2LMHeadModel,
           dict(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=128, bos_token_id=2, eos_token_id=2),
           structural=True),
    Family("bert", T.BertConfig, T.BertForSequenceClassification, _ENC, encoder=True, structural=True),
    Family("roberta", T.RobertaConfig, T.RobertaForSequenceClassification,
           {**_ENC, "max_position_embeddings": 130}, encoder=True, structural=True),
    Family("llama", T.LlamaConfig, T.LlamaForCausalLM, {**_DEC, "num_key_value_heads": 2}, structural=True),
    Family("qwen2", T.Qwen2Config, T.Qwen2ForCausalLM, {**_DEC, "num_key_value_heads": 2}, structural=True),
    Family("qwen3", T.Qwen3Config, T.Qwen3ForCausalLM, {**_DEC, "num_key_value_heads": 2, "head_dim": 8},
           structural=True),
    Family("mistral", T.MistralConfig, T.MistralForCausalLM, {**_DEC, "num_key_value_heads": 2}, structural=True),
    Family("gemma", T.GemmaConfig, T.GemmaForCausalLM, {**_DEC, "num_key_value_heads": 2, "head_dim": 8},
           structural=True),
    Family("gemma2", T.Gemma2Config, T.Gemma2ForCausalLM,  # a short window: sliding and full masks differ
           {**_DEC, "num_key_value_heads": 2, "head_dim": 8, "sliding_window": 8}, structural=True),
    Family("phi3", T.Phi3Config, T.Phi3ForCausalLM, {**_DEC, "num_key_value_heads": 2}),
    Family("opt", T.OPTConfig, T.OPTForCausalLM,
           dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
                word_embed_proj_dim=32, max_position_embeddings=128, pad_token_id=0, bos_token_id=2,
                eos_token_id=2), structural=True),
    Family("gpt_neox", T.GPTNeoXConfig, T.GPTNeoXForCausalLM, _DEC),
    Family("falcon", T.FalconConfig, T.FalconForCausalLM,
           dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, pad_token_id=0,
                bos_token_id=2, eos_token_id=2)),
    Family("gptj", T.GPTJConfig, T.GPTJForCausalLM,
           dict(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=128, rotary_dim=4, bos_token_id=2,
                eos_token_id=2, pad_token_id=0)),
    Family("distilbert", T.DistilBertConfig, T.DistilBertForSequenceClassification,
           dict(vocab_size=8000, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=128,
                pad_token_id=0, num_labels=2), encoder=True, structural=True),
    Family("modernbert", T.ModernBertConfig, T.ModernBertForSequenceClassification,
           {**_ENC, "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3, "cls_token_id": 2, "sep_token_id": 3,
            "global_attn_every_n_layers": 2, "local_attention": 16}, encoder=True),
]
BY_NAME = {f.name: f for f in FAMILIES}


def build(family: Family, folder: Path, seed: int = 0) -> Path:
    """A random checkpoint of `family` in `folder`: safetensors weights, config and a tokenizer."""
    torch.manual_seed(seed)
    model = family.model(family.config(**family.kwargs)).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer = ENCODER_TOKENIZER if family.encoder else DECODER_TOKENIZER
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer / name, folder / name)
    return folder
