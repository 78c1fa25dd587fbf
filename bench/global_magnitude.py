"""Global magnitude mask time: PruneScope vs torch.nn.utils.prune.global_unstructured.

Same BERT-base-sized model (12 layers, 768 wide, 72 linear layers, ~85 M prunable weights,
random init: only shapes matter for timing), same 50 % global L1 target, same process, each
repetition on a fresh copy, PruneScope first (so it never profits from memory torch warmed).
Masks are compared weight by weight: they must be identical except among weights whose |w| equals
the cut exactly, where torch's choice is the order std::nth_element happens to leave (see
`patterns.global_lowest_k`); the bench counts those ties and says where any difference lies.
Run: python bench/global_magnitude.py [--threads 2] [--sparsity 0.5] [--repeats 3]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn.utils import prune

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_core.config import PruneConfig  # noqa: E402
from prune_core.methods import get_method  # noqa: E402
from prune_core.targets import find_targets  # noqa: E402


def compare(model, targets, ours, theirs_modules, threshold: float) -> str:
    """How the two mask sets differ: nowhere, or only among the weights tied at the cut."""
    params = dict(model.named_parameters())
    differ = ties = outside = 0
    for t in targets:
        mine, torch_mask = ours.masks[t.name], theirs_modules[t.module].weight_mask.bool()
        tied = params[t.name].detach().abs() == threshold
        diff = mine != torch_mask
        differ += int(diff.sum())
        ties += int(tied.sum())
        outside += int((diff & ~tied).sum())
    if differ == 0:
        return f"masks identical to torch's, bit for bit ({ties} weights tied at the cut)"
    return (f"masks differ on {differ} weights, {outside} of them outside the {ties} weights tied at the cut "
            "(|w| == threshold; torch picks among those by std::nth_element order)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig()).eval().requires_grad_(False)  # BERT-base shapes
    targets = find_targets(model, "all")
    n = sum(t.numel for t in targets)
    config = PruneConfig(method="magnitude", sparsity=args.sparsity, allocation="global").validated()
    print(f"model: BERT-base shapes, {len(targets)} linear layers, {n:,} prunable weights; "
          f"global magnitude {args.sparsity:.0%}; {args.threads} threads; torch {torch.__version__}", flush=True)
    t_ours, t_torch = [], []
    for rep in range(args.repeats):
        start = time.perf_counter()
        ours = get_method("magnitude").prune(model, targets, config)
        t_ours.append(time.perf_counter() - start)
        theirs_model = copy.deepcopy(model)
        modules = dict(theirs_model.named_modules())
        params = [(modules[t.module], "weight") for t in targets]
        start = time.perf_counter()
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=args.sparsity)
        t_torch.append(time.perf_counter() - start)
        removed = sum(int((~m).sum()) for m in ours.masks.values())
        threshold = next(iter(ours.thresholds.values()))
        print(f"run {rep + 1}: prunescope {t_ours[-1]:6.3f} s, torch {t_torch[-1]:6.2f} s, "
              f"{t_torch[-1] / t_ours[-1]:5.1f}x; removed {removed:,} = {removed / n:.4%}; "
              f"{compare(model, targets, ours, modules, threshold)}", flush=True)
        del theirs_model, modules, params
    mo, mt = statistics.median(t_ours), statistics.median(t_torch)
    print(f"prunescope masks:                          median {mo:6.3f} s (min {min(t_ours):.3f})")
    print(f"torch.nn.utils.prune.global_unstructured:  median {mt:6.2f} s (min {min(t_torch):.2f})")
    print(f"speedup: {mt / mo:.1f}x (ratio of medians); per run: "
          + ", ".join(f"{b / a:.1f}x" for a, b in zip(t_ours, t_torch)))


if __name__ == "__main__":
    main()
