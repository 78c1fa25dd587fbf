"""Time from a control change to the cheap figures and to all results on the Explore page, per zoo model.

In process (no browser: bench/slider_latency.py times the page). Cheap: counts, sizes, per-layer
bars and one layer's histogram from the weights and masks (prune_core.summary). Full: everything a
slider move costs on the page: prune (magnitude, layer or global allocation), materialise the
copy, sizes (incl. compressed file where the page measures it by default), held-out quality,
dense+pruned latency, the histogram of one layer, and the dense-vs-pruned sample outputs.
The dense baseline and the model load are cached by the page and timed separately here.
Run: python bench/explore_latency.py [--models a,b] [--threads 2] [--repeats 5] [--allocation global]
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
from prune_core.summary import summarize, warm  # noqa: E402
from prune_core.zoo import EMBEDDED, load_model  # noqa: E402



def one_change(loaded, baseline, sparsity: float, measure_file: bool, allocation: str) -> tuple[float, float]:
    """(seconds to the cheap figures, seconds to everything) of one move, as the page does it."""
    spec = LatencySpec.for_model(loaded.card)  # the page's defaults
    config = PruneConfig(method="magnitude", sparsity=sparsity, allocation=allocation)
    start = time.perf_counter()
    summary = summarize(loaded, config)  # counts, sizes, per-layer bars, one layer's histogram
    tables.layers_frame(summary)
    tables.sizes_frame(summary)
    tables.histogram_frame(*summary.weight_pair(loaded.model, summary.layers[0]))
    cheap = time.perf_counter() - start
    result, pruned = run(loaded, config, baseline, spec, measure_file, summary=summary)
    if loaded.task == "causal-lm":
        for m in (loaded.model, pruned):
            samples.generate(m, loaded.tokenizer, samples.EXAMPLE_PROMPT, samples.new_tokens(loaded.card.params))
    else:
        for m in (loaded.model, pruned):
            samples.classify(m, loaded.tokenizer, samples.EXAMPLE_SENTENCES)
    return cheap, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(EMBEDDED))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--allocation", default="layer", choices=["layer", "global"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; sparsities cycled over 30..90 %")
    print(f"{'model':<22}{'load s':>8}{'warm s':>8}{'dense s':>9}{'cheap p50':>10}{'cheap max':>10}{'full p50':>9}"
          f"{'full max':>9}  file size measured")
    for name in args.models.split(","):
        start = time.perf_counter()
        loaded = load_model(name)
        load_s = time.perf_counter() - start
        measure_file = not loaded.card.big  # the page's default
        start = time.perf_counter()
        warm(loaded)  # the page builds these facts in the background when the model is picked
        warm_s = time.perf_counter() - start
        start = time.perf_counter()
        baseline = dense_baseline(loaded, measure_file)
        dense_s = time.perf_counter() - start
        sparsities = [0.3, 0.5, 0.7, 0.9, 0.6, 0.4, 0.8][: args.repeats]
        cheap, full = zip(*[one_change(loaded, baseline, s, measure_file, args.allocation) for s in sparsities])
        print(f"{name:<22}{load_s:8.1f}{warm_s:8.1f}{dense_s:9.1f}{statistics.median(cheap):10.3f}{max(cheap):10.3f}"
              f"{statistics.median(full):9.2f}{max(full):9.2f}  {'yes' if measure_file else 'no (on request)'}")


if __name__ == "__main__":
    main()
