"""Recovery figures: one-shot, one-shot + recovery fine-tuning, gradual and movement pruning; claim (c).

For each model and sparsity: held-out quality of one-shot magnitude pruning, of the same followed by
recovery fine-tuning (mask kept), of gradual magnitude and movement pruning (pruned during the same
training budget), and of the dense model fine-tuned for the same steps (a control: it separates
"pruning helped" from "more training helped"). Mean ± std and min–max over seeds (the seed sets the
batch order), wall time of each run, all on a fixed number of CPU threads. Then, per model, whether
claim (c) of Gholami & Omar (2023) held here: some pruned + fine-tuned model is better than the dense
model on held-out data for every seed (i.e. beyond the seed spread).

Run: python bench/recovery.py [--models tiny-shakespeare-gpt,tiny-sentiment-bert] [--sparsities 0.5,0.8]
                              [--seeds 3] [--threads 2] [--quick] [--out rows.jsonl]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from prune_core.config import PruneConfig  # noqa: E402
from prune_core.finetune import finetune, finetune_baseline, recovery_budget  # noqa: E402
from prune_core.quality import Metric, metric_named  # noqa: E402
from prune_core.run import measure_quality, prune_model  # noqa: E402
from prune_core.zoo import load_model  # noqa: E402

VARIANTS = ("one-shot", "one-shot + recovery", "gradual", "movement")


def _stats(xs: list[float]) -> dict:
    return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs), "max": max(xs), "n": len(xs)}


def _better(a: float, b: float, metric: Metric, margin: float = 0.0) -> bool:
    """a beats b by more than `margin` (perplexity: lower is better; accuracy: higher)."""
    return metric.gain(a, b) > margin


def bench_model(name: str, sparsities: list[float], seeds: list[int], quick: bool) -> tuple[list[dict], dict]:
    loaded = load_model(name)
    ft = recovery_budget(name)
    if quick:
        ft = replace(ft, steps=max(4, ft.steps // 5), eval_every=max(1, ft.steps // 10))
    base = finetune_baseline(loaded, ft)
    metric = loaded.card.quality_metric
    rows = [{"model": name, "sparsity": 0.0, "variant": "dense", "seed": None, "quality": base.quality,
             "val_loss": base.val_loss, "gap": base.val_loss - base.train_loss, "seconds": base.seconds}]

    def add(variant: str, sparsity: float, seed: int | None, result=None, quality=None, seconds=None) -> None:
        rows.append({"model": name, "sparsity": sparsity, "variant": variant, "seed": seed,
                     "quality": result.quality if result else quality,
                     "val_loss": result.val_loss if result else None,
                     "gap": result.generalization_gap if result else None,
                     "seconds": result.seconds if result else seconds,
                     "diverged": bool(result and result.diverged)})
        print(f"  {name} {variant:<22} s={sparsity:.2f} seed={seed} {metric} {rows[-1]['quality']:.4f} "
              f"({rows[-1]['seconds']:.1f} s)", file=sys.stderr, flush=True)

    for seed in seeds:
        result, _ = finetune(loaded, PruneConfig(method="magnitude", sparsity=0.0, seed=seed), replace(ft, seed=seed),
                             baseline=base)
        add("dense + same training", 0.0, seed, result)
    for s in sparsities:
        start = time.perf_counter()
        _, pruned = prune_model(loaded, PruneConfig(method="magnitude", sparsity=s))
        add("one-shot", s, None, quality=measure_quality(loaded, pruned), seconds=time.perf_counter() - start)
        for seed in seeds:
            for variant, method in (("one-shot + recovery", "magnitude"), ("gradual", "gradual"),
                                    ("movement", "movement")):
                result, _ = finetune(loaded, PruneConfig(method=method, sparsity=s, seed=seed), replace(ft, seed=seed),
                                     baseline=base)
                add(variant, s, seed, result)
    return rows, {"model": name, "metric": metric, "budget": ft.to_dict(), "dense": base.quality,
                  "n_eval": loaded.card.eval.get("n_examples", loaded.card.eval.get("max_tokens"))}


def summarize(rows: list[dict], info: dict) -> list[dict]:
    table = []
    keys = []
    for r in rows:
        k = (r["sparsity"], r["variant"])
        if k not in keys:
            keys.append(k)
    for s, variant in keys:
        group = [r for r in rows if (r["sparsity"], r["variant"]) == (s, variant)]
        q = _stats([r["quality"] for r in group])
        gaps = [r["gap"] for r in group if r["gap"] is not None]
        table.append({"model": info["model"], "sparsity": s, "variant": variant, "quality": q,
                      "gap": statistics.fmean(gaps) if gaps else None,
                      "seconds": statistics.fmean(r["seconds"] for r in group),
                      "diverged": sum(bool(r.get("diverged")) for r in group)})
    return table


def verdict(table: list[dict], info: dict) -> str:
    """Claim (c): a pruned + fine-tuned model beats the dense one on held-out data for every seed.

    "Beats" means by more than the evaluation's own noise where it is known (accuracy on n examples:
    one binomial standard error); "did not hold" needs every variant worse on every seed by as much.
    """
    metric, dense = metric_named(info["metric"]), info["dense"]
    margin = math.sqrt(dense * (1 - dense) / info["n_eval"]) if metric.proportion else 0.0
    worst = (lambda q: q["max"]) if metric.lower_is_better else (lambda q: q["min"])
    best = (lambda q: q["min"]) if metric.lower_is_better else (lambda q: q["max"])
    control = next(r for r in table if r["variant"] == "dense + same training")
    tuned = [r for r in table if r["variant"] in ("one-shot + recovery", "gradual", "movement")]
    held = [r for r in tuned if _better(worst(r["quality"]), dense, metric, margin)]
    lost = [r for r in tuned if _better(dense, best(r["quality"]), metric, margin)]
    noise = f" (evaluation noise: ±{margin:.4f})" if margin else ""
    top = metric.best_of(tuned, key=lambda r: r["quality"]["mean"])
    dense_gap = next(r["gap"] for r in table if r["variant"] == "dense")
    gap_line = (f" Val−train loss gap of the best pruned + fine-tuned model ({top['variant']} at {top['sparsity']:.0%}): "
                f"{top['gap']:.3f}, dense {dense_gap:.3f}, dense + same training {control['gap']:.3f}.")
    if held:
        top = metric.best_of(held, key=lambda r: r["quality"]["mean"])
        word = (f"HELD: {top['variant']} at {top['sparsity']:.0%} has {metric.name} {top['quality']['mean']:.4f} "
                f"(seeds {top['quality']['min']:.4f}–{top['quality']['max']:.4f}) vs dense {dense:.4f}{noise}")
        if _better(worst(top["quality"]), best(control["quality"]), metric, margin):
            word += (f"; it also beats the dense model given the same training ({control['quality']['mean']:.4f})")
        else:
            word += (f"; but the dense model given the same training reaches {control['quality']['mean']:.4f} "
                     f"({best(control['quality']):.4f} at best): the gain comes from the extra training, not from "
                     "pruning")
        return word + "." + gap_line
    if len(lost) == len(tuned):
        return f"DID NOT HOLD: every pruned + fine-tuned model is worse than dense ({dense:.4f}) on every seed{noise}." \
            + gap_line
    return (f"INCONCLUSIVE: no pruned + fine-tuned model beats dense ({dense:.4f}) on every seed{noise}, but not all "
            "are clearly worse: the difference is within the seed spread or the evaluation noise." + gap_line)


def print_table(table: list[dict], info: dict, threads: int) -> None:
    b, metric = info["budget"], metric_named(info["metric"])
    print(f"\n### {info['model']} — {metric.name} on held-out data ({metric.better} is better); budget {b['steps']} steps, lr {b['lr']:g}, batch {b['batch_size']}"
          + (f" x {b['seq_len']} tokens" if metric.task == "causal-lm" else "") + f", {threads} threads\n")
    print("| sparsity | variant | quality mean ± std | min–max | val−train loss gap | wall time / run |")
    print("|---|---|---|---|---|---|")
    for r in table:
        q = r["quality"]
        spread = f"{q['min']:.4f}–{q['max']:.4f}" if q["n"] > 1 else "(one value)"
        gap = "" if r["gap"] is None else f"{r['gap']:.3f}"
        flag = f" ({r['diverged']} diverged)" if r["diverged"] else ""
        print(f"| {r['sparsity']:.0%} | {r['variant']}{flag} | {q['mean']:.4f} ± {q['std']:.4f} | {spread} | {gap} | "
              f"{r['seconds']:.1f} s |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny-shakespeare-gpt,tiny-sentiment-bert")
    ap.add_argument("--sparsities", default="0.5,0.8")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 seed and a fifth of the steps: checks the script runs")
    ap.add_argument("--out", metavar="JSONL", help="also write every run as a JSON line")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [0] if args.quick else list(range(args.seeds))
    sparsities = [float(s) for s in args.sparsities.split(",")]
    all_rows, verdicts = [], []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        rows, info = bench_model(name, sparsities, seeds, args.quick)
        table = summarize(rows, info)
        print_table(table, info, args.threads)
        verdicts.append(f"- **{name}**, claim (c): {verdict(table, info)}")
        all_rows += rows
    print(f"\nDevice: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}, torch {torch.__version__}, "
          f"seeds {seeds}" + (" (QUICK: not figures to report)" if args.quick else ""))
    print("\n".join(verdicts))
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in all_rows))


if __name__ == "__main__":
    main()
