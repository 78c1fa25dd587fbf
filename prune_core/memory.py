"""The server process's memory: how much it holds, and handing freed memory back to the OS.

glibc keeps freed blocks in its heaps (one arena per thread that allocated, up to 8 per core)
instead of returning them to the OS. Measured on SmolLM2-135M, six pruning runs one after the
other, each in a new thread as Streamlit runs them, keeping nothing: RSS 1.0 GB after loading,
3.1 GB after the sixth run; with `malloc_trim(0)` after each run it stays at 1.02 GB. A trim
takes 0.1-0.2 s there, so it runs in a background thread, not in the path of a response.

Large blocks are also mapped on their own (`map_large_blocks`): glibc raises its mmap threshold
after the first large free, up to 32 MiB, so the 3.5 MB matrices of pruned SmolLM2 copies land in
its heaps, where concurrent jobs fragment them. Mapped, each goes back to the OS when freed: five
SmolLM2 sessions moving the slider at once peaked at 3.00 GB instead of 3.29 GB (bench/classroom.py).

Full collections: Streamlit runs `gc.collect(2)` after every script run, holding the GIL, and with
torch, transformers, the charts and a model loaded it walks about 490 000 objects: 266 ms per run, for
every session of a class. The server turns that off (.streamlit/config.toml, runner.postScriptGC) and
leaves cycles to Python's own generational collector; what start-up imported is frozen out of it
(`freeze_long_lived`), so the rare full collection that remains takes under 1 ms for those objects.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import threading


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h); setting it also stops glibc's dynamic raising
LARGE_BLOCK = 1024**2


def map_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Serve every allocation of `threshold` bytes or more (weight matrices) by its own mapping, returned
    to the OS when freed; False where that is not possible (not glibc)."""
    libc = _libc()
    return libc is not None and hasattr(libc, "mallopt") and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1


def freeze_long_lived() -> int:
    """Collect, then move every object still alive into the collector's permanent generation, so that
    full collections skip it; returns how many are frozen. Everything alive is frozen, not only modules:
    call it once, at start-up, when nothing transient lives (a frozen object in a reference cycle is never
    collected; one freed by reference counting still is: tests/test_memory.py)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def release_freed_memory() -> bool:
    """Return freed heap memory to the OS (glibc); False where that is not possible."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class _Trimmer:
    """One background thread that trims after the latest request (requests made while it trims
    are folded into one more trim)."""

    def __init__(self):
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, daemon=True, name="prunescope-malloc-trim")
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            release_freed_memory()


_TRIMMER = _Trimmer()


def release_soon() -> None:
    """Ask for `release_freed_memory` in the background (returns at once)."""
    if _libc() is not None:
        _TRIMMER.request()


def process_rss(pid: int | str = "self") -> int:
    """Resident memory of a process in bytes (Linux /proc), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

