"""Grids of runs (method x sparsity) -> one tidy DataFrame, each run stored as it finishes."""
from __future__ import annotations

import re
import time
import uuid
from typing import Callable

import pandas as pd

from .config import PruneConfig
from .errors import PruneScopeError
from .run import LatencySpec, dense_baseline, run
from .store import Store, environment
from .zoo import LoadedModel

_RANGE = re.compile(r"^\s*([0-9.]+)\s*:\s*([0-9.]+)\s*:\s*([0-9.]+)\s*$")


def parse_grid(text: str) -> list[float]:
    """'0:0.9:0.1' (start:stop:step, stop included) or '0.1,0.5,0.9' -> sorted unique sparsities."""
    text = (text or "").strip()
    try:
        match = _RANGE.match(text)
        if match:
            start, stop, step = (float(g) for g in match.groups())
            if step <= 0:
                raise ValueError("step must be positive")
            values = [round(start + i * step, 10) for i in range(int((stop - start) / step + 1e-9) + 1)]
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise PruneScopeError(f"cannot read the sparsity grid '{text}': use start:stop:step (0:0.9:0.1) or a "
                              f"comma list (0.1,0.5) ({exc})") from None
    if not values:
        raise PruneScopeError("the sparsity grid is empty; give at least one sparsity, e.g. 0:0.9:0.1")
    for v in values:
        if not 0 <= v < 1:
            raise PruneScopeError(f"sparsity {v} in the grid is outside [0, 1)")
    return sorted(set(values))


def grid_configs(methods: list[str], sparsities: list[float], **common) -> list[PruneConfig]:
    """Every (method, sparsity) pair as a validated config; all checked before anything runs."""
    if not methods:
        raise PruneScopeError("the method list is empty; give at least one, e.g. magnitude,wanda")
    return [PruneConfig(m, s, **common).validated() for m in methods for s in sparsities]


def run_sweep(loaded: LoadedModel, configs: list[PruneConfig], store: Store | None = None,
              spec: LatencySpec | None = None, measure_file: bool = False,
              progress: Callable[[int, int, PruneConfig], None] = lambda i, n, c: None,
              should_stop: Callable[[], bool] = lambda: False) -> pd.DataFrame:
    """Run each config against one dense baseline; store each row as soon as it is measured.

    Stopping (should_stop) keeps every finished run; the returned frame has a `partial` flag.
    """
    spec = spec or LatencySpec.for_model(loaded.card)
    sweep_id = uuid.uuid4().hex[:12]
    baseline = dense_baseline(loaded, measure_file)
    env = environment()
    rows, start = [], time.perf_counter()
    for i, config in enumerate(configs):
        if should_stop():
            break
        progress(i, len(configs), config)
        result, _ = run(loaded, config, baseline, spec, measure_file)
        row = result.summary() | {"sweep": sweep_id}
        if store is not None:
            row["run_id"] = store.add(row, sweep=sweep_id, env=env)
        rows.append(row)
    progress(len(rows), len(configs), configs[-1])
    frame = pd.DataFrame(rows)
    frame.attrs.update(partial=len(rows) < len(configs), seconds=time.perf_counter() - start, sweep=sweep_id)
    return frame
