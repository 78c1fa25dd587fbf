"""Grids of runs (method x sparsity) -> one tidy DataFrame, each run stored as it finishes.

Where the runs execute is an executor, picked by name from `EXECUTORS`: `local` (this process, one run
after another; needs nothing) or `ray` (one Ray task per run, on a local Ray or an existing cluster).
Whatever the executor, the driver measures the dense baseline once, stores every finished row in its
own transaction, reports progress and honours a stop request; masks, sparsity and quality are the same
on every executor (only the timing fields differ).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import torch

from .config import PruneConfig
from .errors import PruneScopeError
from .run import DenseBaseline, LatencySpec, check_fits, dense_baseline, run
from .store import Store, environment
from .zoo import LoadedModel

_RANGE = re.compile(r"^\s*([0-9.]+)\s*:\s*([0-9.]+)\s*:\s*([0-9.]+)\s*$")
RAY_VERSION = "2.60.0"  # the version tested (requirements-dev.txt); Ray is optional for users
ROOT = Path(__file__).resolve().parents[1]
# Timing fields: the only ones allowed to differ between executors (or between two runs of one).
GRID_POINTS = "the sparsity grid has {n} points (one run per method each)"
MAX_RUNS = 200  # runs in one sweep: a 5-method, 40-point grid; more is a typo, not a plan
TIMING_FIELDS = ("latency_ms_dense", "latency_ms", "latency_setup", "prune_seconds", "total_seconds")


def parse_grid(text: str) -> list[float]:
    """'0:0.9:0.1' (start:stop:step, stop included) or '0.1,0.5,0.9' -> sorted unique sparsities.

    The number of points is checked before the list is built: '0:0.9:0.0000001' is refused at once.
    """
    text = (text or "").strip()
    try:
        match = _RANGE.match(text)
        if match:
            start, stop, step = (float(g) for g in match.groups())
            if step <= 0:
                raise ValueError("step must be positive")
            count = int((stop - start) / step + 1e-9) + 1
            check_runs(count, GRID_POINTS)
            values = [round(start + i * step, 10) for i in range(count)]
        else:
            parts = [v for v in text.split(",") if v.strip()]
            check_runs(len(parts), GRID_POINTS)
            values = [float(v) for v in parts]
    except ValueError as exc:
        raise PruneScopeError(f"cannot read the sparsity grid '{text}': use start:stop:step (0:0.9:0.1) or a "
                              f"comma list (0.1,0.5) ({exc})") from None
    if not values:
        raise PruneScopeError("the sparsity grid is empty; give at least one sparsity, e.g. 0:0.9:0.1")
    for v in values:
        if not 0 <= v < 1:
            raise PruneScopeError(f"sparsity {v} in the grid is outside [0, 1)")
    return sorted(set(values))


def check_runs(count: int, what: str = "the sweep has {n} runs") -> None:
    """One cap for the CLI, the Compare page and the Paper settings: a grid a person meant to run."""
    if count > MAX_RUNS:
        raise PruneScopeError(f"{what.format(n=f'{count:,}')}; the limit is {MAX_RUNS} runs (use a coarser step or "
                              "fewer methods)")


def grid_configs(methods: list[str], sparsities: list[float], extra: int = 0,
                 params: dict[str, dict] | None = None, **common) -> list[PruneConfig]:
    """Every (method, sparsity) pair as a validated config; all checked before anything runs.

    `extra` counts runs the caller adds to the grid (Compare's proposed allocation) against the cap;
    `params` gives a method its own parameters (PruneConfig.method_params), by method name."""
    if not methods:
        raise PruneScopeError("the method list is empty; give at least one, e.g. magnitude,wanda")
    check_runs(len(methods) * len(sparsities) + extra)
    params = params or {}
    return [PruneConfig(method=m, sparsity=s, method_params=params.get(m, {}), **common).validated()
            for m in methods for s in sparsities]


# ---------------------------------------------------------------------------------------- executors

class ExecutorUnavailable(PruneScopeError):
    """The executor cannot start (Ray missing or unreachable); the user may choose to run locally."""


class _Stopped(Exception):
    """Raised from a run's progress hook when the user asked to stop: the run in progress is dropped."""


@dataclass
class SweepJob:
    """What every executor needs: the model, the configs and the settings shared by all runs."""

    loaded: LoadedModel
    configs: list[PruneConfig]
    baseline: DenseBaseline  # measured once by the driver, reused by every run
    spec: LatencySpec
    measure_file: bool


Results = Iterator[tuple[int, dict]]  # (index into job.configs, PruneResult.summary()) as each finishes


def _one_run(loaded: LoadedModel, config: PruneConfig, baseline: DenseBaseline, spec: LatencySpec,
             measure_file: bool, should_stop: Callable[[], bool] = lambda: False) -> dict:
    """One run -> its summary row; checks for a stop request at each stage so a stop is prompt."""
    def hook(fraction: float, message: str) -> None:
        if should_stop():
            raise _Stopped
    result, _ = run(loaded, config, baseline, spec, measure_file, progress=hook)
    return result.summary()


class LocalExecutor:
    """This process, one run after another. Always available."""

    name, description = "local", "this process, one run after another (needs nothing else)"
    note = ""  # set when this executor stands in for one that could not start

    def __init__(self, address: str | None = None):
        pass  # nothing to connect to

    def results(self, job: SweepJob, should_stop: Callable[[], bool]) -> Results:
        for i, config in enumerate(job.configs):
            if should_stop():
                return
            try:
                yield i, _one_run(job.loaded, config, job.baseline, job.spec, job.measure_file, should_stop)
            except _Stopped:
                return


def _ray_task(loaded: LoadedModel, config: PruneConfig, baseline: DenseBaseline, spec: LatencySpec,
              measure_file: bool, threads: int) -> dict:
    """Body of one Ray task. Same torch thread count as the driver, so the arithmetic is the same."""
    torch.set_num_threads(threads)
    try:
        return _one_run(loaded, config, baseline, spec, measure_file)
    except PruneScopeError as exc:  # a message for the user, not a remote traceback
        return {"error": str(exc)}


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail in seconds, not after Ray's long connect retries, when nothing listens at host:port."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorUnavailable(f"cannot read the Ray address '{address}': use host:port (e.g. 10.0.0.5:6379) "
                                  "or ray://host:10001")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorUnavailable(f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); check "
                                  "--ray-address / RAY_ADDRESS, or run with --executor local") from None


