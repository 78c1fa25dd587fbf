"""Temporary GPU sweep for train_bert.py (deleted after use)."""
import sys, time
sys.path.insert(0, "data/build")
import train_bert as t
from prune_core.datasets import tweets
from prune_core.evaluate import accuracy
tr = tweets("train"); va = tweets("valid")
tok = t.build_tokenizer([x for x, _ in tr])
print("vocab", len(tok), tok.tokenize("I am so happy"))
for ep in (2, 3, 4, 6, 8):
    for lr in (1e-3, 2e-3, 4e-3):
        t0 = time.time()
        import io, contextlib
        with contextlib.redirect_stdout(io.StringIO()):
            m = t.train_model(tok, tr, ep, 32, lr, device="cuda")
        a = accuracy(m, tok, va[:1000]); b = accuracy(m, tok, va)
        print(f"epochs {ep} lr {lr}: acc1000 {a:.4f} all {b:.4f} ({time.time()-t0:.0f}s)", flush=True)
