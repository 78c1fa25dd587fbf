"""`prune` and `finetune`: one model, settings from flags or a recipe, a printed (or JSON) result."""
from __future__ import annotations

import argparse
import json
import sys

import torch
import transformers

from ..errors import PruneScopeError
from ..export import check_export_dir
from ..finetune import finetune
from ..recipe import export_finetuned, export_pruned
from ..run import LatencySpec, check_fits, run
from ..zoo import load_model
from .inputs import finetune_inputs, prune_inputs


def _check_positive(args: argparse.Namespace) -> None:
    for flag in ("batch", "seq_len", "reps", "threads"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise PruneScopeError(f"--{flag.replace('_', '-')} must be at least 1")


def cmd_prune(args: argparse.Namespace) -> None:
    _check_positive(args)
    name, config = prune_inputs(args)  # fail fast, before loading
    if args.export:
        check_export_dir(args.export)
    loaded = load_model(name)
    default = LatencySpec.for_model(loaded.card)
    spec = LatencySpec(args.batch, args.seq_len or default.seq_len, args.reps or default.reps, 2, args.threads)
    check_fits(loaded, config, spec)  # sequence lengths against this model, before the prune
    result, pruned = run(loaded, config, latency=spec, measure_file=not args.no_file_size)
    record = result.summary() | {"layers": [l.to_dict() for l in result.layers], "notes": result.notes,
                                 "owl": result.owl}
    if args.export:
        export_pruned(pruned, loaded, result, config, args.export)
        record["export_dir"] = args.export
    if args.json:
        print(json.dumps(record, default=str))
        return
    q = lambda v: f"{v:.4f}"  # noqa: E731
    print(f"{result.model}: {result.method} {result.pattern} ({result.allocation}, scope {result.scope})")
    if result.structure is not None:
        print(f"  removed    {result.sparsity_actual:.2%} of {result.params_in_scope:,} weights in scope "
              f"(whole {result.pattern}s); the model is {1 - result.params_total / result.size_dense.params_total:.1%} "
              "smaller")
    else:
        print(f"  sparsity   target {result.sparsity_target:.1%}  reached {result.sparsity_actual:.2%} of "
              f"{result.params_in_scope:,} weights in scope; {result.sparsity_model:.2%} of the whole model")
    print(f"  params     {result.params_total:,} total, {result.params_nonzero:,} nonzero")
    print(f"  {result.quality_metric:<10} dense {q(result.quality_dense)}  pruned {q(result.quality)}")
    print(f"  latency    dense {result.latency_ms_dense:.2f} ms  pruned {result.latency_ms:.2f} ms  "
          f"({result.latency_pruned.setup})")
    for key in ("dense_fp32", "csr", "bitmask", "nm_2_4", "file_zstd"):
        d, p_ = getattr(result.size_dense, key), getattr(result.size_pruned, key)
        fmt = lambda b: "n/a" if b is None else f"{b / 1e6:.2f} MB"  # noqa: E731
        print(f"  size {key:<10} dense {fmt(d):>11}  pruned {fmt(p_):>11}")
    print(f"  note       {result.speed_note}")
    for note in result.notes:
        print(f"  note       {note}")
    if args.export:
        print(f"  exported to {args.export} (rebuild: python -m prune_core prune --recipe {args.export}/recipe.json)")


def cmd_finetune(args: argparse.Namespace) -> None:
    name, config, ft, env = finetune_inputs(args)  # fail fast, before loading
    if args.export:
        check_export_dir(args.export)  # before training, not after
    loaded = load_model(name)

    def progress(point, steps: int) -> None:
        if point.val_loss is not None:
            print(f"step {point.step:>5}/{steps}  train loss {point.train_loss:.4f}  val loss {point.val_loss:.4f}  "
                  f"sparsity {point.sparsity:.2%}", file=sys.stderr, flush=True)

    result, model = finetune(loaded, config, ft, progress)
    for key, now in (("torch", torch.__version__), ("transformers", transformers.__version__)):
        if env.get(key) not in (None, now):
            result.notes.append(f"the recipe was made with {key} {env[key]}; this is {now}: figures may differ slightly")
    record = result.summary() | {"notes": result.notes, "curve": [p.to_dict() for p in result.curve]}
    if args.export:
        export_finetuned(model, loaded, result, config, ft, args.export)
        record["export_dir"] = args.export
    if args.json:
        print(json.dumps(record, default=str))
        return
    q = lambda v: "n/a (pruned during training)" if v is None else f"{v:.4f}"  # noqa: E731
    print(f"{result.model}: {result.method} {result.pattern} {result.sparsity_target:.0%}, fine-tuned "
          f"{result.steps_done}/{result.steps} steps (lr {result.lr:g}, batch {result.batch_size}, seed {result.seed}) "
          f"on {result.device} in {result.seconds:.1f} s")
    print(f"  {result.quality_metric:<10} dense {q(result.quality_dense)}  one-shot {q(result.quality_pruned)}  "
          f"fine-tuned {q(result.quality)}")
    print(f"  sparsity   target {result.sparsity_target:.1%}  final {result.sparsity_actual:.2%} of "
          f"{result.params_in_scope:,} weights in scope (pattern kept at every step)")
    print(f"  loss       fine-tuned train {result.train_loss:.4f} val {result.val_loss:.4f} (gap "
          f"{result.generalization_gap:+.4f}); dense train {result.train_loss_dense:.4f} val "
          f"{result.val_loss_dense:.4f} (gap {result.generalization_gap_dense:+.4f})")
    if result.partial:
        print("  PARTIAL    stopped before the budget was spent")
    if result.diverged:
        print("  DIVERGED   the last good weights were restored")
    for note in result.notes:
        print(f"  note       {note}")
    if args.export:
        print(f"  exported to {args.export} (replay: python -m prune_core finetune --recipe "
              f"{args.export}/recipe.json)")
