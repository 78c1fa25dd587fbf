"""Make a folder read-only storage for a test, as a user or as root (chmod does not stop root)."""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def read_only(folder: Path):
    """The folder and its files cannot be written while inside; restored afterwards."""
    items = [*folder.iterdir(), folder]
    if os.geteuid() == 0:  # root ignores modes: mark the files immutable instead
        if subprocess.run(["chattr", "+i", *map(str, items)], capture_output=True).returncode:
            pytest.skip("cannot make a read-only folder here (chattr +i refused)")
        undo = lambda: subprocess.run(["chattr", "-i", *map(str, items)], capture_output=True)  # noqa: E731
    else:
        modes = {p: p.stat().st_mode for p in items}
        for p in items:
            p.chmod(0o555 if p.is_dir() else 0o444)
        undo = lambda: [p.chmod(m) for p, m in modes.items()]  # noqa: E731
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this file system ignores read-only marks")
        yield folder
    finally:
        undo()
