"""The server's side of a class, without browsers: N Explore sessions move the slider at the same moment.

bench/classroom.py measures a class where the N headless Chromiums share the server's two cores. In a
real class they run on the students' machines. This bench runs the same page script for N sessions
in one process (Streamlit's AppTest: the real page, caches and job gate, without the websocket) and
times each session's rerun, from the move until the page has every result. Session i uses seed i,
and the moves, seed changes and checks are those of bench/classroom.py (sparsity and held-out quality
checked against in-process runs).

    python bench/classroom_server.py --sessions 10 --moves 5

A diagnostic: what a user feels is the browser bench. This one says how much of it is the server's.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from classroom import expected_quality, plan_moves, quality_mismatch  # noqa: E402


def share_runtime() -> None:
    """AppTest installs a stand-in Streamlit runtime for each run and removes it when the run ends,
    which breaks runs of other sessions still going. Keep the last one for every thread instead."""
    from streamlit.runtime import Runtime

    kept: dict[str, object] = {}
    original = Runtime.instance.__func__

    def instance(cls):
        if cls._instance is not None:
            kept["runtime"] = cls._instance
            return cls._instance
        return kept.get("runtime") or original(cls)
    Runtime.instance = classmethod(instance)
    Runtime.exists = classmethod(lambda cls: cls._instance is not None or "runtime" in kept)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if label in m.label)


def seed_box(at):
    return next(n for n in at.number_input if n.label == "Seed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny-shakespeare-gpt")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--moves", type=int, default=5)
    args = ap.parse_args()
    os.chdir(ROOT)
    import torch

    from conftest import render_page

    # the pages' caches, read from this thread between runs, would warn of a missing script-run context
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage())

    plan = plan_moves(args.moves, 0, 1000)
    expected = expected_quality(args.model, {s for _, s, _ in plan})
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # as a server: torch's default, every core
    share_runtime()
    sessions = [render_page("explore", args.model) for _ in range(args.sessions)]
    for i, at in enumerate(sessions):
        seed_box(at).set_value(i).run()
    times: list[float] = []
    problems: list[str] = []
    cpu0, moving = time.process_time(), 0.0  # CPU before, seconds of moves

    def move(at, i: int, kind: str, sparsity: int, seed: int, start: float) -> None:
        try:
            if kind == "seed":
                seed_box(at).set_value(seed + i)
            else:
                at.slider[0].set_value(sparsity)
            at.run()
            times.append(time.perf_counter() - start)
            if at.exception or at.error:
                problems.append(f"session {i} at {sparsity} %: {(at.exception or at.error)[0].value}")
            elif metric(at, "Weights removed") != f"{sparsity:.1f}%":
                problems.append(f"session {i}: shows {metric(at, 'Weights removed')}, expected {sparsity} %")
            else:
                label = "Held-out perplexity" if any("perplexity" in m.label for m in at.metric) else "Held-out accuracy"
                if wrong := quality_mismatch(expected, sparsity, float(metric(at, label))):
                    problems.append(f"session {i}, {label}: {wrong}")
        except Exception as exc:  # counted, the bench goes on
            problems.append(f"session {i} at {sparsity} %: {type(exc).__name__}: {exc}")

    for kind, sparsity, seed in plan:
        start = time.perf_counter()
        threads = [threading.Thread(target=move, args=(at, i, kind, sparsity, seed, start))
                   for i, at in enumerate(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        moving += time.perf_counter() - start
    cpu = time.process_time() - cpu0
    print(f"model {args.model}, {args.sessions} sessions x {len(plan)} moves (a seed per session: no two alike), "
          f"server only (AppTest, no browsers), torch {torch.get_num_threads()} threads, "
          f"{len(os.sched_getaffinity(0))} cores")
    print(f"  all results on the page   p50 {statistics.median(times):6.2f} s   max {max(times):6.2f} s   "
          f"(n={len(times)})")
    print(f"  CPU {cpu:.1f} s in {moving:.1f} s of moves ({cpu / moving:.2f} cores busy); "
          f"{cpu / len(times):.2f} s per session and move")
    print(f"  errors and wrong figures: {len(problems)}")
    for line in problems[:10]:
        print("   ", line)


if __name__ == "__main__":
    main()
