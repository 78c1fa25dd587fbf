"""2:4 semi-structured sparse kernels on a CUDA GPU, timed live against dense half precision.

The only kind of masking that dense GPUs can turn into speed without removing anything: NVIDIA
sparse tensor cores (Ampere and later) skip two of every four weights along the input axis.
PyTorch reaches them through `torch.sparse.to_sparse_semi_structured`. Small matrices and eager
calls pay a fixed cost per call that can swamp the saving, so every point is timed both eagerly
and replayed from a CUDA graph. On a machine without CUDA everything here raises a clear
PruneScopeError; the Speed page then shows figures recorded on a GPU instead.
"""
from __future__ import annotations

import copy
import datetime as dt
import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable

import pandas as pd
import torch
from torch import nn

from .errors import PruneScopeError
from .patterns import nm_mask, parse_pattern
from .run import LatencySpec, latency_inputs
from .targets import Target, as_out_in, find_targets

MODES = ("eager", "cudagraph")
TWO_FOUR = parse_pattern("2:4")


def cuda_problem() -> str | None:
    """Why 2:4 kernels cannot run here (None when they can)."""
    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine"
    major, minor = torch.cuda.get_device_capability()
    if major < 8:
        return (f"{torch.cuda.get_device_name()} has compute capability {major}.{minor}; "
                "2:4 sparse tensor cores need 8.0 (Ampere) or newer")
    return None


def _require_cuda() -> None:
    problem = cuda_problem()
    if problem:
        raise PruneScopeError(f"2:4 semi-structured kernels cannot run: {problem}")


def as_linear(module: nn.Module, target: Target) -> nn.Linear:
    """An nn.Linear computing the same map as a target layer (GPT-2's Conv1D stores (in, out))."""
    weight = as_out_in(module.weight.detach(), target)
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=module.bias is not None,
                       device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if module.bias is not None:
            linear.bias.copy_(module.bias.detach())
    return linear


@torch.no_grad()
def two_four_twin(model: nn.Module, scope: str = "all") -> tuple[nn.Module, list[Target]]:
    """A copy of `model` whose in-scope layers are nn.Linear with 2:4 magnitude masks applied.

    Runs anywhere (CPU too); `to_semi_structured` then swaps in the sparse kernels on a GPU.
    """
    twin = copy.deepcopy(model)
    targets = find_targets(twin, scope)
    for t in targets:
        linear = as_linear(twin.get_submodule(t.module), t)
        linear.weight.mul_(nm_mask(linear.weight.abs(), TWO_FOUR, t.module))
        twin.set_submodule(t.module, linear)
    return twin, targets


@torch.no_grad()
def to_semi_structured(model: nn.Module, targets: list[Target]) -> tuple[list[str], dict[str, str]]:
    """Swap each target's 2:4-masked weight for a semi-structured sparse tensor, in place (on the
    GPU copy we own). Returns (converted layer names, {skipped layer: why})."""
    from torch.sparse import to_sparse_semi_structured  # optional: CUDA path (it loads cuSPARSELt bindings)

    converted, skipped = [], {}
    for t in targets:
        linear = model.get_submodule(t.module)
        try:
            linear.weight = nn.Parameter(to_sparse_semi_structured(linear.weight.detach()), requires_grad=False)
            converted.append(t.module)
        except (RuntimeError, ValueError) as exc:  # shape or dtype the kernels do not support
            skipped[t.module] = str(exc).splitlines()[0][:160]
    return converted, skipped


