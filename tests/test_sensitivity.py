"""Sensitivity analysis and the allocation proposed from it."""
import pandas as pd
import pytest

from conftest import fingerprint
from prune_core.sensitivity import evaluate_allocation, layer_sensitivity, propose, propose_allocation


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


def test_propose_measures_the_proposal_beside_uniform_magnitude(bert):
    """The Layers and Compare pages' proposal: from a sensitivity table, every module gets a sparsity;
    the robust layer is pruned harder, and both allocations are evaluated on the same data."""
    from prune_core.targets import find_targets

    modules = [t.module for t in find_targets(bert.model, "all")]
    params = {t.module: t.numel for t in find_targets(bert.model, "all")}
    robust = modules[0]
    sens = pd.DataFrame([{"layer": m, "params": params[m], "sparsity": s, "damage": (0.0 if m == robust else 0.5) * s}
                         for m in modules for s in (0.3, 0.5, 0.7, 0.9)])
    before = fingerprint(bert.model)
    p = propose(bert, sens, 0.5)
    assert set(p.allocation) == set(modules) and p.allocation[robust] == 0.9
    assert p.sparsity >= 0.5 - 1e-9 and p.uniform_sparsity == pytest.approx(0.5, abs=1e-3)
    assert (p.quality, p.sparsity) == evaluate_allocation(bert, p.allocation)
    assert (p.uniform_quality, p.uniform_sparsity) == evaluate_allocation(bert, {m: 0.5 for m in modules})
    assert fingerprint(bert.model) == before


def test_evaluate_allocation_counts_sparsity(gpt):
    q, s = evaluate_allocation(gpt, {"transformer.h.0.mlp.c_fc": 0.5})
    assert s == pytest.approx(0.5 * 192 * 768 / 1_769_472, rel=1e-6)  # one of 16 layers, half of it
    assert q >= gpt.card.quality_dense * 0.99


KINDS = {"attention q/k/v", "attention output", "MLP up/gate", "MLP down"}


def test_kinds_found_for_gpt_bert_and_llama_names(gpt, bert):
    from prune_core.sensitivity import groups
    from prune_core.targets import Target, find_targets

    gpt_kinds = groups(find_targets(gpt.model, "all"), "kind")
    assert set(gpt_kinds) == KINDS and all(len(v) == 4 for v in gpt_kinds.values())  # one per block, 4 blocks
    assert [t.module for t in gpt_kinds["MLP down"]][0] == "transformer.h.0.mlp.c_proj"
    assert [t.module for t in gpt_kinds["attention output"]][0] == "transformer.h.0.attn.c_proj"
    bert_kinds = groups(find_targets(bert.model, "all", include_head=True), "kind")
    assert set(bert_kinds) == KINDS | {"head"}
    assert len(bert_kinds["attention q/k/v"]) == 6 and len(bert_kinds["MLP down"]) == 2
    assert [t.module for t in bert_kinds["attention output"]] == [
        f"bert.encoder.layer.{b}.attention.output.dense" for b in (0, 1)]  # not taken for the MLP's output.dense
    llama = {p: Target(f"model.layers.3.{p}.weight", f"model.layers.3.{p}", "attention" if "attn" in p else "mlp",
                       3, False, 8, 8).role
             for p in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                       "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")}
    assert llama == {"self_attn.q_proj": "attention q/k/v", "self_attn.k_proj": "attention q/k/v",
                     "self_attn.v_proj": "attention q/k/v", "self_attn.o_proj": "attention output",
                     "mlp.gate_proj": "MLP up/gate", "mlp.up_proj": "MLP up/gate", "mlp.down_proj": "MLP down"}


def test_sensitivity_by_kind_prunes_every_block_together(bert):
    from pages.ui.charts import sensitivity_heatmap
    from prune_core.sensitivity import expand_allocation

    before = fingerprint(bert.model)
    by_kind = layer_sensitivity(bert, [0.5, 0.9], group_by="kind")
    assert fingerprint(bert.model) == before
    assert list(by_kind["layer"].unique()) == ["attention q/k/v", "attention output", "MLP up/gate", "MLP down"]
    assert by_kind.drop_duplicates("layer")["params"].sum() == 8 * 128 * 128 + 4 * 128 * 512  # 2 blocks
    assert by_kind.drop_duplicates("layer").set_index("layer")["matrices"].to_dict()["attention q/k/v"] == 6
    fig = sensitivity_heatmap(by_kind, "accuracy", "kind")
    assert len(fig.data[0].y) == 4 and fig.layout.yaxis.title.text == "kind of layer"
    # one kind at 90 % everywhere hurts at least as much as the same kind in a single block
    by_layer = layer_sensitivity(bert, [0.9], scope="mlp")
    up = by_layer[by_layer["layer"].str.endswith("intermediate.dense")]["damage"].max()
    assert by_kind[(by_kind["layer"] == "MLP up/gate") & (by_kind["sparsity"] == 0.9)]["damage"].iloc[0] >= up - 0.01
    alloc = expand_allocation(bert.model, propose_allocation(by_kind, 0.5), "kind")
    assert len(alloc) == 12 and alloc["bert.encoder.layer.0.output.dense"] == alloc["bert.encoder.layer.1.output.dense"]
    _, s = evaluate_allocation(bert, alloc)
    assert s >= 0.5


def test_unknown_grouping_is_a_clear_error(bert):
    from prune_core.errors import PruneScopeError

    with pytest.raises(PruneScopeError, match="unknown grouping 'block'"):
        layer_sensitivity(bert, [0.5], group_by="block")
