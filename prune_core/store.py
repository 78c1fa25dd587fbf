"""Persistent results: every run, with its settings and environment, in one SQLite file.

The file lives in a user data directory (`$PRUNESCOPE_DATA`, default ~/.local/share/prunescope).
Each run is written in its own transaction, so a crash (even kill -9) mid-sweep loses at most the run
in progress. A store on read-only storage opens read-only: it can be listed, not written. A writer that
finds the file locked by another program waits (and says so) for up to `WAIT_S` seconds before giving
up. A file that is not our database gives a clear message and is never overwritten.
"""
from __future__ import annotations

import json
import os
import platform
import sqlite3
import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import pandas as pd

from .errors import PruneScopeError

DATA_ENV = "PRUNESCOPE_DATA"
WAIT_S = 60.0  # how long a reader or writer waits for another program's lock before giving up
_STEP_S = 1.0  # SQLite's own busy timeout per attempt; between attempts we may tell the user
# Indexed copies of the main PruneResult fields (same names); the whole record is kept as JSON too.
COLUMN_TYPES = {"model": "TEXT", "method": "TEXT", "pattern": "TEXT", "allocation": "TEXT", "scope": "TEXT",
                "seed": "INTEGER", "sparsity_target": "REAL", "sparsity_actual": "REAL", "quality_metric": "TEXT",
                "quality_dense": "REAL", "quality": "REAL", "latency_ms_dense": "REAL", "latency_ms": "REAL",
                "params_total": "INTEGER", "params_nonzero": "INTEGER"}
COLUMNS = list(COLUMN_TYPES)
MAX_LIMIT = 2**63 - 1  # SQLite's largest integer: a LIMIT beyond it is not a number SQLite can compare
ENTRY_COLUMNS = ["id", "created", "challenge", "model", "name", "score", "quality_metric", "query"]
# Schema 1, then every later change in order as (the version it brings, SQL). The one definition:
# a new store runs them all, an older store the ones after its version on its first writable open
# (a read-only one is read as it is).
_SCHEMA_1 = f"""
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
MIGRATIONS = [(2, """
CREATE TABLE IF NOT EXISTS challenge_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    challenge TEXT NOT NULL,
    model TEXT NOT NULL,
    name TEXT NOT NULL,
    score REAL NOT NULL,
    quality_metric TEXT NOT NULL,
    query TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS challenge_board ON challenge_entries (challenge, model);
