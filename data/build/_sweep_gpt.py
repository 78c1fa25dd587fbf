"""Temporary: hyper-parameter sweep for train_gpt.py on a GPU (deleted after use)."""
import itertools, sys, time, torch
sys.path.insert(0, "data/build")
import train_gpt as t
from prune_core.datasets import shakespeare_text
from prune_core.evaluate import perplexity
tr = shakespeare_text("train"); va = shakespeare_text("valid")
tok = t.build_tokenizer(tr)
cfgs = [(16, 380, lr, d) for lr in (1e-3, 2e-3, 3e-3, 6e-3) for d in (0.0, 0.05)]
cfgs += [(8, 760, lr, 0.0) for lr in (1e-3, 2e-3, 4e-3)] + [(32, 190, lr, 0.0) for lr in (3e-3, 6e-3)]
cfgs += [(4, 1520, lr, 0.0) for lr in (1e-3, 2e-3)]
for b, s, lr, d in cfgs:
    t0 = time.time()
    m = t.train_model(tok, tr, s, b, lr, d, device="cuda", log_every=0)
    ppl = perplexity(m, tok, va, 256, 8192, 8)
    print(f"batch {b} steps {s} lr {lr} drop {d}: ppl {ppl:.3f} ({time.time()-t0:.0f}s)", flush=True)
