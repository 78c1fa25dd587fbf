"""Which examples break first: per-example predictions as sparsity rises, per-token losses at one sparsity.

Why: accuracy and perplexity average over the held-out set, so they hide *which* sentences and
*which* words pruning hurts. Classifiers: the held-out examples (the card's evaluation set, the same
as the accuracy figure) are classified by a pruned copy at each sparsity of a grid; an example
"flips" when its predicted label differs from the dense model's. Language models: the next-token
loss of every token of one held-out window, dense and pruned. Pruned copies are private and dropped
after use; the base model is only read.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import datasets
from .config import PruneConfig
from .errors import PruneScopeError
from .evaluate import _first_tokens, example_logits, token_nll
from .memory import release_soon
from .run import prune_model
from .zoo import LoadedModel

GRID = tuple(round(0.1 * i, 1) for i in range(1, 10))  # 10 % ... 90 %; the dense model is the reference


@dataclass
class FlipSweep:
    """Per-example predictions of the dense model and of the pruned copies along a sparsity grid."""

    model: str
    method: str
    pattern: str
    grid: list[float]
    examples: pd.DataFrame  # one row per held-out example (see `flip_sweep`)
    curve: pd.DataFrame  # one row per sparsity: flipped, differ_now, accuracy

    def most_fragile(self, n: int = 10) -> pd.DataFrame:
        """The `n` examples that flip first; at the same sparsity, the least confident dense prediction
        first (closest to the decision boundary), then held-out order. Never-flipped examples are left out."""
        flipped = self.examples.dropna(subset=["flipped_at"])
        ranked = flipped.sort_values(["flipped_at", "dense_confidence", "index"], kind="mergesort")
        return ranked.head(n)[["sentence", "label", "dense_prediction", "dense_confidence", "flipped_at",
                               "pruned_prediction", "pruned_confidence"]].reset_index(drop=True)


def _probs(loaded: LoadedModel, model, texts: list[str]) -> np.ndarray:
    ev = loaded.card.eval
    logits = example_logits(model, loaded.tokenizer, texts, int(ev.get("batch_size", 64)), int(ev.get("max_length", 64)))
    return torch.softmax(logits.float(), dim=-1).numpy()


def flip_sweep(loaded: LoadedModel, method: str = "magnitude", pattern: str = "unstructured",
               grid: tuple[float, ...] = GRID, seed: int = 0, limit: int | None = None,
               progress=lambda fraction, message: None) -> FlipSweep:
    """Classify the held-out examples with the dense model and with a pruned copy at each grid sparsity.

    `examples` columns: index, sentence, label (true), dense_prediction, dense_confidence (its
    probability), flipped_at (first grid sparsity whose prediction differs from dense, NaN if none),
    pruned_prediction and pruned_confidence (the pruned copy's label and its probability there).
    `curve`: per sparsity, `flipped` = examples that have flipped at or below it (monotone), `differ_now`
    = examples whose prediction differs there (an example may flip back), and the accuracy.
    `limit`: only the first `limit` of the card's evaluation examples (a quicker look)."""
    if loaded.task == "causal-lm":
        raise PruneScopeError("flips are for classifiers; for a language model use per-token losses")
    grid = sorted({float(s) for s in grid})
    if not grid or grid[0] <= 0:
        raise PruneScopeError("the sparsity grid needs values above 0 (the dense model is the reference)")
    n = int(loaded.card.eval.get("n_examples", 1000))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise PruneScopeError(f"the number of examples must be a whole number of at least 1, got {limit!r}")
        n = min(n, limit)
    held_out = datasets.tweets("valid")[:n]
    texts, labels = [t for t, _ in held_out], np.array([y for _, y in held_out])
    names = loaded.model.config.id2label
    progress(0.0, f"classifying {len(texts)} held-out examples with the dense model")
    dense = _probs(loaded, loaded.model, texts)
    dense_pred = dense.argmax(-1)
    preds, confs = [], []
    for i, sparsity in enumerate(grid):
        progress((i + 1) / (len(grid) + 1), f"pruning to {sparsity:.0%} with {method} and classifying")
        _, pruned = prune_model(loaded, PruneConfig(method=method, sparsity=sparsity, pattern=pattern, seed=seed))
        probs = _probs(loaded, pruned, texts)
        del pruned
        release_soon()
        preds.append(probs.argmax(-1))
        confs.append(probs.max(-1))
    preds, confs = np.stack(preds), np.stack(confs)  # (grid, examples)
    differs = preds != dense_pred[None, :]
    ever = differs.any(0)
    first = np.where(ever, differs.argmax(0), 0)
    cols = np.arange(len(texts))
    examples = pd.DataFrame({
        "index": cols, "sentence": texts, "label": [names[int(y)] for y in labels],
        "dense_prediction": [names[int(p)] for p in dense_pred], "dense_confidence": dense.max(-1),
        "flipped_at": np.where(ever, np.asarray(grid)[first], np.nan),
        "pruned_prediction": [names[int(p)] if e else None for p, e in zip(preds[first, cols], ever)],
        "pruned_confidence": np.where(ever, confs[first, cols], np.nan)})
    flipped_by = [int((ever & (first <= i)).sum()) for i in range(len(grid))]
    curve = pd.DataFrame({"sparsity": grid, "flipped": flipped_by, "differ_now": differs.sum(1),
                          "accuracy": (preds == labels[None, :]).mean(1)})
    curve.attrs.update(n=len(texts), dense_accuracy=float((dense_pred == labels).mean()))
    progress(1.0, "done")
    return FlipSweep(loaded.key, method, pattern, grid, examples, curve)


def token_losses(loaded: LoadedModel, config: PruneConfig, window: int = 0) -> pd.DataFrame:
    """Next-token loss of every token of one held-out window, dense and pruned (a private copy).

    The window is the `window`-th block of the card's evaluation length (seq_len tokens) of the held-out
    Shakespeare text, as the perplexity figure cuts it. Columns: position, token (its text), dense_loss,
    pruned_loss, rise (pruned - dense, nats); the first token is not predicted (losses NaN)."""
    if loaded.task != "causal-lm":
        raise PruneScopeError("per-token losses are for language models; for a classifier use flip_sweep")
    seq_len = int(loaded.card.eval.get("seq_len", 256))
    ids = _first_tokens(loaded.tokenizer, datasets.shakespeare_text("valid"), seq_len * (window + 1))
    ids = ids[window * seq_len:(window + 1) * seq_len]
    if len(ids) < 2:
        raise PruneScopeError(f"held-out window {window} is beyond the evaluation text")
    x = torch.tensor([ids], dtype=torch.long)
    dense = token_nll(loaded.model, x)[0].double().numpy()
    _, pruned_model = prune_model(loaded, config)
    pruned = token_nll(pruned_model, x)[0].double().numpy()
    del pruned_model
    release_soon()
    frame = pd.DataFrame({"position": np.arange(len(ids)),
                          "token": [loaded.tokenizer.decode([i]) for i in ids],
                          "dense_loss": np.concatenate([[np.nan], dense]),
                          "pruned_loss": np.concatenate([[np.nan], pruned])})
    frame["rise"] = frame["pruned_loss"] - frame["dense_loss"]
    return frame


def worst_tokens(frame: pd.DataFrame, n: int = 15, context: int = 24) -> pd.DataFrame:
    """The `n` tokens whose loss rose most, each with the text just before it."""
    text = frame["token"].tolist()
    top = frame.dropna(subset=["rise"]).sort_values(["rise", "position"], ascending=[False, True], kind="mergesort")
    rows = []
    for _, r in top.head(n).iterrows():
        before = "".join(text[:int(r["position"])])[-context:]
        rows.append({"position": int(r["position"]), "context": before, "token": r["token"],
                     "dense_loss": r["dense_loss"], "pruned_loss": r["pruned_loss"], "rise": r["rise"]})
    return pd.DataFrame(rows)
