"""The server process's memory: how much it holds, and handing freed memory back to the OS.

glibc keeps freed blocks in its heaps (one arena per thread that allocated, up to 8 per core)
instead of returning them, so after a pruned copy of a 540 MB model is freed the process can
stay 540 MB bigger. `malloc_trim(0)` returns what is free; it is called after heavy jobs and
evictions. `scripts/run.sh` also caps the arenas (MALLOC_ARENA_MAX), which must be set before
the process starts.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc only


def release_freed_memory() -> bool:
    """Return freed heap memory to the OS (glibc); False where that is not possible."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


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


def arena_cap() -> str | None:
    """MALLOC_ARENA_MAX as this process was started with (shown on the Model zoo page)."""
    return os.environ.get("MALLOC_ARENA_MAX")
