"""Sweep executors: a real local Ray gives the same results as the local loop; Ray missing or
unreachable is a clear message, and falls back to local only when asked to."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from prune_core.errors import PruneScopeError
from prune_core.run import LatencySpec
from prune_core.store import Store
from prune_core.sweep import (EXECUTORS, RAY_VERSION, TIMING_FIELDS, ExecutorUnavailable, grid_configs,
                              make_executor, run_sweep)
from test_cli import ROOT, cli

FAST = LatencySpec(batch=1, seq_len=16, reps=3, warmup=1)
GRID = dict(methods=["random", "magnitude"], sparsities=[0.3, 0.7])


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is optional for users; requirements-dev.txt installs it")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Everything but timing and bookkeeping (sweep id, store id)."""
    return frame.drop(columns=[*TIMING_FIELDS, "sweep", "run_id"], errors="ignore").reset_index(drop=True)


def test_registry_lists_both_executors():
    assert list(EXECUTORS) == ["local", "ray"]
    assert all(cls.description for cls in EXECUTORS.values())
    with pytest.raises(PruneScopeError, match="unknown executor 'dask'; choose one of: local, ray"):
        make_executor("dask")


def test_ray_gives_the_same_results_as_local_and_stores_each_row(gpt, ray_local, tmp_path):
    store = Store(tmp_path / "r.sqlite")
    configs = grid_configs(GRID["methods"], GRID["sparsities"])
    local = run_sweep(gpt, configs, store, FAST)
    seen = []
    remote = run_sweep(gpt, configs, store, FAST, executor="ray", progress=lambda i, n, c: seen.append((i, n)))
    assert remote.attrs["executor"] == "ray" and remote.attrs["note"] == "" and not remote.attrs["partial"]
    assert local.attrs["executor"] == "local"
    pd.testing.assert_frame_equal(_comparable(local), _comparable(remote))
    assert list(remote["method"]) == ["random", "random", "magnitude", "magnitude"]  # config order
    assert (remote["quality"] > remote["quality_dense"]).all()  # perplexity: pruning hurts
    assert seen[0] == (0, 4) and seen[-1] == (4, 4) and len(seen) == 5
    stored = store.runs(model="tiny-shakespeare-gpt")
    assert len(stored) == 8
    by_sweep = stored.groupby("sweep").size()
    assert by_sweep[remote.attrs["sweep"]] == 4 and by_sweep[local.attrs["sweep"]] == 4
    ours = stored[stored["sweep"] == remote.attrs["sweep"]].sort_values(["method", "sparsity_target"])
    want = remote.sort_values(["method", "sparsity_target"])
    assert list(ours["quality"]) == pytest.approx(list(want["quality"]), rel=0, abs=0)


def test_stopping_a_ray_sweep_keeps_the_finished_run(gpt, ray_local, tmp_path):
    store = Store(tmp_path / "r.sqlite")
    configs = grid_configs(GRID["methods"], GRID["sparsities"])
    done = []
    frame = run_sweep(gpt, configs, store, FAST, executor="ray", progress=lambda i, n, c: done.append(i),
                      should_stop=lambda: done[-1] >= 1)
    assert frame.attrs["partial"] and len(frame) == 1
    assert len(store.runs()) == 1  # the finished run is stored, the cancelled ones are not


def test_ray_not_installed_is_a_clear_message_and_falls_back_only_when_asked(gpt, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ExecutorUnavailable, match=f"Ray is not installed: pip install ray=={RAY_VERSION}, or run "
                                                  "with --executor local"):
        run_sweep(gpt, grid_configs(["magnitude"], [0.5]), None, FAST, executor="ray")
    frame = run_sweep(gpt, grid_configs(["magnitude"], [0.5]), None, FAST, executor="ray", fallback_local=True)
    assert len(frame) == 1 and frame.attrs["executor"] == "local"
    assert frame.attrs["note"].startswith("ran locally instead of on ray: Ray is not installed")


@pytest.mark.parametrize("address,match", [("127.0.0.1:1", "cannot reach a Ray cluster at 127.0.0.1:1"),
                                           ("ray://127.0.0.1:1", "cannot reach a Ray cluster"),
                                           ("no-port-here", "cannot read the Ray address")])
def test_unreachable_or_unreadable_address_fails_fast(address, match, monkeypatch):
    pytest.importorskip("ray")
    start = time.perf_counter()
    with pytest.raises(ExecutorUnavailable, match=match):
        make_executor("ray", address)
    monkeypatch.setenv("RAY_ADDRESS", address)  # the same through the environment variable
    with pytest.raises(ExecutorUnavailable, match=match):
        make_executor("ray")
    assert time.perf_counter() - start < 10
    assert make_executor("ray", address, fallback_local=True).name == "local"


def test_cli_ray_unreachable_is_one_line_and_fallback_runs_locally(tmp_path):
    pytest.importorskip("ray")
    args = ["sweep", "--model", "tiny-shakespeare-gpt", "--methods", "magnitude", "--sparsity", "0.5",
            "--store", str(tmp_path / "r.sqlite"), "--executor", "ray", "--ray-address", "127.0.0.1:1"]
    out = cli(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "error: cannot reach a Ray cluster at 127.0.0.1:1 (Connection refused); check --ray-address / RAY_ADDRESS, "
        "or run with --executor local"]
    out = cli(*args, "--fallback-local")
    assert out.returncode == 0, out.stderr
    assert "note: ran locally instead of on ray: cannot reach" in out.stderr
    assert "1 runs" in out.stdout and "(local executor)" in out.stdout
    assert len(Store(tmp_path / "r.sqlite").runs()) == 1


def test_cli_ctrl_c_stops_the_sweep_and_keeps_finished_runs(tmp_path):
    path = tmp_path / "r.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "prune_core", "sweep", "--model", "tiny-shakespeare-gpt",
                             "--methods", "magnitude", "--sparsity", "0:0.9:0.1", "--store", str(path)],
                            cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (path.exists() and len(Store(path).runs()) >= 1):
            assert proc.poll() is None and time.time() < deadline, "the sweep ended before a run was stored"
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    kept = len(Store(path).runs())
    assert 1 <= kept < 10
    assert f"stopped: {kept} of 10 runs finished and kept" in err and "Traceback" not in err
    assert f"{kept} runs in" in out
