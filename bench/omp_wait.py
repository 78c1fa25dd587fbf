"""How torch's OpenMP threads wait, and what it does to a slider move when the cores are shared.

A child process per setting times the tiny GPT on the page's latency input (1 x 128 tokens) and on
80 one-step forwards of 8 tokens (the shape of generating a sample), at 1 and 2 threads, with
OMP_WAIT_POLICY=ACTIVE (spin, libgomp's default behaviour) and PASSIVE (sleep; PruneScope's
default, set in prune_core/__init__.py), alone and beside one busy process (a second student's job,
the browser drawing the page).
Run: python bench/omp_wait.py [--repeats 6]
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
model = load_model("tiny-shakespeare-gpt").model.eval()
long, short = torch.randint(0, 60, (1, 128)), torch.randint(0, 60, (1, 8))
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
            for _ in range(80):
                model(input_ids=short)
            steps.append(time.perf_counter() - start)
        out[threads] = {"fwd_ms": fwd, "steps_s": steps}
print(json.dumps(out))
"""


def child(policy: str, repeats: int) -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY=policy, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD, str(repeats)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=6)
    args = ap.parse_args()
    print(f"tiny-shakespeare-gpt on {os.cpu_count()} cores; medians of {args.repeats} repeats")
    print(f"{'load':<16}{'policy':<9}{'threads':>8}{'128-token forward ms':>22}{'80 one-step forwards s':>24}")
    for load in ("alone", "one busy core"):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "alone" else None
        try:
            for policy in ("ACTIVE", "PASSIVE"):
                for threads, r in child(policy, args.repeats).items():
                    print(f"{load:<16}{policy:<9}{threads:>8}{statistics.median(r['fwd_ms']):22.1f}"
                          f"{statistics.median(r['steps_s']):24.3f}", flush=True)
        finally:
            if busy is not None:
                busy.kill()


if __name__ == "__main__":
    main()