class RayExecutor:
    """One Ray task per run, on an existing cluster (address or $RAY_ADDRESS) or a small local Ray.

    A Ray already initialised in this process (a notebook, a test) is used as it is. The model and
    the dense baseline go to the object store once (ray.put) and every task reads them from there;
    on a remote cluster, the code and data/ travel as the job's working_dir.
    """

    name, description = "ray", "one Ray task per run: a local Ray, or a cluster at --ray-address / $RAY_ADDRESS"
    note = ""
    local_cpus = 2  # a local Ray is started with this many CPUs: small, so it shares the machine

    def __init__(self, address: str | None = None):
        try:
            import ray  # optional: only the Ray executor needs it
        except ImportError:
            raise ExecutorUnavailable(f"Ray is not installed: pip install ray=={RAY_VERSION}, or run with "
                                      "--executor local") from None
        self.ray = ray
        address = (address or os.environ.get("RAY_ADDRESS") or "").strip() or None
        if address:
            _check_reachable(address)
        if ray.is_initialized():
            return
        quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        try:
            if address:
                ray.init(address=address, runtime_env={"working_dir": str(ROOT), "excludes": [
                    ".git", "tests", "docs", "bench", "artifacts", "build", ".whl", "*.pyc"]}, **quiet)
            else:
                ray.init(num_cpus=self.local_cpus, **quiet)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            auth = (" (a cluster started with `ray start` uses token authentication: set RAY_AUTH_MODE=token "
                    "and give its token in RAY_AUTH_TOKEN or ~/.ray/auth_token)") if address else ""
            raise ExecutorUnavailable(f"cannot start or reach Ray ({type(exc).__name__}: {exc}); check "
                                      f"--ray-address / RAY_ADDRESS{auth}, or run with --executor local") from None

    def results(self, job: SweepJob, should_stop: Callable[[], bool]) -> Results:
        ray = self.ray
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        shared = ray.put(job.loaded), ray.put(job.baseline)
        pending = {task.remote(shared[0], c, shared[1], job.spec, job.measure_file, torch.get_num_threads()): i
                   for i, c in enumerate(job.configs)}
        try:
            while pending:
                if should_stop():
                    return
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                for ref in ready:
                    index = pending.pop(ref)
                    try:
                        row = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        raise PruneScopeError(f"a Ray task failed ({job.configs[index].method} at "
                                              f"{job.configs[index].sparsity:.0%}): "
                                              f"{str(exc).strip().splitlines()[-1]}") from None
                    if "error" in row:
                        raise PruneScopeError(row["error"])
                    yield index, row
        finally:  # stopped, failed, or the caller went away: do not leave work running on the cluster
            for ref in pending:
                ray.cancel(ref)


