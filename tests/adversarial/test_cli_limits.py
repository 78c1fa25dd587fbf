"""Hostile CLI values: each is refused before any work with exit 2, one line naming the limit, no
traceback, and nothing written (no store, no export folder, no CSV)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prune_core.cli import main
from prune_core.store import Store

ROOT = Path(__file__).resolve().parents[2]
GPT, BERT = "tiny-shakespeare-gpt", "tiny-sentiment-bert"


def refused(capsys, args: list[str], match: str) -> str:
    """Run the CLI in-process; assert exit 2, one 'error:' line matching `match`, nothing on stdout."""
    rc = main(args)
    out, err = capsys.readouterr()
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and out == ""
    assert __import__("re").search(match, lines[0]), lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store_with_one_run(tmp_path):
    path = tmp_path / "results.sqlite"
    store = Store(path)
    store.add({"model": BERT, "method": "magnitude", "quality": 0.8}, sweep="old", env={})
    store.close()
    return path


PRUNE_BAD = [
    (["--sparsity", "-0.1"], r"sparsity must be in \[0, 1\).*got -0\.1"),
    (["--sparsity", "nan"], r"sparsity must be in \[0, 1\).*got nan"),
    (["--sparsity", "inf"], r"sparsity must be in \[0, 1\).*got inf"),
    (["--sparsity", "1.0"], r"sparsity must be in \[0, 1\).*got 1\.0"),
    (["--sparsity", "0.33", "--pattern", "3:2"], r"pattern 3:2: need 0 < N < M"),
    (["--sparsity", "0.5", "--pattern", "0:4"], r"pattern 0:4: need 0 < N < M"),
    (["--sparsity", "0.5", "--pattern", "2:0"], r"pattern 2:0: need 0 < N < M"),
    (["--sparsity", "0.5", "--pattern", "a:b"], r"unknown pattern 'a:b'"),
    (["--sparsity", "0.5", "--method", "prune-it-all"], r"unknown method 'prune-it-all'; available: .*magnitude"),
    (["--sparsity", "0.5", "--method", "wanda", "--calib-samples", "1000000"],
     r"at most 1024 calibration samples .*got 1000000"),
    (["--sparsity", "0.5", "--method", "wanda", "--calib-samples", "0"], r"calibration needs at least 1 sample, got 0"),
    (["--sparsity", "0.5", "--method", "wanda", "--calib-seq-len", "100000"],
     r"calibration sequence length must be from 2 to 8192 tokens, got 100000"),
    (["--sparsity", "0.5", "--method", "sparsegpt", "--damping", "nan"],
     r"sparsegpt's damping must be a number from 0.0001 to 10, got nan"),
    (["--sparsity", "0.5", "--method", "sparsegpt", "--damping", "0"],
     r"sparsegpt's damping must be a number from 0.0001 to 10, got 0"),
    (["--sparsity", "0.5", "--damping", "0.1"], r"--damping is a parameter of sparsegpt; method 'magnitude' does not "
                                                r"take it"),
    (["--sparsity", "0.5", "--seed", str(2**70)], r"seed must be a whole number from 0 to 4294967295"),
    (["--sparsity", "0.5", "--batch", "0"], r"--batch must be at least 1"),
]


@pytest.mark.parametrize("extra, match", PRUNE_BAD, ids=[" ".join(a) for a, _ in PRUNE_BAD])
def test_prune_bad_values_write_nothing(capsys, tmp_path, extra, match):
    refused(capsys, ["prune", "--model", BERT, *extra, "--export", str(tmp_path / "out")], match)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, match", [
    (["--seq-len", "100000"], r"latency seq len must be from 1 to 256 \(this model's maximum of 256 positions\), "
                              r"got 100000"),
    (["--method", "wanda", "--calib-seq-len", "1000"], r"calibration sequence length 1000 is beyond this model's "
                                                       r"maximum of 256 tokens; use at most 256"),
    (["--batch", "100000"], r"latency batch must be from 1 to 256"),
])
def test_lengths_beyond_the_model_are_refused_before_the_prune(capsys, tmp_path, gpt, extra, match):
    from conftest import fingerprint

    before = fingerprint(gpt.model)
    start = time.perf_counter()
    refused(capsys, ["prune", "--model", GPT, "--sparsity", "0.5", *extra, "--export", str(tmp_path / "out")], match)
    assert time.perf_counter() - start < 60  # a model load, no prune or evaluation
    assert not (tmp_path / "out").exists()
    assert fingerprint(gpt.model) == before


SWEEP_BAD = [
    (["--sparsity", "0:0.9:0.0000001"], r"the sparsity grid has 9,000,001 points .*the limit is 200 runs"),
    (["--sparsity", "0:0.9:0.01", "--methods", "random,magnitude,wanda"], r"the sweep has 273 runs; the limit is 200"),
    (["--sparsity", ",".join(["0.5"] * 201)], r"the sparsity grid has 201 points"),
    (["--sparsity", "0:0.9:x"], r"cannot read the sparsity grid '0:0\.9:x'"),
    (["--sparsity", "0:0.9:0"], r"cannot read the sparsity grid .*step must be positive"),
    (["--sparsity", "0.9:0.1:0.1"], r"the sparsity grid is empty"),
    (["--sparsity", "0.1,nan"], r"sparsity nan in the grid is outside \[0, 1\)"),
    (["--sparsity", "0.5", "--methods", ","], r"the method list is empty"),
    (["--sparsity", "0.5", "--methods", "magnitude,bogus"], r"unknown method 'bogus'"),
    (["--sparsity", "0.5", "--calib-samples", "5000", "--methods", "wanda"], r"at most 1024 calibration samples"),
    (["--sparsity", "0.5", "--methods", "magnitude,wanda", "--damping", "0.1"],
     r"--damping is a parameter of sparsegpt; none of the methods swept \(magnitude, wanda\) takes it"),
    (["--sparsity", "0.5", "--methods", "magnitude,sparsegpt", "--damping", "20"],
     r"sparsegpt's damping must be a number from 0.0001 to 10, got 20"),
]


@pytest.mark.parametrize("extra, match", SWEEP_BAD, ids=[" ".join(a)[:40] for a, _ in SWEEP_BAD])
def test_sweep_bad_values_leave_the_store_unchanged(capsys, tmp_path, store_with_one_run, extra, match):
    before = digest(store_with_one_run)
    start = time.perf_counter()
    refused(capsys, ["sweep", "--model", BERT, *extra, "--store", str(store_with_one_run),
                     "--out", str(tmp_path / "runs.csv")], match)
    assert time.perf_counter() - start < 5  # refused before the grid is built or a model loads
    assert digest(store_with_one_run) == before and not (tmp_path / "runs.csv").exists()


def test_sweep_refuses_a_store_that_is_not_a_database(capsys, tmp_path):
    junk = tmp_path / "results.sqlite"
    junk.write_bytes(b"my thesis, not a database\n" * 50)
    before = digest(junk)
    refused(capsys, ["sweep", "--model", BERT, "--sparsity", "0.5", "--store", str(junk)],
            r"is not a usable PruneScope results store .*left untouched")
    assert digest(junk) == before


def test_sweep_refuses_a_store_location_that_cannot_exist(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("I am a file, not a folder")
    refused(capsys, ["sweep", "--model", BERT, "--sparsity", "0.5", "--store", str(blocker / "results.sqlite")],
            r"cannot open the results store at .*set PRUNESCOPE_DATA to a writable folder")
    assert blocker.read_text() == "I am a file, not a folder"


@pytest.mark.parametrize("extra, match", [
    (["--steps", "-1"], r"steps must be a whole number of at least 1, got -1"),
    (["--steps", "0"], r"a budget of 0 steps runs no training"),
    (["--steps", "1000000000"], r"at most 100,000 steps in one run"),
    (["--lr", "nan"], r"learning rate must be a finite number, got nan"),
    (["--lr", "inf"], r"learning rate must be a finite number, got inf"),
    (["--lr", "-0.001"], r"learning rate must be a positive number"),
    (["--batch-size", "100000"], r"batch size must be at most 1024"),
    (["--seed", str(2**70)], r"seed must be a whole number from 0 to 4294967295"),
])
def test_finetune_bad_budgets(capsys, tmp_path, extra, match):
    refused(capsys, ["finetune", "--model", BERT, "--sparsity", "0.5", *extra, "--export", str(tmp_path / "out")],
            match)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, match", [
    (["paper", "--seeds", "1000000000000"], r"--seeds must be from 1 to 20"),
    (["paper", "--tolerance", "inf"], r"the tolerance must be a positive number, got inf"),
    (["paper", "--tolerance", "nan"], r"the tolerance must be a positive number, got nan"),
    (["paper", "--claims", "abz"], r"--claims takes letters from 'abc'"),
    (["paper", "--sparsity", "0:0.9:0.001"], r"the sparsity grid has 901 points"),
    (["paper", "--sparsity", "0.01:0.99:0.01", "--methods", "random,magnitude"],
     r"claims \(a\) and \(b\) need 297 runs; the limit is 200"),
    (["history", "--limit", "0"], r"--limit must be a whole number from 1 to .*, got 0"),
    (["prune", "--sparsity", "0.5"], r"the following arguments are required: --model \(or --recipe FILE\)"),
])
def test_other_commands(capsys, args, match):
    refused(capsys, args, match)


def test_replay_refuses_setting_flags(capsys, tmp_path):
    """`paper --replay card --model X` used to ignore --model silently; now it says it cannot combine them."""
    card = tmp_path / "card.json"
    from prune_core import paper

    card.write_text(json.dumps(paper.reproducibility_card(paper.PaperSettings(), [])))
    for flags in (["--model", GPT], ["--claims", "a"], ["--seeds", "2", "--steps", "5"]):
        line = refused(capsys, ["paper", "--replay", str(card), *flags, "--card-out", str(tmp_path / "new.json")],
                       r"--replay reruns the card's own settings; .* cannot be combined with it")
        assert flags[0] in line
    assert not (tmp_path / "new.json").exists()


def test_a_finetune_recipe_is_not_replayed_by_prune(capsys, tmp_path):
    from prune_core.config import PruneConfig
    from prune_core.finetune import FinetuneConfig
    from prune_core.recipe import recipe

    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe(BERT, PruneConfig(), FinetuneConfig())))
    refused(capsys, ["prune", "--recipe", str(path), "--export", str(tmp_path / "out")],
            r"also fine-tunes; replay it with `python -m prune_core finetune --recipe")
    path.write_text(json.dumps({"prunescope_recipe": 1, "model": BERT, "prune": {"sparsity": "lots"},
                                "finetune": None}))
    refused(capsys, ["prune", "--recipe", str(path)], r"sparsity must be a number in \[0, 1\), got 'lots'")
    path.write_text(json.dumps(recipe(BERT, PruneConfig(), FinetuneConfig()) | {"finetune": {"seed": 2**70}}))
    refused(capsys, ["finetune", "--recipe", str(path), "--export", str(tmp_path / "out")],
            r"seed must be a whole number from 0 to 4294967295")
    assert not (tmp_path / "out").exists()


def test_history_of_a_missing_store_creates_nothing(capsys, tmp_path):
    assert main(["history", "--store", str(tmp_path / "none" / "results.sqlite")]) == 0
    assert "no stored runs" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()


def _cli(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prune_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1", **env))


def test_as_a_user_runs_it_seq_len_and_huge_grid(tmp_path):
    """Through a real process: exit 2, one stderr line, no traceback, nothing stored or exported."""
    out = _cli("prune", "--model", GPT, "--sparsity", "0.5", "--seq-len", "100000", "--export", str(tmp_path / "x"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stdout == ""
    assert out.stderr.strip().splitlines() == ["error: latency seq len must be from 1 to 256 (this model's maximum "
                                               "of 256 positions), got 100000"]
    assert not (tmp_path / "x").exists()
    out = _cli("sweep", "--model", BERT, "--sparsity", "0:0.9:0.0000001", PRUNESCOPE_DATA=str(tmp_path / "data"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "9,000,001 points" in out.stderr
    assert not (tmp_path / "data").exists()


def test_output_places_are_checked_before_the_work(capsys, tmp_path, store_with_one_run):
    """Outputs that could not be written fail in a second, before a prune, sweep or training runs."""
    a_file = tmp_path / "a-file"
    a_file.write_text("keep")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.txt").write_text("keep")
    before = digest(store_with_one_run)
    cases = [
        (["prune", "--model", BERT, "--sparsity", "0.5", "--export", str(a_file)], r"export folder .* is not empty"),
        (["finetune", "--model", BERT, "--sparsity", "0.5", "--export", str(busy)], r"export folder .* is not empty"),
        (["sweep", "--model", BERT, "--sparsity", "0.5", "--store", str(store_with_one_run), "--out",
          str(tmp_path / "no" / "such" / "runs.csv")], r"--out .*: the folder .*no/such does not exist"),
        (["paper", "--claims", "a", "--card-out", str(tmp_path / "missing" / "card.json")],
         r"--card-out .*: the folder .*missing does not exist"),
        (["paper", "--claims", "a", "--card-out", str(busy)], r"--card-out .*: is a folder; give a file name"),
    ]
    for args, match in cases:
        start = time.perf_counter()
        refused(capsys, args, match)
        assert time.perf_counter() - start < 5, args
    assert a_file.read_text() == "keep" and [p.name for p in busy.iterdir()] == ["thesis.txt"]
    assert digest(store_with_one_run) == before
