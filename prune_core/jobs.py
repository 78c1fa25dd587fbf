"""A gate for heavy computations: at most `limit` run at once, the others wait in line (FIFO).

On one server a class of students moves sliders at the same moment. Without a bound every
pruning run, evaluation and generation runs at once, each gets a sliver of the cores, and
everybody waits for everybody (15 s moves with 5 sessions, docs/benchmarks.md). With the gate,
the first `limit` jobs run at full speed and the rest learn their place in line.

A waiting caller's `on_wait(place, running)` is called at once and then every `poll` seconds
(place 1 = next to start), so a page can show "waiting: 3rd in line" and, in Streamlit, a
waiting session notices that its user moved on (the rerun is raised inside that callback) and
leaves the line. A thread that already holds a slot passes through: a heavy job that calls
another heavy function does not wait for itself.

The cores are shared out too: a job running alone uses them all, two running jobs half each
(`share`, called on entry and at each phase of a job). torch's thread count belongs to the calling
thread, and two jobs of 2 OpenMP threads each on 2 cores spin against each other: both slow down
far more than by taking turns.

`Job` is one piece of background work of a session (a Compare sweep, a fine-tuning run): a thread
that takes its place in the gate, reports progress, can be asked to stop and keeps its result or error.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

import torch

WaitCallback = Callable[[int, int], None]  # (place in line, 1 = next; jobs running)
T = TypeVar("T")


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class GateStatus:
    """A snapshot for the page that shows the server's load."""

    limit: int
    running: int
    waiting: int


class JobGate:
    """Counting semaphore with a FIFO line and places that callers can see."""

    def __init__(self, limit: int, poll: float = 0.25, cores: int | None = None):
        if limit < 1:
            raise ValueError("a gate needs at least one slot")
        self.limit, self.poll, self.cores = limit, poll, cores
        self._cond = threading.Condition()
        self._line: deque[object] = deque()  # tickets of waiting callers, oldest first
        self._running = 0
        self._local = threading.local()  # slots held by this thread (re-entry passes through)

    def held_here(self) -> bool:
        """Does the calling thread hold a slot (so it must never wait for one)?"""
        return getattr(self._local, "depth", 0) > 0

    def status(self) -> GateStatus:
        with self._cond:
            return GateStatus(self.limit, self._running, len(self._line))

    @contextlib.contextmanager
    def slot(self, on_wait: WaitCallback | None = None) -> Iterator[None]:
        """Hold one slot for the `with` body, waiting in line for it if all are taken."""
        if self.held_here():
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        self._acquire(on_wait)
        self._local.depth = 1
        try:
            self.share()
            yield
        finally:
            if self.cores:  # back to every core: torch also hands the last count set to threads started later
                torch.set_num_threads(self.cores)
            self._local.depth = 0
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def share(self) -> int:
        """Set the calling job's torch threads to its share of the cores now (all of them when it runs
        alone) and return it; a no-op (0) for a gate that does not share cores or outside a slot."""
        if not self.cores or not self.held_here():
            return 0
        with self._cond:
            running = max(1, self._running)
        threads = max(1, self.cores // running)
        torch.set_num_threads(threads)
        return threads

    def _acquire(self, on_wait: WaitCallback | None) -> None:
        ticket = object()
        with self._cond:
            if not self._line and self._running < self.limit:  # free slot, nobody ahead
                self._running += 1
                return
            self._line.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._line[0] is ticket and self._running < self.limit:
                        self._line.popleft()
                        self._running += 1
                        self._cond.notify_all()  # the next in line moved up a place
                        return
                    place, running = self._line.index(ticket) + 1, self._running
                if on_wait is not None:
                    on_wait(place, running)  # outside the lock: it may draw, or raise to leave the line
                with self._cond:
                    if not (self._line[0] is ticket and self._running < self.limit):
                        self._cond.wait(self.poll)
        except BaseException:  # the caller gave up (Streamlit rerun, stop, error in on_wait)
            with self._cond:
                if ticket in self._line:
                    self._line.remove(ticket)
                self._cond.notify_all()
            raise


class Job(Generic[T]):
    """`work(job)` in a daemon thread, in a slot of `gate` (if given), so a page can redraw while it runs.

    The work reports with `job.report(fraction, text)` and checks `job.cancelled()` between steps
    (`cancel()` asks it to stop: it ends early and returns what it has). What it returns is `result`;
    what it raises is kept in `error` (a thread's exception would otherwise only reach stderr).
    `about` is the starter's own record of what the job does (its settings), for whoever shows it.
    The attributes are written by the job's thread and read by others: each is one assignment.
    """

    def __init__(self, work: Callable[["Job[T]"], T], gate: JobGate | None = None, name: str = "prunescope-job",
                 about: Any = None):
        self.about = about
        self.place = 0  # place in the gate's line while waiting for a slot (1 = next); 0 once running
        self.busy = 0  # heavy jobs running while this one waits
        self.fraction, self.text = 0.0, ""  # the latest progress report
        self.result: T | None = None
        self.error: Exception | None = None
        self.started: float | None = None  # time.time() at start()
        self._work, self._gate = work, gate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> "Job[T]":
        self.started = time.time()
        self._thread.start()
        return self

    def report(self, fraction: float, text: str) -> None:
        self.fraction, self.text = fraction, text

    def cancel(self) -> None:
        """Ask the work to stop at its next check (it may still finish the step it is in)."""
        self._stop.set()

    def cancelled(self) -> bool:
        return self._stop.is_set()

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the work to end (at most `timeout` seconds); True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            with self._gate.slot(self._waiting) if self._gate is not None else contextlib.nullcontext():
                self.place = 0
                self.result = self._work(self)
        except _LeftTheLine:  # cancelled before it started: no result, no error
            self.place = 0
        except Exception as exc:  # kept for the page that shows the job
            self.error = exc

    def _waiting(self, place: int, running: int) -> None:
        """The gate's callback while in line: a cancelled job leaves the line at once."""
        if self.cancelled():
            raise _LeftTheLine
        self.place, self.busy = place, running


class _LeftTheLine(Exception):
    """Raised in a cancelled job's wait for a slot: the gate takes it out of the line."""