EXECUTORS: dict[str, type] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, address: str | None = None, fallback_local: bool = False):
    """The executor registered as `name`, connected. Falls back to local only when asked to; then its
    `note` says that it did and why."""
    if name not in EXECUTORS:
        raise PruneScopeError(f"unknown executor '{name}'; choose one of: {', '.join(EXECUTORS)}")
    try:
        return EXECUTORS[name](address)
    except ExecutorUnavailable as exc:
        if not fallback_local:
            raise
        worker = LocalExecutor()
        worker.note = f"ran locally instead of on {name}: {exc}"
        return worker


def run_sweep(loaded: LoadedModel, configs: list[PruneConfig], store: Store | None = None,
              spec: LatencySpec | None = None, measure_file: bool = False,
              progress: Callable[[int, int, PruneConfig], None] = lambda i, n, c: None,
              should_stop: Callable[[], bool] = lambda: False, executor="local",
              address: str | None = None, fallback_local: bool = False, sweep_id: str | None = None) -> pd.DataFrame:
    """Run each config against one dense baseline; store each row as soon as it is measured.

    `executor` is a name in EXECUTORS or one made by make_executor. progress(done, total, config) is
    called at the start and after each finished run. Stopping (should_stop) keeps every finished run;
    the returned frame (rows in config order) has a `partial` flag, the executor used and any fallback
    note in its attrs.
    """
    if not configs:
        raise PruneScopeError("the sweep has no runs; give at least one method and one sparsity")
    spec = spec or LatencySpec.for_model(loaded.card)
    configs = [check_fits(loaded, c, spec).config for c in configs]  # every run checked before the first starts
    worker = make_executor(executor, address, fallback_local) if isinstance(executor, str) else executor
    sweep_id = sweep_id or uuid.uuid4().hex[:12]
    job = SweepJob(loaded, configs, dense_baseline(loaded, measure_file), spec, measure_file)
    env = environment()
    rows: dict[int, dict] = {}
    start = time.perf_counter()
    progress(0, len(configs), configs[0])
    with contextlib.closing(worker.results(job, should_stop)) as results:
        for i, summary in results:
            row = summary | {"sweep": sweep_id}
            if store is not None:
                row["run_id"] = store.add(row, sweep=sweep_id, env=env)
            rows[i] = row
            progress(len(rows), len(configs), configs[i])
    frame = pd.DataFrame([rows[i] for i in sorted(rows)])
    frame.attrs.update(partial=len(rows) < len(configs), seconds=time.perf_counter() - start, sweep=sweep_id,
                       executor=worker.name, note=worker.note)
    return frame


PROPOSED = "proposed"  # the `allocation` of a stored run whose per-layer sparsities came from sensitivity


def proposed_run(loaded: LoadedModel, target: float, alloc: dict[str, float], quality: float, sparsity: float,
                 quality_dense: float) -> dict:
    """A store row for magnitude pruning with a sensitivity-proposed per-layer allocation.

    Same field names as PruneResult.summary(), so it sits in the same table and charts; there is no
    latency or size (masks do not change them) and the per-layer sparsities are kept in the record.
    """
    return {"model": loaded.key, "method": "magnitude", "pattern": "unstructured", "allocation": PROPOSED,
            "scope": "all", "include_head": False, "seed": 0, "sparsity_target": target,
            "sparsity_actual": sparsity, "params_total": sum(p.numel() for p in loaded.model.parameters()),
            "quality_metric": loaded.card.quality_metric, "quality_dense": quality_dense, "quality": quality,
            "layer_sparsity": alloc}
