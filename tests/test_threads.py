"""Objects shared by all browser sessions must survive being used from many threads at once."""
import subprocess
import sys
import textwrap

import pytest

from prune_core.budget import parse_size
from prune_core.errors import PruneScopeError


def test_compressed_size_from_many_threads():
    """A shared python-zstandard compressor segfaulted the server (exit 139) with 5 threads.

    Run in a child process so a crash fails this test instead of killing pytest."""
    code = textwrap.dedent("""
        import threading, torch
        from prune_core.metrics import compressed_bytes
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
