"""Which examples break first: flips along a sparsity grid (tiny-sentiment-bert), per-token losses (tiny GPT)."""
import math

import numpy as np
import pandas as pd
import pytest

from conftest import fingerprint
from pages.ui import charts
from prune_core import datasets, evaluate, samples
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.fragile import flip_sweep, token_losses, worst_tokens
from prune_core.run import prune_model

GRID = (0.3, 0.6, 0.9)


@pytest.fixture(scope="module")
def sweep(bert):
    before = fingerprint(bert.model)
    result = flip_sweep(bert, "magnitude", grid=GRID, limit=300)
    assert fingerprint(bert.model) == before
    return result


def test_flip_sweep_is_deterministic_and_its_bookkeeping_monotone(bert, sweep):
    again = flip_sweep(bert, "magnitude", grid=(0.9, 0.6, 0.3), limit=300)  # order of the grid does not matter
    pd.testing.assert_frame_equal(sweep.examples, again.examples)
    pd.testing.assert_frame_equal(sweep.curve, again.curve)
    curve, ex = sweep.curve, sweep.examples
    assert list(curve["sparsity"]) == list(GRID) and len(ex) == 300
    assert (np.diff(curve["flipped"]) >= 0).all() and curve["flipped"].iloc[-1] > 0
    for s, flipped, now in zip(curve["sparsity"], curve["flipped"], curve["differ_now"]):
        assert flipped == int((ex["flipped_at"] <= s).sum()) and now <= flipped
    never = ex["flipped_at"].isna()
    assert ex.loc[never, "pruned_prediction"].isna().all() and ex.loc[~never, "pruned_prediction"].notna().all()
    assert (ex.loc[~never, "pruned_prediction"] != ex.loc[~never, "dense_prediction"]).all()
    assert ex["dense_confidence"].between(0.5, 1.0).all()  # two classes: the argmax has at least half


def test_accuracy_along_the_grid_is_the_evaluation_figure(bert, sweep):
    held_out = datasets.tweets("valid")[:300]
    _, pruned = prune_model(bert, PruneConfig(method="magnitude", sparsity=0.9))
    assert sweep.curve["accuracy"].iloc[-1] == evaluate.accuracy(pruned, bert.tokenizer, held_out)
    assert sweep.curve.attrs["dense_accuracy"] == evaluate.accuracy(bert.model, bert.tokenizer, held_out)
    assert evaluate.accuracy(bert.model, bert.tokenizer, datasets.tweets("valid")[:1000]) == 0.925  # the card's


def test_top_ten_are_the_first_to_flip_and_really_flip(bert, sweep):
    top = sweep.most_fragile()
    assert top.shape == (10, 7)
    assert list(top.columns) == ["sentence", "label", "dense_prediction", "dense_confidence", "flipped_at",
                                 "pruned_prediction", "pruned_confidence"]
    keys = list(zip(top["flipped_at"], top["dense_confidence"]))
    assert keys == sorted(keys)
    assert top["flipped_at"].iloc[0] == sweep.examples["flipped_at"].min()
    first = top.iloc[0]  # an independent path (samples.classify on a fresh pruned copy) agrees
    _, pruned = prune_model(bert, PruneConfig(method="magnitude", sparsity=float(first["flipped_at"])))
    dense_p = samples.classify(bert.model, bert.tokenizer, [first["sentence"]])[0]
    pruned_p = samples.classify(pruned, bert.tokenizer, [first["sentence"]])[0]
    assert max(dense_p, key=dense_p.get) == first["dense_prediction"]
    assert max(pruned_p, key=pruned_p.get) == first["pruned_prediction"]
    assert pruned_p[first["pruned_prediction"]] == pytest.approx(first["pruned_confidence"], abs=1e-4)
    fig = charts.flip_curve(sweep.curve, "magnitude")
    assert list(fig.data[0].y) == [0] + list(sweep.curve["flipped"])


def test_bad_requests_are_clear_errors(bert, gpt):
    with pytest.raises(PruneScopeError, match="above 0"):
        flip_sweep(bert, grid=(0.0, 0.5))
    with pytest.raises(PruneScopeError, match="classifiers"):
        flip_sweep(gpt)
    with pytest.raises(PruneScopeError, match="language models"):
        token_losses(bert, PruneConfig())
    with pytest.raises(PruneScopeError, match="whole number"):
        flip_sweep(bert, limit=0)


def test_per_token_losses_on_a_held_out_window(gpt):
    frame = token_losses(gpt, PruneConfig(method="magnitude", sparsity=0.7))
    assert len(frame) == 256 and math.isnan(frame["dense_loss"].iloc[0]) and frame["dense_loss"].iloc[1:].notna().all()
    assert "".join(frame["token"]) == datasets.shakespeare_text("valid")[:256]  # character-level: the text itself
    nll, counts = evaluate.window_nll(gpt.model, gpt.tokenizer, datasets.shakespeare_text("valid"), 256, 256)
    assert counts == [255] and frame["dense_loss"].sum() == pytest.approx(nll[0], rel=1e-6)
    assert frame["pruned_loss"].mean() > frame["dense_loss"].mean()  # 70 % magnitude hurts on average
    worst = worst_tokens(frame, n=15)
    assert len(worst) == 15 and (np.diff(worst["rise"]) <= 0).all()
    assert worst["rise"].iloc[0] == pytest.approx(frame["rise"].max())
    same = token_losses(gpt, PruneConfig(method="magnitude", sparsity=0.0))
    assert np.allclose(same["rise"].iloc[1:], 0.0, atol=1e-4)  # nothing pruned: nothing rises


def test_token_html_escapes_and_colours():
    frame = pd.DataFrame({"token": ["<b>", "&", "\n", "x"], "dense_loss": [np.nan, 1.0, 2.0, 1.0],
                          "pruned_loss": [np.nan, 3.0, 1.0, 1.0]})
    frame["rise"] = frame["pruned_loss"] - frame["dense_loss"]
    out = charts.token_heat_html(frame)
    assert "<b>" not in out and "&lt;b&gt;" in out and "&amp;" in out and "↵<br>" in out
    assert "rgba(211,84,0,1.00)" in out and "rgba(46,134,222,0.50)" in out
