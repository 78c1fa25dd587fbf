"""The server's settings, read once from the environment: one place a teacher sets up a class.

    PRUNESCOPE_CLASSROOM=1            students use only the zoo and the teacher's extra models: no local
                                      folders, hub ids or uploads typed in from the page
    PRUNESCOPE_EXTRA_MODELS=dir1:dir2 local Hugging Face folders (safetensors) offered beside the zoo
    PRUNESCOPE_MAX_JOBS=2             heavy computations running at once (default: the usable cores)
    PRUNESCOPE_MEMORY_BUDGET=6G       see budget.py (default: half the machine's memory)
    PRUNESCOPE_TEACHER_TOKEN=secret   in a classroom, who types it may clear a challenge scoreboard
                                      (without it, no one can from the page)
"""
from __future__ import annotations

import functools
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from . import budget
from .errors import PruneScopeError
from .zoo import EMBEDDED

RESULTS_PART = 32  # 1/32 of the cache: 225 MB of a 12 GB budget, ~16 SmolLM2 configurations
CACHE_SHARE = 0.6  # of the budget, for cached models and results; the rest is for running jobs and Python
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


def usable_cores() -> int:
    """CPUs this process may run on (a container's affinity, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in _TRUE | _FALSE:
        raise PruneScopeError(f"{name}={env[name]!r}: write 1 (on) or 0 (off)")
    return raw in _TRUE


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise PruneScopeError(f"{name}={raw!r}: write a whole number of at least 1")
    return int(raw)


def _folders(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    out = []
    for part in env.get(name, "").split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part.strip()).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise PruneScopeError(f"{name}: '{part}' is not a Hugging Face model folder (no config.json in it)")
        out.append(str(path))
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class ServerSettings:
    """What the server allows; fixed for the life of the process."""

    classroom: bool = False  # only the zoo and extra_models can be loaded from the page
    extra_models: tuple[str, ...] = ()  # absolute folder paths the teacher added
    max_jobs: int = 2  # heavy computations (pruning runs, evaluations, generation) running at once
    memory_budget: int = 4 * 1024**3  # bytes the server may use
    teacher_token: str = field(default="", repr=False)  # never printed with the settings

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "ServerSettings":
        return cls(classroom=_flag(env, "PRUNESCOPE_CLASSROOM"),
                   extra_models=_folders(env, "PRUNESCOPE_EXTRA_MODELS"),
                   max_jobs=_count(env, "PRUNESCOPE_MAX_JOBS", usable_cores()),
                   memory_budget=budget.memory_budget(env),
                   teacher_token=env.get("PRUNESCOPE_TEACHER_TOKEN", "").strip())

    @property
    def cache_bytes(self) -> int:
        """Room for cached models and results; the rest of the budget is left to running jobs."""
        return int(self.memory_budget * CACHE_SHARE)

    @property
    def results_bytes(self) -> int:
        """Room, within the cache, for the results of single configurations (runs, masks, sample outputs).
        They are remade in seconds; kept without a bound they grew a SmolLM2 server by 15 MB a slider
        move for as long as it ran (bench/classroom.py --moves 200)."""
        return self.cache_bytes // RESULTS_PART

    @property
    def custom_models(self) -> bool:
        """May a user type a folder or hub id, or upload a model? Not in a classroom."""
        return not self.classroom

    def may_clear_scoreboards(self, token: str) -> bool:
        """Outside a classroom the user owns the server; in one, only who knows the teacher token."""
        if not self.classroom:
            return True
        return bool(self.teacher_token) and hmac.compare_digest(token.encode(), self.teacher_token.encode())

    def models(self) -> list[str]:
        """The names the model picker offers (zoo first, then the teacher's folders)."""
        return list(EMBEDDED) + [m for m in self.extra_models if m not in EMBEDDED]

    def check_model(self, name: str) -> None:
        """Refuse, in a classroom, any model that is neither in the zoo nor added by the teacher."""
        if self.custom_models or name in EMBEDDED or name in self.extra_models:
            return
        raise PruneScopeError(f"'{name}' is not offered on this classroom server: pick a model from the list "
                              "(the teacher can add folders with PRUNESCOPE_EXTRA_MODELS)")


@functools.cache
def server_settings() -> ServerSettings:
    """The process's server settings (read from the environment on first use)."""
    return ServerSettings.from_env()
