"""Latency of forward passes, timed honestly: warm-up, repetitions, median and quartiles, fixed threads.

A zeroed weight still costs a multiply in a dense fp32 kernel, so a pruned model's latency is
measured, never derived from its sparsity; dense and pruned are timed together, interleaved.
"""
from __future__ import annotations

import platform
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class LatencyStats:
    """Forward-pass wall time of one model; figures in milliseconds."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    reps: int
    warmup: int
    batch: int
    seq_len: int
    threads: int
    dtype: str
    device: str

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def setup(self) -> str:
        return (f"{self.device}, {self.threads} threads, {self.dtype}, batch {self.batch} x "
                f"{self.seq_len} tokens, median of {self.reps} after {self.warmup} warm-up")


def device_name() -> str:
    """CPU model as the OS reports it (what a reader needs to compare latencies)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return "CPU " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"CPU {platform.processor() or platform.machine()}"


def summarize_ms(xs: list[float]) -> tuple[float, float, float]:
    """(median, first quartile, third quartile) of timings in ms: the spread every chart shows."""
    q = statistics.quantiles(xs, n=4) if len(xs) >= 2 else [xs[0]] * 3
    return statistics.median(xs), q[0], q[2]


_TIMING = threading.RLock()  # re-entrant: a timed helper may call another


@contextmanager
def torch_threads(threads: int):
    """`threads` torch threads for the calling thread (its own setting), restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def timing_threads(threads: int):
    """Hold the process's one timing slot with `threads` torch threads, restored afterwards.

    torch's thread count belongs to the calling thread, but the cores are the whole process's: two
    sessions timing at once would each measure the other's load. Every latency figure is taken
    inside this, one at a time.
    """
    with _TIMING, torch_threads(threads):
        yield


@torch.inference_mode()
def measure_latency(models: dict[str, nn.Module], inputs: dict[str, torch.Tensor], reps: int = 10,
                    warmup: int = 2, threads: int = 2) -> dict[str, LatencyStats]:
    """Time several models on the same batch, interleaved so drift hits all of them alike."""
    with timing_threads(threads):
        for model in models.values():
            for _ in range(warmup):
                model(**inputs)
        samples: dict[str, list[float]] = {k: [] for k in models}
        for _ in range(reps):
            for key, model in models.items():
                start = time.perf_counter()
                model(**inputs)
                samples[key].append((time.perf_counter() - start) * 1000)
    batch, seq_len = inputs["input_ids"].shape
    dtype = str(next(iter(models.values())).parameters().__next__().dtype).replace("torch.", "")
    out = {}
    for key, xs in samples.items():
        out[key] = LatencyStats(*summarize_ms(xs), min(xs), reps, warmup, batch, seq_len, threads, dtype,
                                device_name())
    return out
