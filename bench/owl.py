"""Uniform (`layer`) vs OWL allocation: held-out perplexity per method and sparsity, same calibration, same eval.

Every run goes through `prune_core.run.prune_model` as the dashboard and the CLI do (OWL runs measure their
outlier profile on the same seeded calibration samples the methods use), and is scored by the model card's
held-out evaluation. Before the table, the outlier profile: OWL's per-block outlier ratios and the sparsities
they give at each target, so a run where OWL does not help can be read against it.
Run: nice -n 10 python bench/owl.py [--model smollm2-135m] [--methods magnitude,wanda,sparsegpt]
                                    [--sparsities 0.5,0.6,0.7] [--calib-samples 32] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_core.config import PruneConfig  # noqa: E402
from prune_core.owl import block_sparsities  # noqa: E402
from prune_core.pruning import owl_only, prune_model  # noqa: E402
from prune_core.run import measure_quality  # noqa: E402
from prune_core.zoo import load_model  # noqa: E402


def profile(loaded, base: PruneConfig, sparsities: list[float]) -> None:
    """OWL's outlier ratio per block, and the block sparsities at each target."""
    start = time.perf_counter()
    alloc = owl_only(loaded, replace(base, sparsity=sparsities[0]))  # the ratios do not depend on the target
    seconds = time.perf_counter() - start
    ratios = alloc.outlier_ratio
    columns = [block_sparsities(ratios, alloc.params, s, base.owl_lambda) for s in sparsities]
    print(f"outlier profile (M = {base.owl_m:g}, λ = {base.owl_lambda:g}; measured in {seconds:.1f} s):")
    print(f"{'block':>5} {'outlier %':>10}" + "".join(f"{f'OWL @ {s:.0%}':>11}" for s in sparsities))
    for i, block in enumerate(alloc.blocks):
        print(f"{block:>5} {ratios[i] * 100:>10.3f}" + "".join(f"{c[i] * 100:>10.1f}%" for c in columns))
    print(f"outlier ratio: min {min(ratios):.3%}, max {max(ratios):.3%}, max/min "
          f"{max(ratios) / max(min(ratios), 1e-12):.1f}x\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--methods", default="magnitude,wanda,sparsegpt", help="comma list")
    ap.add_argument("--sparsities", default="0.5,0.6,0.7", help="comma list of targets")
    ap.add_argument("--calib-samples", type=int, default=32)
    ap.add_argument("--calib-seq-len", type=int, default=128)
    ap.add_argument("--owl-m", type=float, default=PruneConfig.owl_m)
    ap.add_argument("--owl-lambda", type=float, default=PruneConfig.owl_lambda)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    sparsities = [float(s) for s in args.sparsities.split(",")]
    base = PruneConfig(calib_samples=args.calib_samples, calib_seq_len=args.calib_seq_len, owl_m=args.owl_m,
                       owl_lambda=args.owl_lambda)
    loaded = load_model(args.model)
    dense = measure_quality(loaded, loaded.model)
    print(f"{loaded.name}: torch {torch.__version__}, {args.threads} threads; calibration {args.calib_samples} x "
          f"{args.calib_seq_len} tokens from the training split (seed 0); held-out {loaded.card.quality_metric} "
          f"{loaded.card.eval}; dense {dense:.3f}\n")
    profile(loaded, base, sparsities)
    print(f"{'method':<11}{'sparsity':>9}{'uniform':>11}{'OWL':>11}{'OWL/uniform':>13}{'uniform s':>11}{'OWL s':>8}")
    for method in methods:
        for s in sparsities:
            row = []
            for allocation in ("layer", "owl"):
                config = replace(base, method=method, sparsity=s, allocation=allocation).validated()
                start = time.perf_counter()
                _, pruned = prune_model(loaded, config)
                seconds = time.perf_counter() - start
                row.append((measure_quality(loaded, pruned), seconds))
                del pruned
            (uq, us), (oq, os_) = row
            print(f"{method:<11}{s:>9.0%}{uq:>11.3f}{oq:>11.3f}{oq / uq:>13.3f}{us:>11.1f}{os_:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
