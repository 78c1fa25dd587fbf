"""Objects shared by all browser sessions must survive being used from many threads at once."""
import subprocess
import sys
import textwrap

import pytest
import torch

from prune_core.budget import parse_size
from prune_core.errors import PruneScopeError


def test_compressed_size_from_many_threads():
    """A shared python-zstandard compressor segfaulted the server (exit 139) with 5 threads.

    Run in a child process so a crash fails this test instead of killing pytest."""
    code = textwrap.dedent("""
        import threading, torch
        from prune_core.sizes import compressed_bytes
        torch.manual_seed(0)
        tensors = [torch.randn(256, 1024) for _ in range(4)]
        expected = [compressed_bytes(t) for t in tensors]
        errors = []
        def work():
            for _ in range(30):
                for t, e in zip(tensors, expected):
                    if compressed_bytes(t) != e:
                        errors.append("size changed")
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert not errors, errors
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("text,expected", [("6G", 6 * 1024**3), ("512M", 512 * 1024**2), ("1000", 1000),
                                           ("1.5GiB", int(1.5 * 1024**3))])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0"])
def test_parse_size_refuses(text):
    with pytest.raises(PruneScopeError):
        parse_size(text)


def _in_threads(fns):
    """Run the callables together, each in its own thread; their results in order."""
    import threading

    results = [None] * len(fns)

    def call(i):
        results[i] = fns[i]()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_tokenizer_settings_do_not_leak_between_threads(bert):
    """A fast tokenizer's truncation/padding is state: unguarded, 410 of 800 calls got the other's."""
    from prune_core.tokens import tokenize

    def call(text, **kw):
        return lambda: [tokenize(bert.tokenizer, [text] * 16, truncation=True, **kw)["input_ids"]
                        for _ in range(60)]

    a, b, c, d = _in_threads([call("hello world " * 40, padding="max_length", max_length=16),
                              call("hi there " * 30, padding="max_length", max_length=64)] * 2)
    assert all(len(row) == 16 for batch in a + c for row in batch)
    assert all(len(row) == 64 for batch in b + d for row in batch)


def test_generation_is_private_to_its_seed(gpt):
    """Same seed, same text, even while other threads reseed the global RNG and generate too."""
    import torch

    from prune_core.samples import EXAMPLE_PROMPT, generate

    alone = generate(gpt.model, gpt.tokenizer, EXAMPLE_PROMPT, 40, seed=3)

    def reseed():
        for i in range(200):
            torch.manual_seed(i)
            torch.rand(10)

    results = _in_threads([lambda: generate(gpt.model, gpt.tokenizer, EXAMPLE_PROMPT, 40, seed=3),
                           lambda: generate(gpt.model, gpt.tokenizer, EXAMPLE_PROMPT, 40, seed=4),
                           reseed, lambda: generate(gpt.model, gpt.tokenizer, EXAMPLE_PROMPT, 40, seed=3)])
    assert results[0] == alone == results[3]
    assert results[1] != alone
    assert len(alone) > 10


def test_calibration_hooks_ignore_other_sessions(gpt):
    """Wanda's hooks sit on the shared base model: another thread's forward passes through it
    must neither feed our statistics nor be stopped by our capture hook."""
    import threading

    import torch

    from prune_core.config import PruneConfig
    from prune_core.run import prune_masks

    config = PruneConfig(method="wanda", sparsity=0.5, calib_samples=4, calib_seq_len=64)
    alone = prune_masks(gpt, config).masks
    stop, errors = threading.Event(), []
    ids = torch.randint(0, gpt.model.config.vocab_size, (2, 64), generator=torch.Generator().manual_seed(1))

    def other_session():
        while not stop.is_set():
            try:
                with torch.inference_mode():
                    gpt.model(input_ids=ids)
            except Exception as exc:  # noqa: BLE001 - any failure here is the bug
                errors.append(repr(exc))

    others = [threading.Thread(target=other_session) for _ in range(2)]
    for t in others:
        t.start()
    try:
        together = prune_masks(gpt, config).masks
    finally:
        stop.set()
        for t in others:
            t.join()
    assert not errors, errors[:3]
    assert all(torch.equal(alone[k], together[k]) for k in alone)


def test_torch_threads_wait_passively_when_torch_loads():
    """OMP_WAIT_POLICY is read once, when torch's OpenMP runtime loads: it must already be PASSIVE
    by then, whichever of app.py's imports (or the CLI's) loads torch first. Spinning threads made a
    slider move 8x slower on a loaded 2-core server (bench/omp_wait.py, bench/slider_latency.py)."""
    code = textwrap.dedent("""
        import ast, importlib.abc, os, sys
        seen = []
        class Watch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" and not seen:
                    seen.append(os.environ.get("OMP_WAIT_POLICY"))
                return None
        sys.meta_path.insert(0, Watch())
        tree = ast.parse(sys.argv[1])
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        exec(compile(ast.Module(body=imports, type_ignores=[]), "entry", "exec"))
        import torch
        print(seen[0])
    """)
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    for entry in (open("app.py").read(), "from prune_core.cli import main"):  # the server, the CLI
        out = subprocess.run([sys.executable, "-c", code, entry], capture_output=True, text=True, env=env,
                             timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == "PASSIVE", entry[:80]


def test_freed_weight_matrices_go_back_to_the_os():
    """With large blocks mapped on their own, freeing half of many 3.5 MB matrices (interleaved, so the
    heap could not shrink from its top) returns their memory at once, even after a 16 MB block was
    freed (by default that makes glibc raise its mmap threshold to 16 MB, and the matrices stay in its heap)."""
    code = textwrap.dedent("""
        import sys, torch
        from prune_core.memory import map_large_blocks, process_rss
        if sys.argv[1] == "on":
            assert map_large_blocks()
        big = torch.ones(4 * 1024**2); del big  # 16 MB, mapped; freeing it raises the threshold
        blocks = [torch.ones(896 * 1024) for _ in range(60)]  # 3.5 MB each, touched
        before = process_rss()
        del blocks[::2]
        print((before - process_rss()) / (30 * 896 * 1024 * 4))
    """)
    out = subprocess.run([sys.executable, "-c", code, "on"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) > 0.8  # share of the freed bytes given back


def test_decoding_runs_on_one_thread_and_restores_the_callers(gpt):
    """Token-by-token decoding uses one torch thread (samples.DECODE_THREADS); the caller's count is back after."""
    from prune_core import samples

    seen = []
    hook = gpt.model.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        samples.generate(gpt.model, gpt.tokenizer, "ROMEO:", 5, seed=0)
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
