"""`python -m prune_core ...`: the same runs as the dashboard, headless and scriptable.

Bad input exits with status 2 and one line on stderr, never a traceback. One module per group of
commands (prune/finetune, sweep/history, paper, models/methods); args.py builds the parser.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

from transformers.utils import logging as hf_logging

from ..errors import PruneScopeError
from .args import build_parser
from .info import cmd_methods, cmd_models
from .paper import cmd_paper
from .prune import cmd_finetune, cmd_prune
from .sweep import cmd_history, cmd_sweep

COMMANDS: dict[str, Callable] = {"models": cmd_models, "methods": cmd_methods, "prune": cmd_prune,
                                 "sweep": cmd_sweep, "history": cmd_history, "paper": cmd_paper,
                                 "finetune": cmd_finetune}


def _quiet() -> None:
    """Keep stdout/stderr for results and errors: no download bars or length warnings."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    _quiet()
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except PruneScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
