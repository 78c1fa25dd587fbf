"""The shipped data loads, and no validation text leaks into training."""
from __future__ import annotations

import pytest

from prune_core import datasets


def test_data_dir_is_the_repo_data_folder() -> None:
    assert (datasets.DATA_DIR / "README.md").is_file()


@pytest.mark.parametrize("split", ["train", "valid"])
def test_shakespeare_loads(split: str) -> None:
    text = datasets.shakespeare_text(split)
    assert len(text) > 100_000
    assert "\n" in text and "Gutenberg" not in text


def test_shakespeare_valid_is_about_a_seventh_of_all() -> None:
    train, valid = datasets.shakespeare_text("train"), datasets.shakespeare_text("valid")
    assert 0.10 <= len(valid) / (len(train) + len(valid)) <= 0.16


def test_shakespeare_valid_plays_are_not_in_train() -> None:
    train = datasets.shakespeare_text("train")
    valid = datasets.shakespeare_text("valid")
    assert valid.startswith("MACBETH") and "TWELFTH NIGHT" in valid
    assert "MACBETH" not in train and "TWELFTH NIGHT" not in train
    # Long lines are (practically) unique to their play; short ones like "[Exeunt.]" recur.
    train_lines = {line.strip() for line in train.splitlines()}
    long_valid = [line.strip() for line in valid.splitlines() if len(line.strip()) >= 40]
    assert len(long_valid) > 1000
    assert not [line for line in long_valid if line in train_lines]


@pytest.mark.parametrize("split", ["train", "valid"])
def test_tweets_load(split: str) -> None:
    rows = datasets.tweets(split)
    assert len(rows) > (1000 if split == "valid" else 10_000)
    assert all(isinstance(t, str) and t and y in (0, 1) for t, y in rows)
    assert 0.1 < sum(y for _, y in rows) / len(rows) < 0.5  # both classes, negative majority


def test_tweet_splits_do_not_overlap() -> None:
    train = {t for t, _ in datasets.tweets("train")}
    valid = {t for t, _ in datasets.tweets("valid")}
    assert not train & valid


def test_tweets_returns_a_fresh_list() -> None:
    rows = datasets.tweets("valid")
    rows.clear()
    assert datasets.tweets("valid")


@pytest.mark.parametrize("loader", [datasets.shakespeare_text, datasets.tweets])
def test_unknown_split_is_a_clear_error(loader) -> None:
    with pytest.raises(ValueError, match="unknown split 'test'.*train, valid"):
        loader("test")
