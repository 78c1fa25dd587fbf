"""Values shared by every session of one server, bounded by bytes, each computed once.

- Budget, not count: every entry is sized when stored (`nbytes`); the least recently used
  entries go until the total fits `capacity`. A value larger than the whole capacity is handed
  to its caller but not kept. An evicted value that a session still holds is re-adopted on the
  next request instead of being computed again (two copies of a 540 MB model would be worse).
- Single flight: while one caller computes a key, the others with the same key wait for its
  value (seeing its place in line or its progress) instead of computing it again. If the
  computing caller is interrupted (its user moved on), a waiting caller takes over. An ordinary
  error reaches every waiter and is not cached.
- Heavy values are computed inside a `JobGate` slot; cheap ones (`heavy=False`) never queue.
- A kind may have its own, smaller limit (`limits`): per-setting results (a 13 MB mask delta per
  SmolLM2 setting) are cheap to recompute, so they must not push models out or make a server that
  serves slider moves all day grow until the whole budget is used.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import types
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .jobs import JobGate, ordinal
from .memory import release_soon
from .progress import Progress


@dataclass(frozen=True)
class JobStatus:
    """What a caller waiting for a value is told, a few times a second."""

    state: str  # "queued" | "running" | "shared" (another session computes the same thing)
    fraction: float = 0.0
    message: str = ""
    place: int | None = None  # in the line for a heavy slot, 1 = next
    running: int = 0  # heavy jobs running on the server

    @property
    def text(self) -> str:
        if self.state == "queued":
            return (f"waiting: {ordinal(self.place or 1)} in line ({self.running} heavy job"
                    f"{'s' if self.running != 1 else ''} running on this server)")
        if self.state == "shared":
            inner = JobStatus("queued", place=self.place, running=self.running).text if self.place else self.message
            return f"another session asked for the same settings; sharing its result · {inner}"
        return self.message


OnUpdate = Callable[[JobStatus], None]


def nbytes(value: Any) -> int:
    """Approximate bytes held by `value`: tensors, arrays, modules and pandas objects exactly (shared
    storage counted once); other Python objects by their shallow size, walked through containers,
    dataclass fields and instance attributes (a chart figure, a tokenizer). Functions, classes and
    modules are not walked: what they reach belongs to the program, not to the value."""
    seen: set[int] = set()  # ids of objects walked
    storages: set[int] = set()  # data pointers of tensor storages counted
    total = 0
    stack = [value]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (type, types.ModuleType)):
            continue
        seen.add(id(obj))
        total += _own_bytes(obj, storages)
        stack.extend(_parts(obj))
    return total


_PANDAS = (pd.DataFrame, pd.Series, pd.Index)
_CODE = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)


def _own_bytes(obj: Any, storages: set[int]) -> int:
    """Bytes of `obj` itself, without the objects `_parts` walks to."""
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        if storage.data_ptr() in storages:
            return 0
        storages.add(storage.data_ptr())
        return storage.nbytes()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, nn.Module):
        return 0  # its parameters and buffers are walked
    if isinstance(obj, _PANDAS):
        return int(np.sum(obj.memory_usage(deep=True)))
    return sys.getsizeof(obj)


def _parts(obj: Any) -> Iterable[Any]:
    """The objects `obj` holds that count towards its size."""
    if isinstance(obj, (torch.Tensor, *_PANDAS, *_CODE)):
        return ()
    if isinstance(obj, np.ndarray):
        return obj.ravel() if obj.dtype.hasobject else ()
    if isinstance(obj, nn.Module):
        return [*obj.parameters(), *obj.buffers()]
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return obj
    if dataclasses.is_dataclass(obj):
        return [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    attrs = getattr(obj, "__dict__", None)
    return list(attrs.values()) if isinstance(attrs, dict) else ()


@dataclass
class _Entry:
    value: Any
    nbytes: int
    kind: str


class _Flight:
    """One computation in progress; the callers that asked for the same key wait on it."""

    def __init__(self):
        self.cond = threading.Condition()
        self.status = JobStatus("running")
        self.done = False
        self.abandoned = False
        self.value: Any = None
        self.error: BaseException | None = None

    def publish(self, status: JobStatus) -> None:
        with self.cond:
            self.status = status

    def finish(self, value: Any = None, error: BaseException | None = None, abandoned: bool = False) -> None:
        with self.cond:
            self.done, self.value, self.error, self.abandoned = True, value, error, abandoned
            self.cond.notify_all()


@dataclass(frozen=True)
class CacheUsage:
    """What the Model zoo page shows: bytes held, by kind, against the capacity."""

    capacity: int
    used: int
    entries: int
    by_kind: dict[str, int]
    not_kept: int  # values computed but too large to keep
    computed: int = 0  # values computed since the start: a value found cached or shared computes nothing


class SharedCache:
    """Byte-bounded LRU with single-flight computation; thread-safe."""

    def __init__(self, capacity: int, gate: JobGate | None = None, poll: float = 0.25,
                 release: Callable[[], None] = release_soon, limits: dict[str, int] | None = None):
        self.capacity, self.gate, self.poll, self._release = capacity, gate, poll, release
        self.limits = dict(limits or {})  # kind -> bytes its entries may hold together
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._evicted: dict[Hashable, tuple[weakref.ref, int, str]] = {}
        self._not_kept = 0
        self._computed = 0

    # ---- reading ------------------------------------------------------------------------------
    def usage(self) -> CacheUsage:
        with self._lock:
            kinds: dict[str, int] = {}
            for e in self._entries.values():
                kinds[e.kind] = kinds.get(e.kind, 0) + e.nbytes
            return CacheUsage(self.capacity, sum(kinds.values()), len(self._entries), kinds, self._not_kept,
                              self._computed)

    def keys(self, kind: str) -> list[Hashable]:
        """Keys of the cached entries of one kind, least recently used first."""
        return list(self.sizes(kind))

    def sizes(self, kind: str) -> dict[Hashable, int]:
        """Bytes each cached entry of one kind is counted for, by key, least recently used first."""
        with self._lock:
            return {k: e.nbytes for k, e in self._entries.items() if e.kind == kind}

    def peek(self, key: Hashable) -> Any:
        """The cached value, or None: never computes (for values that cannot be remade on demand)."""
        with self._lock:
            entry = self._lookup(key)
        return None if entry is None else entry.value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._evicted.clear()
        self._release()

    # ---- the one entry point ------------------------------------------------------------------
    def get(self, key: Hashable, compute: Callable[[Progress], Any], *, heavy: bool = False,
            kind: str = "result", on_update: OnUpdate | None = None) -> Any:
        """The value for `key`: cached, shared with a caller computing it now, or computed here.

        `compute(progress)` gets a `progress(fraction, message)` to report through; `on_update`
        is called with a JobStatus while waiting or computing (it may raise to give up).
        """
        while True:
            with self._lock:
                hit = self._lookup(key)
                if hit is not None:
                    return hit.value
                flight = self._flights.get(key)
                owner = flight is None
                if owner:
                    flight = self._flights[key] = _Flight()
            if owner:
                return self._compute(key, flight, compute, heavy, kind, on_update)
            outcome = self._wait(flight, on_update, heavy)
            if outcome is _TAKE_OVER:  # its computer left, or we hold a slot it waits for
                if flight.done:
                    continue
                return self._compute(key, None, compute, heavy, kind, on_update)
            return outcome

    def _lookup(self, key: Hashable) -> _Entry | None:
        """Cached entry (most recently used now), or an evicted value still alive somewhere."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        ghost = self._evicted.pop(key, None)
        if ghost is not None and (value := ghost[0]()) is not None:
            entry = _Entry(value, ghost[1], ghost[2])
            self._store(key, entry)
            return entry
        return None

    def _compute(self, key, flight: _Flight | None, compute, heavy: bool, kind: str,
                 on_update: OnUpdate | None) -> Any:
        def report(status: JobStatus) -> None:
            if flight is not None:
                flight.publish(status)
            if on_update is not None:
                on_update(status)

        def progress(fraction: float, message: str) -> None:
            if heavy and self.gate is not None:  # a new phase: take this moment's share of the cores
                self.gate.share()
            report(JobStatus("running", fraction, message))

        def fresh() -> Any:
            with self._lock:
                self._computed += 1
            return compute(progress)

        try:
            if heavy and self.gate is not None:
                with self.gate.slot(lambda place, running: report(JobStatus("queued", place=place, running=running))):
                    with self._lock:  # computed by someone else while we waited in line?
                        hit = self._lookup(key)
                    value = hit.value if hit is not None else fresh()
            else:
                value = fresh()
        except Exception as exc:  # the settings cannot be computed: every waiter hears why
            self._end(key, flight, error=exc)
            raise
        except BaseException:  # interrupted (a Streamlit rerun or stop): a waiter takes over
            self._end(key, flight, abandoned=True)
            raise
        size = nbytes(value)
        with self._lock:
            if size <= min(self.capacity, self.limits.get(kind, self.capacity)):
                self._store(key, _Entry(value, size, kind))
            else:
                self._not_kept += 1
        self._end(key, flight, value=value)
        if heavy:  # a heavy job just dropped its working copies: give the memory back to the OS
            self._release()
        return value

    def _end(self, key, flight: _Flight | None, value=None, error=None, abandoned=False) -> None:
        if flight is None:
            return
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.finish(value, error, abandoned)

    def _store(self, key: Hashable, entry: _Entry) -> None:
        """Add under the lock, then evict the least recently used entries until it all fits: first
        within the entry's kind if that kind has a limit, then across all kinds."""
        self._entries[key] = entry
        self._entries.move_to_end(key)
        limit = self.limits.get(entry.kind)
        if limit is not None:
            self._evict_until(key, limit, entry.kind)
        self._evict_until(key, self.capacity)
        for k in [k for k, (ref, _, _) in self._evicted.items() if ref() is None]:
            del self._evicted[k]

    def _evict_until(self, keep: Hashable, limit: int, kind: str | None = None) -> None:
        """Least recently used first (of `kind`, or of all), never `keep`, until they hold <= limit."""
        victims = [(k, e) for k, e in self._entries.items() if kind is None or e.kind == kind]
        used = sum(e.nbytes for _, e in victims)
        for old_key, old in victims:
            if used <= limit or old_key == keep:
                break
            del self._entries[old_key]
            used -= old.nbytes
            try:  # if a session still uses it, the next request re-adopts it instead of recomputing
                self._evicted[old_key] = (weakref.ref(old.value), old.nbytes, old.kind)
            except TypeError:  # tuples, strings: cannot be weakly referenced; they go
                pass

    def _wait(self, flight: _Flight, on_update: OnUpdate | None, heavy: bool) -> Any:
        """Wait for another caller's computation; _TAKE_OVER if we should compute it ourselves."""
        while True:
            with flight.cond:
                if not flight.done:
                    flight.cond.wait(self.poll)
                done, status = flight.done, flight.status
            if done:
                if flight.abandoned:
                    return _TAKE_OVER
                if flight.error is not None:
                    raise flight.error
                return flight.value
            # We hold a heavy slot while its computer waits in line for one: waiting could deadlock.
            if heavy and status.state == "queued" and self.gate is not None and self.gate.held_here():
                return _TAKE_OVER
            if on_update is not None:
                on_update(JobStatus("shared", status.fraction, status.message, status.place, status.running))


_TAKE_OVER = object()