""")]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _where(filters: dict[str, str | None]) -> tuple[str, list[str]]:
    """` WHERE col = ? AND ...` for the filters that are set (and their values), or nothing."""
    given = {col: val for col, val in filters.items() if val}
    return (f" WHERE {' AND '.join(f'{col} = ?' for col in given)}" if given else ""), list(given.values())


def default_path() -> Path:
    root = os.environ.get(DATA_ENV) or str(Path.home() / ".local" / "share" / "prunescope")
    return Path(root) / "results.sqlite"


def environment() -> dict:
    """What a reader needs to compare runs: versions, CPU/GPU, threads."""
    # optional: torch and transformers only when a run is stored, so that listing
    # stored runs (History, `history`) does not load them
    import torch  # optional: see above
    import transformers  # optional: see above

    from .latency import device_name  # optional: see above

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cpu": device_name(), "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


class Store:
    """A results database. Open it once per process or page; it is safe to use from one thread.

    `on_wait(message)` is called once when another program holds the lock (the CLI prints it);
    `readonly` is True when the file or its folder cannot be written (read-only storage).
    """

    def __init__(self, path: str | Path | None = None, on_wait: Callable[[str], None] | None = None,
                 wait_s: float = WAIT_S):
        self.path = Path(path) if path else default_path()
        self.on_wait, self.wait_s = on_wait or (lambda message: None), wait_s
        try:
            existed = self.path.exists()
            if not existed:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not os.access(self.path.parent, os.W_OK):
                    raise PermissionError(f"the folder {self.path.parent} is not writable")
            elif self.path.is_dir():
                raise IsADirectoryError(f"{self.path} is a folder")
            self.readonly = existed and not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK))
            uri = f"file:{quote(str(self.path.resolve()))}" + ("?mode=ro" if self.readonly else "")
            self.conn = sqlite3.connect(uri, uri=True, timeout=_STEP_S, check_same_thread=False)
            self._waiting(self._open)
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None
        except OSError as exc:
            raise PruneScopeError(f"cannot open the results store at {self.path}: {exc.strerror or exc}; "
                                  f"set {DATA_ENV} to a writable folder") from None

    def _open(self) -> None:
        """Refuse files that hold something else: never add our tables to a foreign database. A store
        that already has its tables is not written to on open (so read-only storage and a locked file
        can still be read)."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "prunescope_meta" not in tables:
            raise sqlite3.DatabaseError("file is a database, but not a PruneScope results store")
        if {"runs", "prunescope_meta"} <= tables:
            row = self.conn.execute("SELECT value FROM prunescope_meta WHERE key = 'schema'").fetchone()
            if row is None or not str(row[0]).isdigit():
                raise sqlite3.DatabaseError("its schema version is missing or unreadable")
            version = int(row[0])
            if version < SCHEMA_VERSION and not self.readonly:
                self._migrate(version)  # an older store: add what it lacks, its runs untouched
            return
        if self.readonly:
            raise sqlite3.DatabaseError("it is on read-only storage and holds no results yet")
        with self.conn:
            self.conn.executescript(_SCHEMA_1)
        self._migrate(1)

    def _migrate(self, version: int) -> None:
        """Bring a store of schema `version` to SCHEMA_VERSION, one change at a time."""
        with self.conn:
            for to, sql in MIGRATIONS:
                if to > version:
                    self.conn.executescript(sql)
                    self.conn.execute("UPDATE prunescope_meta SET value = ? WHERE key = 'schema'", (str(to),))

    def _waiting(self, work: Callable):
        """Run `work`, retrying while another program holds the lock, up to `wait_s` seconds."""
        deadline, told = time.monotonic() + self.wait_s, False
        while True:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() >= deadline:
                    raise
                if not told:
                    self.on_wait(f"the results store {self.path} is locked by another program; waiting up to "
                                 f"{self.wait_s:.0f} s for it…")
                    told = True
                time.sleep(0.1)  # SQLite answers at once when waiting could deadlock

    def require_writable(self) -> None:
        """Fail now, before any work, when runs could not be stored."""
        if self.readonly:
            raise PruneScopeError(f"the results store {self.path} is on read-only storage: it can be read (History, "
                                  f"`history`) but not written; set {DATA_ENV} to a writable folder to store runs")

    def _explain(self, exc: Exception) -> str:
        what = str(exc)
        if "locked" in what or "busy" in what:
            return (f"the results store {self.path} is locked by another program (waited {self.wait_s:.0f} s); "
                    f"close it and try again (or set {DATA_ENV} to another folder)")
        if "readonly" in what or "read-only" in what:
            return (f"the results store {self.path} is on read-only storage; set {DATA_ENV} to a writable folder "
                    "to store runs")
        return (f"{self.path} is not a usable PruneScope results store ({what}); it was left untouched. "
                f"Move it away or set {DATA_ENV} to another folder")

    def add(self, record: dict, sweep: str | None = None, env: dict | None = None) -> int:
        """Store one run (a PruneResult.summary() dict, plus anything JSON-able) in one transaction."""
        self.require_writable()
        values = [v if v is None or isinstance(v, (int, float, str)) else str(v) for v in map(record.get, COLUMNS)]
        row = [time.strftime("%Y-%m-%dT%H:%M:%S"), sweep, *values, json.dumps(record, default=str),
               json.dumps(env or environment())]

        def insert() -> int:
            with self.conn:
                return self.conn.execute(f"INSERT INTO runs (created, sweep, {', '.join(COLUMNS)}, record, "
                                         f"environment) VALUES (?, ?, {', '.join('?' * len(COLUMNS))}, ?, ?)",
                                         row).lastrowid
        try:
            return int(self._waiting(insert))
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None

    def runs(self, model: str | None = None, method: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Stored runs, newest first, optionally filtered; at most `limit` (1 to MAX_LIMIT) of them."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT):
            raise PruneScopeError(f"the number of runs to list must be a whole number from 1 to {MAX_LIMIT:,}, "
                                  f"got {limit!r}")
        where, args = _where({"model": model, "method": method})
        sql = (f"SELECT id, created, sweep, {', '.join(COLUMNS)}, environment FROM runs{where} ORDER BY id DESC"
               + (" LIMIT ?" if limit else ""))
        args = args + ([limit] if limit else [])
        try:
            cur = self._waiting(lambda: self.conn.execute(sql, args))
            rows = cur.fetchall()
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None
        return pd.DataFrame.from_records(rows, columns=[d[0] for d in cur.description], coerce_float=True)

    def record(self, run_id: int) -> dict:
        try:
            row = self._waiting(lambda: self.conn.execute("SELECT record FROM runs WHERE id = ?",
                                                          (run_id,)).fetchone())
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None
        if row is None:
            raise PruneScopeError(f"no stored run with id {run_id}")
        return json.loads(row[0])

    def delete(self, ids: list[int]) -> int:
        self.require_writable()

        def remove() -> int:
            with self.conn:
                return self.conn.executemany("DELETE FROM runs WHERE id = ?", [(int(i),) for i in ids]).rowcount
        try:
            return self._waiting(remove)
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None

    def close(self) -> None:
        self.conn.close()

    # ---- challenge scoreboards (prune_core.challenges) -----------------------------------------------
    def add_entry(self, challenge: str, model: str, name: str, score: float, quality_metric: str, query: str,
                  record: dict) -> int:
        """One scoreboard entry: who, the measured score, the link's query string and the whole result."""
        self.require_writable()
        row = [time.strftime("%Y-%m-%dT%H:%M:%S"), challenge, model, name, float(score), quality_metric, query,
               json.dumps(record, default=str)]

        def insert() -> int:
            with self.conn:
                return self.conn.execute("INSERT INTO challenge_entries (created, challenge, model, name, score, "
                                         "quality_metric, query, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                         row).lastrowid
        try:
            return int(self._waiting(insert))
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None

    def entries(self, challenge: str | None = None, model: str | None = None) -> pd.DataFrame:
        """Scoreboard entries in the order they came (rank them with Challenge.rank). A read-only store
        of an older version has none."""
        where, args = _where({"challenge": challenge, "model": model})
        sql = f"SELECT {', '.join(ENTRY_COLUMNS)} FROM challenge_entries{where} ORDER BY id"
        try:
            rows = self._waiting(lambda: self.conn.execute(sql, args).fetchall())
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return pd.DataFrame(columns=ENTRY_COLUMNS)
            raise PruneScopeError(self._explain(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None
        return pd.DataFrame.from_records(rows, columns=ENTRY_COLUMNS, coerce_float=True)

    def clear_entries(self, challenge: str, model: str | None = None) -> int:
        """Empty one scoreboard (of one model, or of every model); returns how many entries went."""
        self.require_writable()
        sql, args = "DELETE FROM challenge_entries WHERE challenge = ?", [challenge]
        if model:
            sql, args = sql + " AND model = ?", args + [model]

        def remove() -> int:
            with self.conn:
                return self.conn.execute(sql, args).rowcount
        try:
            return self._waiting(remove)
        except sqlite3.DatabaseError as exc:
            raise PruneScopeError(self._explain(exc)) from None
