""""Could anything run this faster?": a short, sourced answer for one pruning result.

Masks are zeros inside dense matrices, so the answer depends on the pattern: unstructured zeros
need sparse kernels (CSR on this CPU pays off only above a measured break-even sparsity), 2:4 needs
NVIDIA sparse tensor cores and large matrices and batches (the crossover batch comes from GPU
figures recorded in data/speed/), and removed neurons/heads give a smaller dense model that every
runtime runs faster (the result's own measured latencies say by how much).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from .gpu import layer_shapes
from .patterns import Pattern, parse_pattern
from .speed import largest_layer_break_even

SPEED_DIR = Path(__file__).resolve().parent.parent / "data" / "speed"
VLLM_DROPPED = "https://github.com/vllm-project/vllm/pull/36799"
TORCHAO_DROPPED = "https://github.com/pytorch/ao/pull/4728"
# PyTorch's tutorial: needs compute capability 8.0+ (Ampere or newer)
SEMI_STRUCTURED_DOCS = "https://github.com/pytorch/tutorials/blob/main/advanced_source/semi_structured_sparse.py"
NO, GPU_ONLY, YES = "no", "only on a large GPU workload", "yes"


@dataclass
class FasterAnswer:
    """The answer: a verdict (NO, GPU_ONLY, YES, or 'yes, with CSR kernels'), its text (markdown), sources."""

    verdict: str
    text: str
    sources: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return f"**Could anything run this faster?** {self.text}  \nSources: " + "; ".join(self.sources)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CsrBreakEven:
    """Where CSR matmuls caught up with dense on this CPU (the Speed page's measurement)."""

    layer: str
    tokens: int
    sparsity: float | None  # None: CSR never caught up up to 99 %


@dataclass
class Crossover:
    """From how many tokens per call 2:4 beats dense on one weight shape, on one recorded GPU."""

    shape: str  # "out x in"
    layers: str
    gpu: str
    mode: str
    tokens: int | None  # smallest measured count from which 2:4 stays >= 1x; None: never in the grid
    lost_at: int | None  # the largest measured count below `tokens` (where 2:4 still lost)
    best: float  # best speedup measured on this shape
    max_tokens: int  # largest count measured

    def to_dict(self) -> dict:
        return asdict(self)


def recorded_gpu_figures(folder: Path = SPEED_DIR) -> pd.DataFrame:
    """Every recorded per-layer 2:4 timing (data/speed/gpu_2_4*.csv, level 'layer'), all GPUs."""
    frames = [pd.read_csv(p) for p in sorted(folder.glob("gpu_2_4*.csv"))]
    if not frames:
        return pd.DataFrame(columns=["gpu", "shape", "mode", "tokens", "speedup", "date"])
    frame = pd.concat(frames, ignore_index=True)
    return frame[frame["level"] == "layer"]


def crossover(rows: pd.DataFrame) -> tuple[int | None, int | None]:
    """(smallest token count from which the speedup stays >= 1x, largest count below it), from the
    points of one shape, GPU and mode. Staying, not touching: one lucky point is not a crossover."""
    by_tokens = rows.groupby("tokens")["speedup"].median().sort_index()
    wins = by_tokens >= 1.0
    if not wins.iloc[-1]:
        return None, None
    losing = wins[~wins]
    if losing.empty:
        return int(by_tokens.index[0]), None
    last_loss = losing.index[-1]
    return int(by_tokens.index[by_tokens.index > last_loss][0]), int(last_loss)


def crossovers(shapes: dict[tuple[int, int], str], figures: pd.DataFrame, mode: str = "cudagraph") -> list[Crossover]:
    """Per (shape, recorded GPU): the crossover. Shapes with no recorded figures are left out
    (`unmeasured` names them)."""
    out = []
    part = figures[figures["mode"] == mode]
    for (o, i), layers in shapes.items():
        for gpu, rows in part[part["shape"] == f"{o}x{i}"].groupby("gpu", sort=True):
            tokens, lost_at = crossover(rows)
            out.append(Crossover(f"{o}x{i}", layers, str(gpu), mode, tokens, lost_at, float(rows["speedup"].max()),
                                 int(rows["tokens"].max())))
    return out


def unmeasured(shapes: dict[tuple[int, int], str], found: list[Crossover]) -> list[str]:
    seen = {c.shape for c in found}
    return [f"{o}x{i}" for o, i in shapes if f"{o}x{i}" not in seen]


BreakEvenSource = Callable[[int], CsrBreakEven]  # tokens per call -> this CPU's measured CSR break-even


def csr_break_even_for(loaded, tokens: int) -> CsrBreakEven:
    """The Speed page's CSR break-even for this model's largest MLP layer at `tokens` per call, measured
    now (a few seconds at most). A server measures it once for all its pages: it passes its shared
    cache as the `break_even` source of `answer_for` and `for_runs`."""
    _, layer, sparsity = largest_layer_break_even(loaded.model, tokens)
    return CsrBreakEven(layer, tokens, sparsity)


def _unstructured(sparsity: float, csr: CsrBreakEven | None) -> FasterAnswer:
    head = (f"Not on dense kernels: the {sparsity:.0%} of weights removed are zeros inside the same dense matrices, "
            "which every runtime (PyTorch, ONNX Runtime, cuBLAS) multiplies in full, so the model is not faster. ")
    sources = ["Speed page: dense vs CSR on the largest MLP layer (prune_core.speed.largest_layer_break_even)"]
    if csr is None:
        return FasterAnswer(NO, head + "Sparse CSR kernels skip zeros but pay for indices; where they catch up on "
                            "this CPU is measured on the Speed page (*Batch size and the CSR break-even point*).",
                            sources)
    if csr.sparsity is None:
        return FasterAnswer(NO, head + f"CSR kernels never caught up with dense on this CPU, up to 99 % sparsity "
                            f"(`{csr.layer}`, {csr.tokens} tokens per call).", sources)
    if sparsity >= csr.sparsity:
        return FasterAnswer("yes, with CSR kernels", head + f"But this is above the measured CSR break-even on this "
                            f"CPU ({csr.sparsity:.0%} on `{csr.layer}`, {csr.tokens} tokens per call): storing the "
                            "pruned layers as CSR would make them faster (one layer measured; check end to end on the "
                            "Speed page).", sources)
    return FasterAnswer(NO, head + f"CSR kernels on this CPU catch up with dense only from {csr.sparsity:.0%} sparsity "
                        f"(`{csr.layer}`, {csr.tokens} tokens per call); this result is at {sparsity:.0%}.", sources)


def _tokens(n: int) -> str:
    return f"{n:,} tokens"


def _two_four(shapes: dict[tuple[int, int], str], figures: pd.DataFrame) -> FasterAnswer:
    found = crossovers(shapes, figures)
    sources = ["data/speed/ (recorded with bench/gpu_semi_structured.py)", SEMI_STRUCTURED_DOCS, VLLM_DROPPED,
               TORCHAO_DROPPED]
    text = ("On a CPU, no. On NVIDIA GPUs of the Ampere generation or newer, sparse tensor cores run 2:4 (fp16/bf16; "
            "PyTorch also accepts int8 and fp32) through `torch.sparse.to_sparse_semi_structured`, and win only on "
            "large matrices and large batches. ")
    if found:
        gpu = max({c.gpu for c in found}, key=lambda g: sum(c.gpu == g for c in found))  # the GPU covering most shapes
        mine = [c for c in found if c.gpu == gpu]
        parts = [f"{c.shape} ({c.layers}): " + (f"from {_tokens(c.tokens)} per call" if c.tokens else
                                                f"never up to {_tokens(c.max_tokens)} (best {c.best:.2f}x)")
                 for c in mine]
        text += f"This model's layer shapes on a recorded {gpu} (CUDA graphs, fp16): " + "; ".join(parts) + ". "
    missing = unmeasured(shapes, found)
    if missing:
        text += (f"Not measured for {', '.join(missing)}: run `python bench/gpu_semi_structured.py --shapes "
                 f"{','.join(missing)}` on a GPU. ")
    text += ("And the serving stacks have been dropping 2:4: vLLM removed its 2:4 sparse (Sparse24) kernels and "
             "no longer loads such models (vllm#36799), and torchao deleted its sparsity module (ao#4728).")
    return FasterAnswer(GPU_ONLY, text, sources)


def _structural(unit: str, latency: tuple[float, float] | None) -> FasterAnswer:
    text = (f"Yes: whole {unit}s were removed, so this is a genuinely smaller dense model, and every runtime "
            "(PyTorch, ONNX Runtime, llama.cpp, any GPU) runs it faster with its ordinary dense kernels. ")
    if latency is None:
        text += "Its measured speed-up comes with the measurement."
    else:
        dense_ms, pruned_ms = latency
        text += (f"Measured here: {pruned_ms:.2f} ms vs dense {dense_ms:.2f} ms on the same batch, "
                 f"{dense_ms / pruned_ms:.2f}x (it grows with the batch).")
    return FasterAnswer(YES, text, ["this result's measured latencies (dense and pruned, interleaved)"])


@dataclass
class Question:
    """"Could anything run this faster?" about one result: its pattern and achieved sparsity on a model
    with these (out, in) layer shapes. Asked once per result (`ask`); answered before its measurement and
    again with it (`answer`), from the same facts."""

    pattern: Pattern
    sparsity: float
    shapes: dict[tuple[int, int], str]
    figures: pd.DataFrame | None = None  # the recorded 2:4 GPU figures (2:4 only)

    @property
    def measured_matters(self) -> bool:
        """Whether the measured figures change the answer: a smaller model's latencies, or the CSR break-even."""
        return not self.pattern.is_nm

    @property
    def needs_csr(self) -> bool:
        return not self.pattern.is_nm and not self.pattern.structural

    def answer(self, latency: tuple[float, float] | None = None, csr: CsrBreakEven | None = None) -> FasterAnswer:
        """`latency`: (dense ms, pruned ms) as measured; `csr`: this CPU's CSR break-even."""
        pattern = self.pattern
        if pattern.structural:
            return _structural(pattern.unit, latency)
        if pattern.is_nm and (pattern.n, pattern.m) == (2, 4):
            return _two_four(self.shapes, recorded_gpu_figures() if self.figures is None else self.figures)
        if pattern.is_nm:
            return FasterAnswer(NO, f"No: PyTorch's sparse tensor-core kernels take only 2:4, so {pattern.name} masks "
                                "stay zeros inside dense matrices on every CPU and GPU. Prune 2:4 for the GPU kernels, "
                                "or remove whole neurons/heads for a smaller model.", [SEMI_STRUCTURED_DOCS])
        return _unstructured(self.sparsity, csr)


def ask(loaded, pattern: str | Pattern, sparsity: float) -> Question:
    """The question for a result on a loaded model: its layer shapes, and for 2:4 the recorded GPU figures."""
    parsed = pattern if isinstance(pattern, Pattern) else parse_pattern(pattern)
    two_four = parsed.is_nm and (parsed.n, parsed.m) == (2, 4)
    return Question(parsed, sparsity, layer_shapes(loaded.model), recorded_gpu_figures() if two_four else None)


def answer(pattern: str | Pattern, sparsity: float, shapes: dict[tuple[int, int], str],
           figures: pd.DataFrame | None = None, latency: tuple[float, float] | None = None,
           csr: CsrBreakEven | None = None) -> FasterAnswer:
    """The answer for a result with this pattern and achieved sparsity on a model with these layer shapes."""
    parsed = pattern if isinstance(pattern, Pattern) else parse_pattern(pattern)
    return Question(parsed, sparsity, shapes, figures).answer(latency, csr)


def answer_for(loaded, pattern: str | Pattern, sparsity: float, latency: tuple[float, float] | None = None,
               tokens: int | None = None, break_even: BreakEvenSource | None = None) -> FasterAnswer:
    """`answer` for a loaded model: its shapes, and for unstructured masks the CSR break-even at
    `tokens` per call (from `break_even`, else `csr_break_even_for`; None: not measured)."""
    question = ask(loaded, pattern, sparsity)
    csr = None
    if tokens is not None and question.needs_csr:
        csr = break_even(tokens) if break_even is not None else csr_break_even_for(loaded, tokens)
    return question.answer(latency, csr)


def crossover_frame(shapes: dict[tuple[int, int], str], figures: pd.DataFrame | None = None,
                    mode: str = "cudagraph") -> pd.DataFrame:
    """One row per (shape, GPU) for the crossover chart, plus a row per shape never measured."""
    figures = recorded_gpu_figures() if figures is None else figures
    found = crossovers(shapes, figures, mode)
    rows = [c.to_dict() | {"measured": True} for c in found]
    rows += [{"shape": s, "layers": shapes[tuple(int(v) for v in s.split("x"))], "gpu": "", "mode": mode,
              "tokens": None, "lost_at": None, "best": None, "max_tokens": None, "measured": False}
             for s in unmeasured(shapes, found)]
    return pd.DataFrame(rows)


def for_runs(loaded, runs: pd.DataFrame, tokens: int,
             break_even: BreakEvenSource | None = None) -> tuple[pd.DataFrame, list[FasterAnswer]]:
    """Compare rows / Paper runs: one row per run (its verdict and measured speed-up) and, per pattern,
    the full answer at that pattern's highest sparsity. The CSR break-even is at `tokens` (from
    `break_even`, else measured by `csr_break_even_for`)."""
    shapes = layer_shapes(loaded.model)
    patterns = {p: parse_pattern(p) for p in runs["pattern"].unique()}
    csr = None
    if any(not p.is_nm and not p.structural for p in patterns.values()):
        csr = break_even(tokens) if break_even is not None else csr_break_even_for(loaded, tokens)
    rows, answers = [], {}
    figures = recorded_gpu_figures()
    for r in runs.sort_values("sparsity_actual").itertuples():
        measured = pd.notna(r.latency_ms) and pd.notna(r.latency_ms_dense)
        latency = (float(r.latency_ms_dense), float(r.latency_ms)) if measured else None
        a = answer(patterns[r.pattern], float(r.sparsity_actual), shapes, figures, latency, csr)
        answers[r.pattern] = a  # sorted by sparsity: the last one per pattern is its highest
        rows.append({"method": r.method, "pattern": r.pattern, "sparsity": float(r.sparsity_actual),
                     "measured speed-up (dense ms / pruned ms)": latency[0] / latency[1] if latency else None,
                     "could anything run it faster?": a.verdict})
    return pd.DataFrame(rows), list(answers.values())
