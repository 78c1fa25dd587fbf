"""`sweep` (a grid of runs, each stored as it finishes) and `history` (the stored runs)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from ..errors import PruneScopeError
from ..run import LatencySpec
from ..store import MAX_LIMIT, Store, default_path
from ..sweep import grid_configs, make_executor, parse_grid, run_sweep
from ..zoo import load_model
from .args import check_output_file, given, say
from .params import given_params, per_method


class _StopOnInterrupt:
    """First Ctrl-C stops the sweep after keeping the finished runs; a second one aborts at once."""

    def __init__(self):
        self.flag = False

    def requested(self) -> bool:
        return self.flag

    def _handle(self, signum, frame) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        print("\nstopping: finished runs are kept (Ctrl-C again to abort now)", file=sys.stderr)

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)


def cmd_sweep(args: argparse.Namespace) -> None:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    configs = grid_configs(methods, parse_grid(args.sparsity), pattern=args.pattern, allocation=args.allocation,
                           scope=args.scope, seed=args.seed, calib_samples=args.calib_samples,
                           params=per_method(methods, args.pattern, given_params(args)),
                           **given(args, ("owl_m", "owl_lambda")))
    check_output_file(args.out, "--out")
    store = Store(args.store, on_wait=say)
    store.require_writable()  # before loading the model: a read-only store fails now, not after the first run
    executor = make_executor(args.executor, args.ray_address, args.fallback_local)  # before loading the model
    if executor.note:
        print(f"note: {executor.note}", file=sys.stderr)
    loaded = load_model(args.model)

    def progress(i: int, n: int, config) -> None:
        bar = "#" * (20 * i // n) + "." * (20 - 20 * i // n)
        print(f"\r[{bar}] {i}/{n} {config.method} {config.sparsity:.2f}   ", end="", file=sys.stderr, flush=True)

    stop = _StopOnInterrupt()
    with stop:
        frame = run_sweep(loaded, configs, store, LatencySpec.for_model(loaded.card), progress=progress,
                          should_stop=stop.requested, executor=executor)
    print(file=sys.stderr)
    if frame.attrs["partial"]:
        print(f"stopped: {len(frame)} of {len(configs)} runs finished and kept", file=sys.stderr)
    if frame.empty:
        return
    if args.out:
        frame.to_csv(args.out, index=False)
    if args.json:
        for row in frame.to_dict("records"):
            print(json.dumps(row, default=str))
        return
    cols = ["method", "allocation", "sparsity_target", "sparsity_actual", "quality", "latency_ms", "params_nonzero"]
    print(f"{loaded.name}: {len(frame)} runs in {frame.attrs['seconds']:.1f} s ({frame.attrs['executor']} "
          f"executor), stored in {store.path} "
          f"(sweep {frame.attrs['sweep']}); dense {frame['quality_metric'].iloc[0]} {frame['quality_dense'].iloc[0]:.4f}")
    print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def cmd_history(args: argparse.Namespace) -> None:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise PruneScopeError(f"--limit must be a whole number from 1 to {MAX_LIMIT:,}, got {args.limit}")
    path = Path(args.store) if args.store else default_path()
    if not path.exists():  # reading creates nothing
        print(f"no stored runs (no results store at {path} yet)")
        return
    frame = Store(path, on_wait=say).runs(args.model, args.method, args.limit)
    if frame.empty:
        print("no stored runs")
        return
    print(frame.drop(columns=["environment"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
