"""The results store under hostile conditions: read-only storage, another program's lock, kill -9
mid-sweep, files that are not ours, locations that cannot be written. Nothing stored is ever lost."""
from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prune_core.cli import main
from prune_core.errors import PruneScopeError
from prune_core.run import LatencySpec
from prune_core.store import Store
from prune_core.sweep import grid_configs, run_sweep
from read_only import read_only

ROOT = Path(__file__).resolve().parents[2]
FAST = LatencySpec(batch=1, seq_len=16, reps=3, warmup=1)
BERT = "tiny-sentiment-bert"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "data" / "results.sqlite"
    store = Store(path)
    for q in (0.7, 0.8):
        store.add({"model": BERT, "method": "magnitude", "quality": q, "sparsity_actual": 0.5}, sweep="s1", env={})
    store.close()
    return path


def test_read_only_store_is_listed_not_written(capsys, store_path):
    before = digest(store_path)
    with read_only(store_path.parent):
        store = Store(store_path)
        assert store.readonly and len(store.runs()) == 2
        with pytest.raises(PruneScopeError, match="on read-only storage: it can be read"):
            store.add({"model": BERT}, env={})
        with pytest.raises(PruneScopeError, match="on read-only storage"):
            store.delete([1])
        assert main(["history", "--store", str(store_path)]) == 0
        out, err = capsys.readouterr()
        assert "magnitude" in out and len(out.strip().splitlines()) == 3 and err == ""
        # a sweep is refused before the model loads, in one line
        assert main(["sweep", "--model", BERT, "--sparsity", "0.5", "--store", str(store_path)]) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines() == [f"error: the results store {store_path} is on read-only storage: it can "
                                            "be read (History, `history`) but not written; set PRUNESCOPE_DATA to "
                                            "a writable folder to store runs"]
    assert digest(store_path) == before


def test_a_new_store_in_an_unwritable_folder_is_a_clear_message(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with read_only(folder):
        with pytest.raises(PruneScopeError, match=r"cannot open the results store at .*not writable; set "
                                                  r"PRUNESCOPE_DATA to a writable folder"):
            Store(folder / "results.sqlite")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_folder_in_place_of_the_store_is_refused(tmp_path):
    (tmp_path / "results.sqlite").mkdir()
    with pytest.raises(PruneScopeError, match="is a folder; set PRUNESCOPE_DATA"):
        Store(tmp_path / "results.sqlite")


def test_a_sweep_waits_for_another_programs_lock(bert, store_path):
    """Another program takes the write lock as the sweep starts and keeps it 3 s after the sweep first
    has to wait: the sweep waits, says so once, and stores every run."""
    locker = sqlite3.connect(store_path, check_same_thread=False)
    messages: list[str] = []
    waited = {}

    def release_later(message: str) -> None:
        messages.append(message)
        waited["from"] = time.perf_counter()
        threading.Timer(3.0, lambda: (locker.commit(), waited.setdefault("to", time.perf_counter()))).start()

    def take_lock(i: int, n: int, config) -> None:
        if i == 0:  # the first run is starting
            locker.execute("BEGIN IMMEDIATE")

    store = Store(store_path, on_wait=release_later)
    frame = run_sweep(bert, grid_configs(["magnitude", "random"], [0.3, 0.6]), store, FAST, progress=take_lock)
    assert len(frame) == 4 and not frame.attrs["partial"]
    assert waited["to"] - waited["from"] >= 2.9  # it really waited the 3 s out
    assert len(store.runs()) == 6  # 2 before + 4 new: nothing lost, nothing aborted
    assert len(messages) == 1 and re.search(r"locked by another program; waiting up to 60 s", messages[0])
    locker.close()
    assert integrity(store_path) == "ok"


def test_a_lock_that_never_ends_gives_up_with_a_message(store_path):
    locker = sqlite3.connect(store_path)
    locker.execute("BEGIN IMMEDIATE")
    try:
        store = Store(store_path, wait_s=1.5)
        assert len(store.runs()) == 2  # reading works while another program writes
        with pytest.raises(PruneScopeError, match=r"locked by another program \(waited 2 s\)"):
            store.add({"model": BERT}, env={})
    finally:
        locker.rollback()
        locker.close()
    assert len(Store(store_path).runs()) == 2


@pytest.mark.parametrize("kill_at", [0, 1, 3])
def test_kill_9_mid_sweep_keeps_every_finished_run(store_path, kill_at):
    """kill -9 while run `kill_at + 1` is in progress: the finished runs and the old ones are all there,
    and the database passes SQLite's integrity check."""
    proc = subprocess.Popen([sys.executable, "-m", "prune_core", "sweep", "--model", BERT, "--methods",
                             "magnitude,random", "--sparsity", "0.1,0.2,0.3,0.4,0.5,0.6", "--store", str(store_path)],
                            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"))
    seen, done = b"", -1
    deadline = time.monotonic() + 240
    try:
        while done < kill_at and time.monotonic() < deadline:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            counts = re.findall(rb"(\d+)/12", seen)
            done = int(counts[-1]) if counts else -1
        assert done >= kill_at, seen.decode(errors="replace")
        time.sleep(0.3 * kill_at)  # vary the moment within the next run
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert integrity(store_path) == "ok"
    runs = Store(store_path).runs()
    assert len(runs) >= 2 + done and len(runs) <= 2 + 12
    assert (runs["sweep"] == "s1").sum() == 2
    Store(store_path).add({"model": BERT}, env={})  # still a working store


@pytest.mark.parametrize("limit", ["9223372036854775808", "99999999999999999999999", "0", "-1"])
def test_history_limit_beyond_sqlite_is_not_blamed_on_the_store(capsys, store_path, limit):
    before = digest(store_path)
    assert main(["history", "--store", str(store_path), "--limit", limit]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: --limit must be a whole number from 1 to 9,223,372,036,854,775,807")
    assert "not a usable" not in err and len(err.strip().splitlines()) == 1
    assert digest(store_path) == before
    with pytest.raises(PruneScopeError, match="number of runs to list must be a whole number from 1"):
        Store(store_path).runs(limit=2**63)
    assert main(["history", "--store", str(store_path), "--limit", str(2**63 - 1)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3  # a header and both runs
