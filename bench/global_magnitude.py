"""Global magnitude mask time: PruneScope vs torch.nn.utils.prune.global_unstructured.

Same BERT-base-sized model (12 layers, 768 wide, 72 linear layers, ~85 M prunable weights,
random init: only shapes matter for timing), same 50 % global L1 target, same process.
Run: python bench/global_magnitude.py [--threads 2] [--sparsity 0.5]
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch.nn.utils import prune

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prune_core.config import PruneConfig  # noqa: E402
from prune_core.methods import get_method  # noqa: E402
from prune_core.targets import find_targets  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig()).eval().requires_grad_(False)  # BERT-base shapes
    targets = find_targets(model, "all")
    n = sum(t.numel for t in targets)
    config = PruneConfig("magnitude", args.sparsity, allocation="global").validated()

    start = time.perf_counter()
    ours = get_method("magnitude").prune(model, targets, config)
    t_ours = time.perf_counter() - start

    theirs_model = copy.deepcopy(model)
    modules = dict(theirs_model.named_modules())
    params = [(modules[t.module], "weight") for t in targets]
    start = time.perf_counter()
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=args.sparsity)
    t_torch = time.perf_counter() - start

    same = sum(int((ours.masks[t.name] == modules[t.module].weight_mask.bool()).sum()) for t in targets)
    removed = sum(int((~m).sum()) for m in ours.masks.values())
    print(f"model: BERT-base shapes, {len(targets)} linear layers, {n:,} prunable weights; "
          f"global magnitude {args.sparsity:.0%}; {args.threads} threads; {torch.__version__}")
    print(f"prunescope masks:                       {t_ours:8.2f} s  (removed {removed:,} = exactly "
          f"{removed / n:.4%})")
    print(f"torch.nn.utils.prune.global_unstructured: {t_torch:8.2f} s")
    print(f"speedup: {t_torch / t_ours:.1f}x; masks agree on {same / n:.4%} of weights (ties may differ)")


if __name__ == "__main__":
    main()
