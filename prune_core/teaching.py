"""For students: a short glossary and the scoring of "predict, then reveal" guesses."""
from __future__ import annotations

from dataclasses import dataclass

GLOSSARY = {
    "sparsity": "The share of weights set to zero (or removed). 50 % sparsity keeps half of the weights in scope.",
    "N:M": "A pattern that keeps N weights in every group of M neighbours along a row, e.g. 2:4. It always gives "
           "the same sparsity (here 50 %), and NVIDIA GPUs from Ampere on have kernels that run 2:4 faster.",
    "structured": "Pruning whole units (MLP neurons, attention heads) instead of single weights. The matrices "
                  "really get smaller, so dense kernels run faster, but quality usually drops sooner.",
    "unstructured": "Any single weight may go. Keeps quality longest, but the zeros sit inside dense matrices: "
                    "same size and speed unless stored or computed in a sparse format.",
    "calibration": "A few training examples run through the model to measure its activations. Wanda and "
                   "SparseGPT use them to judge which weights matter; they are never the evaluation data.",
    "perplexity": "How surprised a language model is by held-out text: the number of equally likely choices it "
                  "hesitates between per token. Lower is better; a uniform guess scores the vocabulary size.",
    "accuracy": "The share of held-out examples a classifier labels correctly. Higher is better.",
    "fine-tuning": "Training a pruned model a little more, keeping its zeros, so the remaining weights "
                   "compensate for the removed ones (recovery).",
}


@dataclass(frozen=True)
class GuessScore:
    """How close a student's guess of the pruned quality was to the measured one."""

    guess: float
    actual: float
    dense: float
    error: float  # guess - actual, in the metric's units
    relative: float  # |error| / |actual - dense| (how much of the change was missed); inf if nothing changed
    verdict: str

    def text(self, metric: str) -> str:
        return (f"You guessed {self.guess:.4g}; the measured {metric} is {self.actual:.4g} (dense {self.dense:.4g}). "
                f"{self.verdict}")


def score_guess(guess: float, actual: float, dense: float) -> GuessScore:
    """Judge a guess against the measured change from dense: within a quarter of the change is close."""
    error = guess - actual
    change = abs(actual - dense)
    relative = abs(error) / change if change > 1e-12 else (0.0 if abs(error) < 1e-12 else float("inf"))
    if relative <= 0.25 or abs(error) <= 1e-3 * max(abs(actual), 1e-12):
        verdict = "Close: you read the trade-off well."
    elif (guess - dense) * (actual - dense) > 0 and abs(guess - dense) < change:
        verdict = "The model got worse than you expected."
    elif (guess - dense) * (actual - dense) > 0:
        verdict = "The model held up better than you expected."
    else:
        verdict = "Pruning moved quality the other way from your guess."
    return GuessScore(guess, actual, dense, error, relative, verdict)
