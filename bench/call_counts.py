"""What one Explore slider move computes, counted over the whole page path, beside the counts recorded
before the move was made to flow one way.

The page is run headless (Streamlit's AppTest) on tiny-shakespeare-gpt with the moves of
tests/move_counts.py: controls -> one validated setting -> cheap phase -> one measurement job -> cards,
charts and outputs. Every counted function is wrapped in each module that imported it, in every thread,
and still does its work. tests/test_move_counts.py asserts the "now" column (each at most once).
Re-run: `HF_HUB_OFFLINE=1 python3 bench/call_counts.py`.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import streamlit as st  # noqa: E402
from move_counts import MOVES, counted, counting, explore, move  # noqa: E402

# Recorded at commit 00e4cda (the page before this flow) with the same harness and moves; "validations"
# were PruneConfig._resolution there, and faster.ask did not exist (faster.answer_for did the work).
BEFORE = {
    "sparsity 50 -> 70 %": {"validations": 4, "pattern parses": 31, "method look-ups (get_method)": 6,
                            "method lists (available)": 7, "faster.answer_for": 2, "eval_settings": 2,
                            "dense evaluations": 0, "cheap phases (summarize)": 1, "measurements (run.run)": 1},
    "global allocation": {"validations": 4, "pattern parses": 15, "method look-ups (get_method)": 6,
                          "method lists (available)": 7, "faster.answer_for": 2, "eval_settings": 2,
                          "dense evaluations": 0, "cheap phases (summarize)": 1, "measurements (run.run)": 1},
    "pattern 2:4": {"validations": 4, "pattern parses": 30, "method look-ups (get_method)": 6,
                    "method lists (available)": 7, "faster.answer_for": 2, "eval_settings": 2,
                    "dense evaluations": 0, "cheap phases (summarize)": 1, "measurements (run.run)": 1},
    "pattern neuron": {"validations": 4, "pattern parses": 12, "method look-ups (get_method)": 4,
                       "method lists (available)": 5, "faster.answer_for": 2, "eval_settings": 2,
                       "dense evaluations": 0, "cheap phases (summarize)": 1, "measurements (run.run)": 1},
    "predict mode (2 reruns: guess, reveal; cold cache)": {
        "validations": 10, "pattern parses": 40, "method look-ups (get_method)": 13, "method lists (available)": 16,
        "faster.answer_for": 2, "eval_settings": 4, "dense evaluations": 2, "cheap phases (summarize)": 1,
        "measurements (run.run)": 1},
}


def predict_mode():
    """Predict-then-reveal on a cold cache: the guess (dense quality shown), then the reveal (the measurement)."""
    st.cache_resource.clear()
    with counting() as counts:
        at = explore(predict_mode=True)
        at.button(key="FormSubmitter:predict_form-Reveal").click().run()
    assert not at.exception, at.exception
    return counts


def main() -> None:
    at = explore()
    measured = {name: move(at, change) for name, change in MOVES.items()}
    measured["predict mode (2 reruns: guess, reveal; cold cache)"] = predict_mode()
    labels = [c.label for c in counted()]
    width = max(map(len, labels))
    for name, counts in measured.items():
        print(f"\n{name}  (before -> now)")
        for label in labels:
            before = BEFORE[name].get(label, "-")
            print(f"  {label:<{width}}  {before!s:>3} -> {counts[label]}")


if __name__ == "__main__":
    main()
