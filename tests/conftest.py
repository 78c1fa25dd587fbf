"""Shared fixtures: the shipped tiny models, loaded once per test session (offline)."""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach a model hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def gpt():
    from prune_core.zoo import load_model

    return load_model("tiny-shakespeare-gpt")


@pytest.fixture(scope="session")
def bert():
    from prune_core.zoo import load_model

    return load_model("tiny-sentiment-bert")


def fingerprint(model: torch.nn.Module) -> str:
    """Hash of every parameter's bytes: equal fingerprints mean bit-identical weights."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def assert_outputs_close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Model outputs of two model objects: equal up to float rounding, never bit-exactly.

    The same weights can take different CPU kernel paths (memory alignment, CPU vendor): on an
    AMD EPYC a reloaded BERT's logits differed by 1.2e-7 from the in-memory model's. Weights and
    masks are compared bit-exactly instead (`fingerprint`, torch.equal on masks).
    """
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def render_page(module: str, choice: str, state: dict | None = None, timeout: float = 300):
    """One page rendered on its own (pages are functions), with the shared sidebar picker set to `choice`
    and `state` set in the session before the first run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(f"from pages.ui.picker import model_picker\nfrom pages import {module}\n"
                             f"model_picker()\n{module}.page()", default_timeout=timeout)
    at.session_state["model_choice"] = choice
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


MB = 1024**2  # bytes


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def start(fn, *args) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t
