"""Time from a control change to all results on the Explore page, per zoo model.

What one slider move costs on the page: prune (magnitude, layer allocation), materialise the
copy, sizes (incl. compressed file where the page measures it by default), held-out quality,
dense+pruned latency, the histogram of one layer, and the dense-vs-pruned sample outputs.
The dense baseline and the model load are cached by the page and timed separately here.
Run: python bench/explore_latency.py [--models a,b] [--threads 2] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_core import samples, tables  # noqa: E402
from prune_core.config import PruneConfig  # noqa: E402
from prune_core.run import LatencySpec, dense_baseline, run  # noqa: E402
from prune_core.zoo import EMBEDDED, load_model  # noqa: E402

LARGE = 50_000_000  # same default as the page: above this, file size is measured on request


def one_change(loaded, baseline, sparsity: float, measure_file: bool) -> float:
    spec = LatencySpec.for_model(loaded.card)  # the page's defaults
    start = time.perf_counter()
    result, pruned = run(loaded, PruneConfig("magnitude", sparsity), baseline, spec, measure_file)
    t = result.layers[0]
    tables.histogram_frame(dict(loaded.model.named_parameters())[t.name], dict(pruned.named_parameters())[t.name])
    if loaded.task == "causal-lm":
        for m in (loaded.model, pruned):
            samples.generate(m, loaded.tokenizer, samples.EXAMPLE_PROMPT, samples.new_tokens(loaded.card.params))
    else:
        for m in (loaded.model, pruned):
            samples.classify(m, loaded.tokenizer, samples.EXAMPLE_SENTENCES)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(EMBEDDED))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; sparsities cycled over 30..90 %")
    print(f"{'model':<22}{'load s':>8}{'dense s':>9}{'p50 s':>8}{'max s':>8}  file size measured")
    for name in args.models.split(","):
        start = time.perf_counter()
        loaded = load_model(name)
        load_s = time.perf_counter() - start
        measure_file = loaded.card.params < LARGE
        start = time.perf_counter()
        baseline = dense_baseline(loaded, measure_file)
        dense_s = time.perf_counter() - start
        sparsities = [0.3, 0.5, 0.7, 0.9, 0.6, 0.4, 0.8][: args.repeats]
        times = [one_change(loaded, baseline, s, measure_file) for s in sparsities]
        print(f"{name:<22}{load_s:8.1f}{dense_s:9.1f}{statistics.median(times):8.2f}{max(times):8.2f}  "
              f"{'yes' if measure_file else 'no (on request)'}")


if __name__ == "__main__":
    main()
