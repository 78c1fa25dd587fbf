"""Temporary: hyper-parameter sweep for train_gpt.py on a GPU (deleted after use)."""
import sys, time, torch
sys.path.insert(0, "data/build")
import train_gpt as t
from prune_core.datasets import shakespeare_text
from prune_core.evaluate import perplexity
tr = shakespeare_text("train"); va = shakespeare_text("valid")
tok = t.build_tokenizer(tr)
runs = [dict(batch=4, steps=1500, lr=lr) for lr in (2e-3, 3e-3, 5e-3)]
runs += [dict(batch=2, steps=3000, lr=lr) for lr in (1e-3, 2e-3, 3e-3)]
runs += [dict(batch=8, steps=750, lr=lr) for lr in (4e-3, 6e-3)]
for r in runs:
    t0 = time.time()
    m = t.train_model(tok, tr, dropout=0.0, device="cuda", log_every=0, **r)
    p = perplexity(m, tok, va, 256, 8192, 8); p16 = perplexity(m, tok, va, 256, 16384, 8)
    pall = perplexity(m, tok, va, 256, 10**6, 64)
    print(r, f"ppl8k {p:.3f} ppl16k {p16:.3f} all {pall:.3f} ({time.time()-t0:.0f}s)", flush=True)
