"""Temporary: hyper-parameter sweep for train_gpt.py on a GPU (deleted after use)."""
import sys, time, torch
sys.path.insert(0, "data/build")
import train_gpt as t
from prune_core.datasets import shakespeare_text
from prune_core.evaluate import perplexity
tr = shakespeare_text("train"); va = shakespeare_text("valid")
tok = t.build_tokenizer(tr)
runs = [
  dict(batch=12, steps=2000, lr=1e-3, seq_len=64, n_embd=128, n_head=4),
  dict(batch=12, steps=2000, lr=1e-3, seq_len=64),
  dict(batch=4, steps=2000, lr=1e-3, seq_len=256),
  dict(batch=4, steps=2000, lr=2e-3, seq_len=256),
  dict(batch=12, steps=2000, lr=2e-3, seq_len=64),
]
for r in runs:
    t0 = time.time()
    m = t.train_model(tok, tr, dropout=0.0, device="cuda", log_every=500, **{k: v for k, v in r.items()})
    p64 = perplexity(m, tok, va, 64, 8192, 8); p256 = perplexity(m, tok, va, 256, 8192, 8)
    pall = perplexity(m, tok, va, 256, 10**6, 64)
    print(r, f"ppl64 {p64:.3f} ppl256 {p256:.3f} ppl_all_valid256 {pall:.3f} ({time.time()-t0:.0f}s)", flush=True)
