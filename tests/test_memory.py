"""The server's collector: long-lived objects frozen out of full collections, and still freed when dropped."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def test_frozen_model_leaves_full_collections_and_is_still_freed():
    """After `freeze_long_lived` a full collection walks a small fraction of the objects (the imports and
    the model are skipped), and a frozen base model dropped from every cache is freed at once."""
    code = textwrap.dedent("""
        import gc, weakref
        from prune_core import zoo
        from prune_core.memory import freeze_long_lived
        loaded = zoo.load_model("tiny-shakespeare-gpt")
        before = len(gc.get_objects())
        frozen = freeze_long_lived()
        after = len(gc.get_objects())
        model, weight = weakref.ref(loaded.model), weakref.ref(next(loaded.model.parameters()))
        del loaded
        print(before, frozen, after, model() is None and weight() is None)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    before, frozen, after, freed = out.stdout.split()
    assert int(after) < 0.1 * int(before) and int(frozen) > 0.9 * int(before)  # a full collection walks under a tenth
    assert freed == "True"


def test_streamlit_does_not_collect_everything_after_each_run():
    """The server's config turns off Streamlit's full collection after every script run (266 ms of GIL per
    run with a model loaded), as Streamlit itself reads it from .streamlit/config.toml."""
    code = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('runner.postScriptGC'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
