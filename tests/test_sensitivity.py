"""Sensitivity analysis and the allocation proposed from it."""
import pandas as pd
import pytest

from conftest import fingerprint
from prune_core.sensitivity import evaluate_allocation, layer_sensitivity, propose_allocation


def test_sensitivity_grid_and_base_untouched(bert):
    before = fingerprint(bert.model)
    sens = layer_sensitivity(bert, [0.5, 0.9], scope="mlp")
    assert len(sens) == 2 * 4 and set(sens["kind"]) == {"mlp"}
    assert (sens.groupby("layer")["damage"].apply(lambda d: d.iloc[-1] >= d.iloc[0] - 0.01)).all()
    assert fingerprint(bert.model) == before


def test_proposal_reaches_target_and_prefers_robust_layers():
    sens = pd.DataFrame([
        {"layer": "a", "params": 100, "sparsity": s, "damage": d} for s, d in ((0.5, 0.0), (0.9, 0.01))] + [
        {"layer": "b", "params": 100, "sparsity": s, "damage": d} for s, d in ((0.5, 0.2), (0.9, 0.5))])
    alloc = propose_allocation(sens, 0.5)
    assert alloc["a"] == 0.9 and alloc["b"] < 0.9
    assert (alloc["a"] + alloc["b"]) * 100 >= 0.5 * 200


def test_evaluate_allocation_counts_sparsity(gpt):
    q, s = evaluate_allocation(gpt, {"transformer.h.0.mlp.c_fc": 0.5})
    assert s == pytest.approx(0.5 * 192 * 768 / 1_769_472, rel=1e-6)  # one of 16 layers, half of it
    assert q >= gpt.card.quality_dense * 0.99
