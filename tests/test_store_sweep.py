"""Results store and sweeps: transactional writes, clear errors, grids that parse or explain."""
import sqlite3

import pytest

from prune_core.errors import PruneScopeError
from prune_core.run import LatencySpec
from prune_core.store import Store
from prune_core.sweep import grid_configs, parse_grid, run_sweep

FAST = LatencySpec(batch=1, seq_len=16, reps=3, warmup=1)


@pytest.mark.parametrize("text,expected", [("0:0.9:0.3", [0.0, 0.3, 0.6, 0.9]), ("0.5, 0.1,0.5", [0.1, 0.5]),
                                           ("0.2:0.2:0.1", [0.2])])
def test_parse_grid(text, expected):
    assert parse_grid(text) == pytest.approx(expected)


@pytest.mark.parametrize("bad,match", [("", "empty"), ("a:b:c", "cannot read"), ("0:1:0", "cannot read"),
                                       ("0.5,1.2", "outside"), ("x", "cannot read")])
def test_bad_grids(bad, match):
    with pytest.raises(PruneScopeError, match=match):
        parse_grid(bad)


def test_grid_is_validated_before_anything_runs():
    with pytest.raises(PruneScopeError, match="method list is empty"):
        grid_configs([], [0.5])
    with pytest.raises(PruneScopeError, match="unknown method"):
        grid_configs(["magnitude", "nope"], [0.5])


def test_sweep_stores_every_run_and_can_stop(bert, tmp_path):
    store = Store(tmp_path / "r.sqlite")
    configs = grid_configs(["random", "magnitude"], [0.0, 0.5, 0.9])
    frame = run_sweep(bert, configs, store, FAST)
    assert len(frame) == 6 and not frame.attrs["partial"]
    zero = frame[frame["sparsity_target"] == 0.0]
    assert (zero["quality"] == zero["quality_dense"]).all()
    stored = store.runs(model="tiny-sentiment-bert")
    assert len(stored) == 6 and set(stored["method"]) == {"random", "magnitude"}
    assert store.record(int(stored["id"].iloc[0]))["model"] == "tiny-sentiment-bert"
    assert '"torch"' in stored["environment"].iloc[0]
    done = []
    partial = run_sweep(bert, configs, store, FAST, progress=lambda i, n, c: done.append(i),
                        should_stop=lambda: done[-1] >= 2)
    assert len(partial) == 2 and partial.attrs["partial"]
    assert len(store.runs()) == 8  # the finished runs of the stopped sweep are kept
    calls = iter([False, False] + [True] * 100)  # stop asked while the first run is in progress
    assert run_sweep(bert, configs, store, FAST, should_stop=lambda: next(calls)).empty
    assert len(store.runs()) == 8  # the interrupted run is dropped, nothing half-written
    assert store.delete(list(stored["id"][:3])) == 3 and len(store.runs()) == 5


def test_a_failed_write_leaves_no_partial_row(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    store.add({"model": "m", "quality": 1.0}, env={})
    with pytest.raises(TypeError):
        store.add({"model": "m", "quality": 2.0}, env={"gpu": object()})  # fails mid-write: nothing lands
    assert len(store.runs()) == 1


def test_corrupt_or_foreign_files_are_refused_and_untouched(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    before = junk.read_bytes()
    with pytest.raises(PruneScopeError, match="not a usable PruneScope results store.*left untouched"):
        Store(junk)
    assert junk.read_bytes() == before
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(PruneScopeError, match="not a PruneScope results store"):
        Store(other)


def test_locked_store_is_a_clear_message(tmp_path):
    path = tmp_path / "r.sqlite"
    Store(path).close()
    locker = sqlite3.connect(path)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PruneScopeError, match="locked"):
            Store(path, wait_s=1).add({"model": "m"}, env={})
    finally:
        locker.rollback()
        locker.close()
