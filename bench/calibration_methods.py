"""Held-out perplexity and pruning time: dense, magnitude, Wanda, SparseGPT (50 % and 2:4).

Reproduces the shape of the published anchors (magnitude collapses on small LMs, Wanda ~
SparseGPT stay close to dense) on our own models. Calibration: samples from the training
split (defaults of PruneConfig); evaluation: the model card's held-out settings.
Run: python bench/calibration_methods.py [--models tiny-shakespeare-gpt,smollm2-135m] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_core.config import PruneConfig  # noqa: E402
from prune_core.run import measure_quality, prune_model  # noqa: E402
from prune_core.zoo import load_model  # noqa: E402

METHODS = ("magnitude", "wanda", "sparsegpt")
PATTERNS = ("unstructured", "2:4")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="tiny-shakespeare-gpt,smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib-samples", type=int, default=32)
    ap.add_argument("--calib-seq-len", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, calibration {args.calib_samples} x "
          f"{args.calib_seq_len} tokens from the training split, sparsity 50 %")
    print(f"{'model':<22}{'pattern':<14}{'method':<11}{'perplexity':>12}{'prune s':>9}")
    for name in args.models.split(","):
        loaded = load_model(name)
        print(f"{name:<22}{'-':<14}{'dense':<11}{measure_quality(loaded, loaded.model):12.3f}{'':>9}  "
              f"({loaded.card.eval})")
        for pattern in PATTERNS:
            for method in METHODS:
                cfg = PruneConfig(method=method, sparsity=0.5, pattern=pattern, calib_samples=args.calib_samples,
                                  calib_seq_len=args.calib_seq_len)
                start = time.perf_counter()
                _, pruned = prune_model(loaded, cfg)
                seconds = time.perf_counter() - start
                ppl = measure_quality(loaded, pruned)
                print(f"{name:<22}{pattern:<14}{method:<11}{ppl:12.3f}{seconds:9.2f}", flush=True)
                del pruned


if __name__ == "__main__":
    main()
