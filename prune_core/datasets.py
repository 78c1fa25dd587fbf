"""Loaders for the small real data sets shipped in data/ (built by data/build/make_data.py).

Why: one place that knows the on-disk layout, so the app, benchmarks and tests
read identical splits. No Streamlit import: this must stay usable headless.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

DATA_DIR: Path = Path(__file__).resolve().parent.parent / "data"
SPLITS: tuple[str, ...] = ("train", "valid")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


@lru_cache(maxsize=None)
def shakespeare_text(split: str) -> str:
    """Whole-play Shakespeare text; 'valid' plays never appear in 'train'."""
    _check_split(split)
    return (DATA_DIR / "shakespeare" / f"{split}.txt").read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _tweets(split: str) -> tuple[tuple[str, int], ...]:
    _check_split(split)
    with (DATA_DIR / "tweets" / f"{split}.csv").open(encoding="utf-8", newline="") as f:
        return tuple((row["text"], int(row["label"])) for row in csv.DictReader(f))


def tweets(split: str) -> list[tuple[str, int]]:
    """(text, label) pairs, label 0=negative 1=positive; a fresh list so callers may mutate it."""
    return list(_tweets(split))
