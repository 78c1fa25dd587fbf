"""The Compare page's default grid (random, magnitude, wanda x sparsity 0:0.9:0.1) on every zoo model.

End to end as the page and `python -m prune_core sweep` run it: dense baseline, then per run
pruning, sizes, held-out evaluation and dense+pruned latency, each run stored in a throwaway
SQLite store. Prints the wall time per model and the quality of each method at 50 % and 90 %.
Run: python bench/sweep_grid.py [--models a,b] [--methods random,magnitude,wanda] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_core.run import LatencySpec  # noqa: E402
from prune_core.store import Store  # noqa: E402
from prune_core.sweep import grid_configs, parse_grid, run_sweep  # noqa: E402
from prune_core.zoo import EMBEDDED, load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(EMBEDDED))
    ap.add_argument("--methods", default="random,magnitude,wanda")
    ap.add_argument("--sparsity", default="0:0.9:0.1")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    methods = args.methods.split(",")
    configs = grid_configs(methods, parse_grid(args.sparsity))
    print(f"{len(methods)} methods x {len(configs) // len(methods)} sparsities = {len(configs)} runs per model, "
          f"{args.threads} threads; model load not timed")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite")
        for name in args.models.split(","):
            loaded = load_model(name)
            start = time.perf_counter()
            frame = run_sweep(loaded, configs, store, LatencySpec.for_model(loaded.card), measure_file=False)
            seconds = time.perf_counter() - start
            metric = frame["quality_metric"].iloc[0]
            at = frame.set_index(["method", "sparsity_target"])["quality"]
            cells = "; ".join(f"{m} {at[(m, 0.5)]:.4g} / {at[(m, 0.9)]:.4g}" for m in methods)
            print(f"{name:<22} {seconds:7.1f} s  dense {metric} {frame['quality_dense'].iloc[0]:.4g}; "
                  f"at 50 % / 90 %: {cells}", flush=True)
        store.close()


if __name__ == "__main__":
    main()
