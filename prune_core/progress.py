"""The one shape of a progress report: `progress(fraction, text)`, fraction in [0, 1].

Every long computation (pruning, calibration, sweeps, the paper's claims, the shared cache) reports
through it, so a page's progress bar or the CLI's status line can follow any of them.
"""
from __future__ import annotations

from typing import Callable

Progress = Callable[[float, str], None]


def no_progress(fraction: float, text: str) -> None:
    """The default `progress`: no one is watching."""
