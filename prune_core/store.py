"""Persistent results: every run, with its settings and environment, in one SQLite file.

The file lives in a user data directory (`$PRUNESCOPE_DATA`, default ~/.local/share/prunescope).
Each run is written in its own transaction, so a crash mid-sweep loses at most the run in progress.
A file that is locked or is not our database gives a clear message and is never overwritten.
"""
from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from pathlib import Path

import pandas as pd

from .errors import PruneScopeError

DATA_ENV = "PRUNESCOPE_DATA"
# Indexed copies of the main PruneResult fields (same names); the whole record is kept as JSON too.
COLUMN_TYPES = {"model": "TEXT", "method": "TEXT", "pattern": "TEXT", "allocation": "TEXT", "scope": "TEXT",
                "seed": "INTEGER", "sparsity_target": "REAL", "sparsity_actual": "REAL", "quality_metric": "TEXT",
                "quality_dense": "REAL", "quality": "REAL", "latency_ms_dense": "REAL", "latency_ms": "REAL",
                "params_total": "INTEGER", "params_nonzero": "INTEGER"}
COLUMNS = list(COLUMN_TYPES)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    sweep TEXT,
    {", ".join(f"{c} {t}" for c, t in COLUMN_TYPES.items())},
    record TEXT NOT NULL,
    environment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prunescope_meta (key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO prunescope_meta VALUES ('schema', '1');
"""


def default_path() -> Path:
    root = os.environ.get(DATA_ENV) or str(Path.home() / ".local" / "share" / "prunescope")
    return Path(root) / "results.sqlite"


def environment() -> dict:
    """What a reader needs to compare runs: versions, CPU/GPU, threads."""
    import torch
    import transformers

    from .metrics import device_name

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cpu": device_name(), "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


class Store:
    """A results database. Open it once per process or page; it is safe to use from one thread."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=2.0, check_same_thread=False)
            self._check()
            with self.conn:
                self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None
        except OSError as exc:
            raise PruneScopeError(f"cannot open the results store at {self.path}: {exc.strerror or exc}; "
                                  f"set {DATA_ENV} to a writable folder") from None

    def _check(self) -> None:
        """Refuse files that hold something else: never add our tables to a foreign database."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "prunescope_meta" not in tables:
            raise sqlite3.DatabaseError("file is a database, but not a PruneScope results store")

    def _explain(self, exc: Exception) -> str:
        what = str(exc)
        if "locked" in what:
            return (f"the results store {self.path} is locked by another program; close it and try again "
                    f"(or set {DATA_ENV} to another folder)")
        return (f"{self.path} is not a usable PruneScope results store ({what}); it was left untouched. "
                f"Move it away or set {DATA_ENV} to another folder")

    def add(self, record: dict, sweep: str | None = None, env: dict | None = None) -> int:
        """Store one run (a PruneResult.summary() dict, plus anything JSON-able) in one transaction."""
        values = [v if v is None or isinstance(v, (int, float, str)) else str(v) for v in map(record.get, COLUMNS)]
        try:
            with self.conn:
                cur = self.conn.execute(
                    f"INSERT INTO runs (created, sweep, {', '.join(COLUMNS)}, record, environment) "
                    f"VALUES (?, ?, {', '.join('?' * len(COLUMNS))}, ?, ?)",
                    [time.strftime("%Y-%m-%dT%H:%M:%S"), sweep, *values, json.dumps(record, default=str),
                     json.dumps(env or environment())])
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None
        return int(cur.lastrowid)

    def runs(self, model: str | None = None, method: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Stored runs, newest first, optionally filtered."""
        where, args = [], []
        for col, val in (("model", model), ("method", method)):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        sql = (f"SELECT id, created, sweep, {', '.join(COLUMNS)}, environment FROM runs"
               + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC"
               + (f" LIMIT {int(limit)}" if limit else ""))
        try:
            return pd.read_sql_query(sql, self.conn, params=args)
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None

    def record(self, run_id: int) -> dict:
        row = self.conn.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise PruneScopeError(f"no stored run with id {run_id}")
        return json.loads(row[0])

    def delete(self, ids: list[int]) -> int:
        with self.conn:
            cur = self.conn.executemany("DELETE FROM runs WHERE id = ?", [(int(i),) for i in ids])
        return cur.rowcount

    def close(self) -> None:
        self.conn.close()
