"""The server's memory budget: one number that model loading and result caches both respect.

Set `PRUNESCOPE_MEMORY_BUDGET` to a size ("6G", "512M", or bytes); by default half of the
machine's physical memory, so that a class of students can never push the server into swap
or the OOM killer.
"""
from __future__ import annotations

import os
import re
from typing import Mapping

from .errors import PruneScopeError

ENV = "PRUNESCOPE_MEMORY_BUDGET"
DEFAULT_FRACTION = 0.5
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def physical_memory() -> int:
    """Bytes of RAM on this machine (cgroup limit if lower)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = open(path, encoding="ascii").read().strip()
        except OSError:
            continue
        if raw.isdigit():
            total = min(total, int(raw))
    return total


def parse_size(text: str) -> int:
    """'6G' -> bytes; a clear error for anything else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise PruneScopeError(f"{ENV}={text!r} is not a size; write e.g. 6G, 512M or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def memory_budget(env: Mapping[str, str] = os.environ) -> int:
    """Bytes the server may use for models and cached results."""
    raw = env.get(ENV, "").strip()
    return parse_size(raw) if raw else int(physical_memory() * DEFAULT_FRACTION)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
