"""How torch's OpenMP threads wait, and what it does to a slider move when the cores are shared.

A child process per setting times a zoo model on the page's latency input (1 x 128 tokens, 32 for
big models) and on one-step forwards of 8 tokens (the shape of generating a sample: 80, 20 for big
models), at 1 and 2 threads, under libgomp's wait settings: `default` (nothing set: spin about
300k rounds, then sleep), ACTIVE (spin), PASSIVE (sleep at once) and `spin=N` (GOMP_SPINCOUNT=N),
alone and beside one busy process (a second student's job, the browser drawing the page).
Run: python bench/omp_wait.py [--models tiny-shakespeare-gpt,smollm2-135m] [--settings default,PASSIVE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, torch
from prune_core.zoo import load_model
loaded = load_model(sys.argv[2])
model = loaded.model.eval()
big = loaded.card.big
long, short = torch.randint(0, 60, (1, 32 if big else 128)), torch.randint(0, 60, (1, 8))
steps_n = 20 if big else 80
out = {}
with torch.inference_mode():
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for _ in range(3):
            model(input_ids=long)
        fwd, steps = [], []
        for _ in range(int(sys.argv[1])):
            start = time.perf_counter()
            for _ in range(10):
                model(input_ids=long)
            fwd.append((time.perf_counter() - start) / 10 * 1000)
            start = time.perf_counter()
            for _ in range(steps_n):
                model(input_ids=short)
            steps.append(time.perf_counter() - start)
        out[threads] = {"fwd_ms": fwd, "steps_s": steps}
print(json.dumps(out))
"""


def child(model: str, setting: str, repeats: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    if setting.startswith("spin="):
        env.update(GOMP_SPINCOUNT=setting.split("=", 1)[1], OMP_WAIT_POLICY="")
    elif setting != "default":
        env["OMP_WAIT_POLICY"] = setting
    else:  # prune_core sets PASSIVE unless told otherwise: tell it libgomp's own default
        env["OMP_WAIT_POLICY"] = ""
    done = subprocess.run([sys.executable, "-c", CHILD, str(repeats), model], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--models", default="tiny-shakespeare-gpt")
    ap.add_argument("--settings", default="default,ACTIVE,PASSIVE")
    args = ap.parse_args()
    print(f"{len(os.sched_getaffinity(0))} cores usable; medians of {args.repeats} repeats; "
          "forward = page's latency input, steps = one-step forwards of 8 tokens (80, big models 20)")
    print(f"{'model':<22}{'load':<15}{'setting':<12}{'threads':>8}{'forward ms':>12}{'steps s':>10}")
    for load in ("alone", "one busy core"):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "alone" else None
        try:
            for model in args.models.split(","):
                for setting in args.settings.split(","):
                    for threads, r in child(model, setting, args.repeats).items():
                        print(f"{model:<22}{load:<15}{setting:<12}{threads:>8}{statistics.median(r['fwd_ms']):12.1f}"
                              f"{statistics.median(r['steps_s']):10.3f}", flush=True)
        finally:
            if busy is not None:
                busy.kill()


if __name__ == "__main__":
    main()