def time_cuda_ms(fn: Callable[[], object], reps: int = 20, warmup: int = 5, rounds: int = 5) -> float:
    """Median over `rounds` of the mean time of `reps` back-to-back calls, timed with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(rounds):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / reps)
    return statistics.median(samples)


def graphed(fn: Callable[[], object]) -> Callable[[], None] | None:
    """`fn` captured in a CUDA graph (its replay skips Python and launch overhead); None if it cannot be."""
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay
    except Exception:  # noqa: BLE001 - some models cannot be captured: the eager figure still stands
        return None


@dataclass
class GpuTiming:
    """Dense vs 2:4 sparse for one model (or layer) at one batch, in one timing mode."""

    level: str  # "model" | "layer"
    name: str
    shape: str
    batch: int
    tokens: int
    mode: str  # "eager" | "cudagraph"
    dense_ms: float
    sparse_ms: float
    speedup: float
    gpu: str
    torch: str
    dtype: str
    date: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GpuReport:
    """Everything one live 2:4 measurement produced, with what could not be converted and why."""

    rows: list[GpuTiming]
    converted: list[str]
    skipped: dict[str, str]
    max_abs_diff: float  # 2:4 kernels vs the same 2:4-masked weights on dense kernels
    notes: list[str] = field(default_factory=list)


def _environment(dtype: torch.dtype) -> dict:
    return {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
            "dtype": str(dtype).replace("torch.", ""), "date": dt.date.today().isoformat()}


@torch.inference_mode()
def time_model_2_4(model: nn.Module, batches: dict[int, dict[str, torch.Tensor]], name: str,
                   dtype: torch.dtype = torch.float16, modes: tuple[str, ...] = MODES,
                   reps: int = 20, scope: str = "all") -> GpuReport:
    """End-to-end dense vs 2:4 for `model` on each batch ({batch size: model inputs}).

    Dense is the model itself in `dtype`; sparse is its 2:4 magnitude-pruned twin with
    semi-structured weights. Both see the same inputs, interleaved per batch.
    """
    _require_cuda()
    dense = copy.deepcopy(model).to("cuda", dtype).eval()
    twin, targets = two_four_twin(model, scope)
    masked = copy.deepcopy(twin).to("cuda", dtype).eval()  # the same 2:4 weights, left on dense kernels
    sparse = twin.to("cuda", dtype).eval()
    converted, skipped = to_semi_structured(sparse, targets)
    if not converted:
        raise PruneScopeError(f"no layer of {name} fits the 2:4 kernels' shape rules: "
                              + "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:3]))
    # Correctness first: the sparse kernels must compute what the same masked weights do densely.
    first = _to_cuda(next(iter(batches.values())))
    diff = float((_logits(sparse(**first)) - _logits(masked(**first))).abs().max())
    del masked
    rows, env, notes = [], _environment(dtype), []
    for batch, inputs in batches.items():
        inputs = _to_cuda(inputs)
        for mode in modes:
            run_d = lambda: dense(**inputs)  # noqa: E731
            run_s = lambda: sparse(**inputs)  # noqa: E731
            if mode == "cudagraph":
                run_d, run_s = graphed(run_d), graphed(run_s)
                if run_d is None or run_s is None:
                    notes.append(f"batch {batch}: CUDA graph capture failed, eager timing only")
                    continue
            n = reps if mode == "cudagraph" else max(3, reps // 4)  # eager 2:4 calls can be slow
            d, s = time_cuda_ms(run_d, n, 3), time_cuda_ms(run_s, n, 3)
            tokens = int(inputs["input_ids"].numel())
            rows.append(GpuTiming("model", f"{name} end-to-end", f"seq {inputs['input_ids'].shape[1]}", batch,
                                  tokens, mode, d, s, d / s, **env))
        torch.cuda.empty_cache()
    return GpuReport(rows, converted, skipped, diff, notes)


def _to_cuda(inputs: dict) -> dict:
    return {k: v.to("cuda") if torch.is_tensor(v) else v for k, v in inputs.items()}


def _logits(out) -> torch.Tensor:
    return (out.logits if hasattr(out, "logits") else out[0]).float()


@torch.inference_mode()
def time_layers_2_4(model: nn.Module, tokens: list[int], dtype: torch.dtype = torch.float16,
                    modes: tuple[str, ...] = MODES, reps: int = 50, scope: str = "all") -> list[GpuTiming]:
    """Dense vs 2:4 for each distinct (out, in) shape among the model's in-scope layers, on random
    activations of `tokens` rows (timing depends on shapes, not values)."""
    return time_shapes_2_4(layer_shapes(model, scope), tokens, dtype, modes, reps)


def layer_shapes(model: nn.Module, scope: str = "all") -> dict[tuple[int, int], str]:
    """Each distinct (out, in) shape among the in-scope layers, labelled with the layers' short names."""
    shapes: dict[tuple[int, int], set[str]] = {}
    for t in find_targets(model, scope):
        shapes.setdefault((t.out_features, t.in_features), set()).add(t.module.rsplit(".", 1)[-1])
    return {s: " / ".join(sorted(k)) for s, k in shapes.items()}


