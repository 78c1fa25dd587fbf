"""Does physically removing MLP neurons buy the speed its FLOPs promise? Per zoo model.

For each model: remove 50 % of the MLP neurons of every block (magnitude, layer allocation),
then, on the same real held-out batch, time dense and shrunk forwards interleaved
(`latency.measure_latency`: warm-up, repetitions, median) at batch 1 and 8.
FLOPs are counted, not estimated: `torch.utils.flop_counter.FlopCounterMode` over one forward,
i.e. 2*m*n*k for every matmul the model runs: all Linear/Conv1D layers (LM/classifier head
included) and attention (QK^T, AV inside SDPA). Elementwise ops, norms and softmax are not counted.
  FLOP speedup = dense FLOPs / shrunk FLOPs (the ideal); efficiency = measured speedup / FLOP speedup.
Quality is held-out, with each model card's evaluation settings (`run.measure_quality`).
Run: python bench/structured_speed.py [--models a,b] [--threads 2] [--reps 10] [--sparsity 0.5]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_core.latency import device_name, measure_latency  # noqa: E402
from prune_core.run import LatencySpec, latency_inputs, measure_quality  # noqa: E402
from prune_core.structural import plan_units, shrink  # noqa: E402
from prune_core.zoo import load_model  # noqa: E402

MODELS = ("tiny-shakespeare-gpt", "tiny-sentiment-bert", "minilm-l6", "smollm2-135m")


@torch.inference_mode()
def count_flops(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        model(**inputs)
    return counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {device_name()}, {args.threads} threads, fp32; "
          f"{args.sparsity:.0%} of MLP neurons removed (magnitude, layer); latency = median of {args.reps} "
          f"interleaved reps after {args.warmup} warm-up")
    head = (f"{'model':<21}{'batch':>6}{'seq':>5}{'params':>15}{'GFLOP':>15}{'FLOP x':>8}"
            f"{'dense ms':>10}{'shrunk ms':>10}{'speedup':>9}{'effic.':>8}   quality dense -> shrunk")
    print(head)
    print("-" * len(head))
    for name in args.models.split(","):
        try:
            loaded = load_model(name)
        except Exception as exc:  # a model not shipped (yet) on this machine
            print(f"{name:<21}skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}")
            continue
        start = time.perf_counter()
        small = shrink(loaded.model, plan_units(loaded.model, "neuron", args.sparsity, "magnitude", "layer"))
        surgery_s = time.perf_counter() - start
        metric = loaded.card.quality_metric
        q_dense, q_small = measure_quality(loaded, loaded.model), measure_quality(loaded, small)
        quality = f"{metric} {q_dense:.4g} -> {q_small:.4g}"
        p_dense = sum(p.numel() for p in loaded.model.parameters())
        p_small = sum(p.numel() for p in small.parameters())
        seq = 128 if loaded.task == "causal-lm" else 64
        for batch in (1, 8):
            inputs = latency_inputs(loaded, LatencySpec(batch=batch, seq_len=seq))
            f_dense, f_small = count_flops(loaded.model, inputs), count_flops(small, inputs)
            lat = measure_latency({"dense": loaded.model, "shrunk": small}, inputs, reps=args.reps,
                                  warmup=args.warmup, threads=args.threads)
            ideal = f_dense / f_small
            speedup = lat["dense"].median_ms / lat["shrunk"].median_ms
            print(f"{name:<21}{batch:>6}{seq:>5}{p_dense / 1e6:>7.2f}->{p_small / 1e6:<6.2f}M"
                  f"{f_dense / 1e9:>7.2f}->{f_small / 1e9:<6.2f}{ideal:>8.2f}"
                  f"{lat['dense'].median_ms:>10.1f}{lat['shrunk'].median_ms:>10.1f}{speedup:>9.2f}"
                  f"{speedup / ideal:>8.2f}   {quality if batch == 1 else f'(surgery {surgery_s:.2f} s)'}")
        del small


if __name__ == "__main__":
    main()
