"""The measuring phase of one setting as one call, for a page's heavy job: the pruned copy measured
beside the dense model (`run.run`), the delta that rebuilds the copy later, and the outputs the page
asked for, made on that same copy before it is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import samples
from .config import ResolvedConfig
from .delta import PruneDelta
from .masksummary import MaskSummary
from .progress import Progress, no_progress
from .run import DenseBaseline, LatencySpec, PruneResult, run
from .zoo import LoadedModel

Outputs = str | list[dict[str, float]]  # a continuation, or class probabilities per sentence


@dataclass
class Measured:
    """One measured setting: its result, the delta that rebuilds its pruned copy, and the outputs made
    on that copy for `outputs_for` (the request of whoever measured it first)."""

    result: PruneResult
    delta: PruneDelta
    outputs_for: samples.OutputRequest | None = None
    outputs: Outputs | None = None

    def outputs_of(self, request: samples.OutputRequest) -> Outputs | None:
        """The outputs for `request` if they were made with the measurement (None: rebuild the copy from
        the delta for them)."""
        return self.outputs if request == self.outputs_for else None


def measure(loaded: LoadedModel, resolved: ResolvedConfig, summary: MaskSummary, baseline: DenseBaseline,
            latency: LatencySpec, measure_file: bool, evaluation: str,
            outputs: samples.OutputRequest | None = None, progress: Progress = no_progress) -> Measured:
    """`run.run` with the cheap phase's `summary` of `resolved`, then `outputs` on the same pruned copy."""
    result, pruned = run(loaded, resolved, baseline, latency, measure_file, progress, summary, evaluation)
    delta = PruneDelta.between(loaded.model, pruned, result.structure)
    if outputs is None:
        return Measured(result, delta)
    progress(0.95, "the pruned model's outputs")
    return Measured(result, delta, outputs, samples.outputs(pruned, loaded.tokenizer, outputs))