@torch.inference_mode()
def time_shapes_2_4(shapes: dict[tuple[int, int], str], tokens: list[int], dtype: torch.dtype = torch.float16,
                    modes: tuple[str, ...] = MODES, reps: int = 50) -> list[GpuTiming]:
    """Dense vs 2:4 for each (out, in) weight shape ({shape: label}) on random activations of each
    token count; shapes the kernels refuse are left out."""
    _require_cuda()
    from torch.sparse import to_sparse_semi_structured  # optional: CUDA path (it loads cuSPARSELt bindings)

    env, rows = _environment(dtype), []
    gen = torch.Generator(device="cuda").manual_seed(0)
    for (out_f, in_f), label in shapes.items():
        w = torch.randn(out_f, in_f, device="cuda", dtype=dtype, generator=gen)
        w = w * nm_mask(w.abs(), TWO_FOUR, "layer")
        try:
            ws = to_sparse_semi_structured(w)
        except (RuntimeError, ValueError):
            continue  # the model-level report names skipped layers
        for n_tok in tokens:
            x = torch.randn(n_tok, in_f, device="cuda", dtype=dtype, generator=gen)
            for mode in modes:
                run_d = lambda: nn.functional.linear(x, w)  # noqa: E731
                run_s = lambda: nn.functional.linear(x, ws)  # noqa: E731
                if mode == "cudagraph":
                    run_d, run_s = graphed(run_d), graphed(run_s)
                    if run_d is None or run_s is None:
                        continue
                d, s = time_cuda_ms(run_d, reps), time_cuda_ms(run_s, reps)
                rows.append(GpuTiming("layer", label, f"{out_f}x{in_f}", n_tok, n_tok, mode, d, s, d / s, **env))
        torch.cuda.empty_cache()
    return rows


def crossings(frame: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """Per (level, mode): the best speedup and the smallest token count where 2:4 reaches 1x."""
    out = {}
    for key, part in frame.groupby(["level", "mode"], sort=True):
        best = part.loc[part["speedup"].idxmax()]
        wins = part.loc[part["speedup"] >= 1.0, "tokens"]
        out[key] = {"best": float(best["speedup"]), "best_at": f"{best['name']}, {int(best['tokens'])} tokens",
                    "crosses_1x_at_tokens": int(wins.min()) if len(wins) else None}
    return out


def measure_2_4(loaded, batch_sizes: list[int], seq_len: int, modes: tuple[str, ...] = MODES,
                scope: str = "all") -> GpuReport:
    """The Speed page's live GPU figures for a loaded model: end to end on real held-out batches,
    then each distinct layer shape on the same token counts."""
    _require_cuda()
    if not batch_sizes:
        raise PruneScopeError("choose at least one batch size to time")
    batches = {b: latency_inputs(loaded, LatencySpec(batch=b, seq_len=seq_len)) for b in sorted(batch_sizes)}
    if loaded.task == "causal-lm":  # one forward pass, as on CPU: no key/value cache to build
        batches = {b: x | {"use_cache": False} for b, x in batches.items()}
    report = time_model_2_4(loaded.model, batches, loaded.name, modes=modes, scope=scope)
    tokens = sorted({int(x["input_ids"].numel()) for x in batches.values()})
    report.rows += time_layers_2_4(loaded.model, tokens, modes=modes, scope=scope)
    return report
