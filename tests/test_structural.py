"""Structured pruning: the surgery is exact, the files reload identically, the base stays intact."""
import copy
import json

import pytest
import torch

from conftest import assert_outputs_close, fingerprint
from prune_core import structural as S
from prune_core.calibration import calibration_inputs
from prune_core.errors import PruneScopeError
from prune_core.zoo import load_model


@pytest.fixture(scope="module")
def bert_model(bert):
    """The shipped tiny-sentiment-bert (conftest's session fixture)."""
    return bert


@pytest.fixture(params=["gpt", "bert_model"])
def loaded(request):
    return request.getfixturevalue(request.param)


def _inputs(loaded, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, min(loaded.model.config.vocab_size, 1000), (2, 24), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@torch.inference_mode()
def _out(model, inputs):
    return model(**inputs).logits


def _params(model):
    return sum(p.numel() for p in model.parameters())


def _random_plan(model, unit, seed):
    """A plan keeping a random, non-empty subset per block (not what any importance would pick)."""
    plan = S.plan_units(model, unit, 0.0)
    g = torch.Generator().manual_seed(seed)
    plan.kept = [sorted(torch.randperm(n, generator=g)[: max(1, n // 3)].tolist()) for n in plan.units]
    return plan


# ------------------------------------------------------------------ shapes and parameter count
def test_gpt2_shrunk_shapes_and_params(gpt):
    m, cfg = gpt.model, gpt.model.config
    d, heads, L = cfg.n_embd, cfg.n_head, cfg.n_layer
    inner, hd = cfg.n_inner or 4 * d, d // heads
    neurons = S.shrink(m, S.plan_units(m, "neuron", 0.5))
    for blk in neurons.transformer.h:
        assert blk.mlp.c_fc.weight.shape == (d, inner // 2) and blk.mlp.c_fc.bias.shape == (inner // 2,)  # (in, out)
        assert blk.mlp.c_proj.weight.shape == (inner // 2, d) and blk.mlp.c_proj.bias.shape == (d,)
    assert _params(m) - _params(neurons) == L * (inner // 2) * (d + 1 + d)  # row+bias in c_fc, row in c_proj
    hplan = S.plan_units(m, "head", 0.5)
    small = S.shrink(m, hplan)
    for blk in small.transformer.h:
        kept = heads - heads // 2
        assert blk.attn.c_attn.weight.shape == (d, 3 * kept * hd) and blk.attn.c_proj.weight.shape == (kept * hd, d)
        assert blk.attn.num_heads == kept and blk.attn.split_size == kept * hd
    assert _params(m) - _params(small) == L * (heads // 2) * (3 * (d * hd + hd) + hd * d)


def test_bert_shrunk_shapes_and_params(bert_model):
    m, cfg = bert_model.model, bert_model.model.config
    d, inner, heads, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads, cfg.num_hidden_layers
    hd = d // heads
    plan = S.plan_units(m, "head", 0.5)
    gone = heads - len(plan.kept[0])
    small = S.shrink(m, plan)
    for layer, keep in zip(small.bert.encoder.layer, plan.kept):
        att = layer.attention
        for lin in (att.self.query, att.self.key, att.self.value):
            assert lin.weight.shape == (len(keep) * hd, d) and lin.bias.shape == (len(keep) * hd,)
        assert att.output.dense.weight.shape == (d, len(keep) * hd)
        assert att.self.num_attention_heads == len(keep) and att.self.all_head_size == len(keep) * hd
    assert _params(m) - _params(small) == L * gone * (3 * (d * hd + hd) + hd * d)
    nplan = S.plan_units(m, "neuron", 0.25)
    k = len(nplan.kept[0])
    assert all(len(x) == k for x in nplan.kept) and k == inner - round(0.25 * inner)
    neurons = S.shrink(m, nplan)
    assert neurons.bert.encoder.layer[0].intermediate.dense.weight.shape == (k, d)
    assert _params(m) - _params(neurons) == L * (inner - k) * (d + 1 + d)


# ------------------------------------------------------------------ the surgery is exact
@pytest.mark.parametrize("unit", ["neuron", "head"])
def test_nothing_removed_equals_dense(loaded, unit):
    x = _inputs(loaded)
    same = S.shrink(loaded.model, S.plan_units(loaded.model, unit, 0.0))
    assert_outputs_close(_out(same, x), _out(loaded.model, x))


@pytest.mark.parametrize("unit", ["neuron", "head"])
@pytest.mark.parametrize("how", ["layer", "global", "random"])
def test_shrinking_equals_masking(loaded, unit, how):
    m = loaded.model
    plan = _random_plan(m, unit, 1) if how == "random" else S.plan_units(m, unit, 0.5, allocation=how)
    x = _inputs(loaded)
    # float64: rounding differences from shorter dot products stay far below the tolerance
    small, masked = _out(S.shrink(m, plan).double(), x), _out(S.mask_units(m, plan).double(), x)
    err = float((small - masked).abs().max())
    assert err < 1e-9
    assert float((small - _out(m, x)).abs().max()) > 1e-4  # and something was removed


def test_heads_then_neurons_chain(gpt):
    m, x = gpt.model, _inputs(gpt)
    hp, np_ = S.plan_units(m, "head", 0.5), _random_plan(m, "neuron", 2)
    both = S.shrink(S.shrink(m, hp), np_)
    ref = S.mask_units(S.mask_units(m, hp), np_)
    assert torch.allclose(_out(both.double(), x), _out(ref.double(), x), atol=1e-9)


# ------------------------------------------------------------------ importance
def test_magnitude_removes_lowest_norm_neurons_and_heads(gpt):
    m, cfg = gpt.model, gpt.model.config
    d, heads = cfg.n_embd, cfg.n_head
    plan = S.plan_units(m, "neuron", 0.5)
    blk = m.transformer.h[1]
    norms = (blk.mlp.c_fc.weight.pow(2).sum(0) + blk.mlp.c_proj.weight.pow(2).sum(1)).sqrt()  # Conv1D: (in, out)
    assert torch.allclose(torch.tensor(plan.scores[1]), norms, rtol=1e-5)
    removed = sorted(set(range(norms.numel())) - set(plan.kept[1]))
    assert norms[removed].max() <= norms[plan.kept[1]].min()
    hplan = S.plan_units(m, "head", 0.5)
    w = blk.attn.c_attn.weight.reshape(d, 3, heads, d // heads)  # Conv1D (in, out): out = Q|K|V, head-major
    o = blk.attn.c_proj.weight.reshape(heads, d // heads, d)
    head_norms = (w.pow(2).sum((0, 1, 3)) + o.pow(2).sum((1, 2))).sqrt()
    assert torch.allclose(torch.tensor(hplan.scores[1]), head_norms, rtol=1e-5)


def test_activation_ranks_dead_neurons_first(gpt):
    m = S.shrink(gpt.model, S.plan_units(gpt.model, "neuron", 0.0))  # a private copy to edit
    dead = [5, 40, 700]
    with torch.no_grad():
        m.transformer.h[2].mlp.c_fc.weight[:, dead] = 0
        m.transformer.h[2].mlp.c_fc.bias[dead] = 0  # gelu(0) = 0: these neurons never fire
    samples = calibration_inputs(gpt, 4, 64, seed=0)
    plan = S.plan_units(m, "neuron", 0.01, "activation", samples=samples)
    scores = torch.tensor(plan.scores[2])
    assert torch.all(scores[dead] == 0) and (scores > 0).sum() == scores.numel() - len(dead)
    assert not set(dead) & set(plan.kept[2])


@pytest.mark.parametrize("model_fixture", ["gpt", "bert_model"])
def test_loss_importance_is_the_measured_loss_increase(request, model_fixture):
    loaded = request.getfixturevalue(model_fixture)
    m = loaded.model
    samples = calibration_inputs(loaded, 4, 32, seed=0)
    plan = S.plan_units(m, "head", 0.5, "loss", samples=samples)
    one = S.plan_units(m, "head", 0.0)
    one.kept[0] = [h for h in range(one.units[0]) if h != 1]  # only head 1 of block 0 removed
    ablated = S.mask_units(m, one)
    with torch.inference_mode():
        if loaded.task == "causal-lm":
            def loss(model):
                return sum(float(model(**b, labels=b["input_ids"]).loss) for b in samples) / len(samples)
            expected = loss(ablated) - loss(m)
        else:
            import torch.nn.functional as F
            expected = sum(float(F.kl_div(F.log_softmax(ablated(**b).logits, -1), F.log_softmax(m(**b).logits, -1),
                                          log_target=True, reduction="batchmean")) for b in samples) / len(samples)
            assert min(min(s) for s in plan.scores) >= -1e-6  # a KL divergence
    assert plan.scores[0][1] == pytest.approx(expected, abs=1e-5)
    assert max(abs(s) for row in plan.scores for s in row) > 0


def test_global_allocation_is_scale_free_and_keeps_one_per_block(gpt):
    m = S.shrink(gpt.model, S.plan_units(gpt.model, "neuron", 0.0))
    before = S.plan_units(m, "neuron", 0.5, allocation="global")
    assert before.removed == round(0.5 * sum(before.units)) and len({len(k) for k in before.kept}) > 1
    with torch.no_grad():  # block 0 a hundred times smaller: per-block normalisation ignores that
        for lin in (m.transformer.h[0].mlp.c_fc, m.transformer.h[0].mlp.c_proj):
            lin.weight.mul_(0.01)
    assert S.plan_units(m, "neuron", 0.5, allocation="global").kept == before.kept
    layout = S.unit_layout(gpt.model, "head")
    scores = [torch.full((6,), 1e-9), torch.arange(1.0, 7.0), torch.arange(1.0, 7.0), torch.arange(1.0, 7.0)]
    kept = S.KEEP_RULES["global"](scores, 20 / 24, layout)
    assert [len(k) for k in kept] == [1, 1, 1, 1]


def test_plan_json_roundtrip(gpt):
    plan = S.plan_for(gpt, "neuron", 0.3, "activation", "global", calib_samples=2, calib_seq_len=32)
    assert plan.method == "activation" and plan.allocation == "global"
    again = S.StructuralPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    x = _inputs(gpt)
    assert_outputs_close(_out(S.shrink(gpt.model, again), x), _out(S.shrink(gpt.model, plan), x))


# ------------------------------------------------------------------ export / reload
def test_export_reload_identical(loaded, tmp_path):
    m = loaded.model
    plans = [S.plan_units(m, "head", 0.5), S.plan_units(m, "neuron", 0.5, allocation="global")]
    small = S.shrink(S.shrink(m, plans[0]), plans[1])
    S.save_structured(small, loaded.tokenizer, plans, tmp_path / "out")
    record = json.loads((tmp_path / "out" / S.STRUCTURE_FILE).read_text())
    assert [r["mlp_neurons"] for r in record["layers"]] == [len(k) for k in plans[1].kept]
    assert [r["head_units"] for r in record["layers"]] == [len(k) for k in plans[0].kept]
    again = S.load_structured(tmp_path / "out")
    x = _inputs(loaded)
    assert_outputs_close(_out(again, x), _out(small, x))
    assert _params(again) == _params(small)
    with pytest.raises(PruneScopeError, match="not empty"):
        S.save_structured(small, loaded.tokenizer, plans, tmp_path / "out")


def test_base_model_is_bit_identical_afterwards(loaded, tmp_path):
    before = fingerprint(loaded.model)
    samples = calibration_inputs(loaded, 2, 32, seed=0)
    for unit, method in [("neuron", "magnitude"), ("neuron", "activation"), ("head", "loss")]:
        plan = S.plan_units(loaded.model, unit, 0.5, method, samples=samples)
        S.mask_units(loaded.model, plan)
        S.save_structured(S.shrink(loaded.model, plan), loaded.tokenizer, plan, tmp_path / method)
    assert fingerprint(loaded.model) == before
    assert all(not p.requires_grad for p in loaded.model.parameters())


# ------------------------------------------------------------------ Llama-style (GQA), one test: ~20 s load
def test_llama_gqa_groups_shrink_exactly_and_reload(tmp_path):
    loaded = load_model("smollm2-135m")
    m = loaded.model
    before = fingerprint(m)
    hp = S.plan_units(m, "head", 0.34)  # 1 of 3 KV groups (= 3 of 9 query heads) per layer
    assert hp.units == [3] * 30 and hp.queries_per_unit == 3 and all(len(k) == 2 for k in hp.kept)
    np_ = S.plan_units(m, "neuron", 0.5)
    small = S.shrink(S.shrink(m, hp), np_)
    attn, mlp = small.model.layers[0].self_attn, small.model.layers[0].mlp
    assert attn.q_proj.weight.shape == (6 * 64, 576) and attn.k_proj.weight.shape == (2 * 64, 576)
    assert attn.o_proj.weight.shape == (576, 6 * 64) and attn.num_key_value_groups == 3
    assert mlp.gate_proj.weight.shape == (768, 576) and mlp.down_proj.weight.shape == (576, 768)
    x = _inputs(loaded)
    # in float64, so that rounding over 30 layers cannot hide a wrong index
    masked = S.mask_units(S.mask_units(m, hp), np_).double()
    assert torch.allclose(_out(copy.deepcopy(small).double(), x), _out(masked, x), atol=1e-9)
    S.save_structured(small, loaded.tokenizer, [hp, np_], tmp_path / "llama")
    assert_outputs_close(_out(S.load_structured(tmp_path / "llama"), x), _out(small, x))
    assert fingerprint(m) == before


# ------------------------------------------------------------------ clear errors
def test_removing_all_heads_is_refused(gpt):
    with pytest.raises(PruneScopeError, match=r"rounds to 6: all of them.*at least 1"):
        S.plan_units(gpt.model, "head", 0.95)
    plan = S.plan_units(gpt.model, "head", 0.0)
    plan.kept[2] = []
    with pytest.raises(PruneScopeError, match=r"removes all 6 attention heads of block 2.*keep at least 1"):
        S.shrink(gpt.model, plan)
    with pytest.raises(PruneScopeError, match="every block must keep at least 1"):
        S.plan_units(gpt.model, "head", 0.9, allocation="global")


def test_sparsity_that_rounds_to_nothing(gpt):
    with pytest.raises(PruneScopeError, match=r"5 % of the 6 attention heads in block 0 is 0.3, which rounds to 0"):
        S.plan_units(gpt.model, "head", 0.05)


def test_unknown_architecture_names_the_supported_ones():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tiny = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, intermediate_size=32,
                                            num_attention_heads=2, max_position_embeddings=32))
    for model in (tiny, torch.nn.Sequential(torch.nn.Linear(4, 4))):
        with pytest.raises(PruneScopeError, match="does not know.*GPT-2.*BERT-style.*DistilBERT.*Llama-style.*OPT"):
            S.plan_units(model, "neuron", 0.5)


@pytest.mark.parametrize("kw,match", [
    ({"unit": "layer"}, "unknown unit 'layer'; choose 'neuron'"),
    ({"method": "taylor"}, "unknown importance 'taylor'; available: magnitude, activation, loss"),
    ({"method": "loss", "unit": "neuron"}, "'loss' scores attention heads only"),
    ({"method": "activation"}, "needs calibration samples"),
    ({"allocation": "uniform"}, "unknown allocation 'uniform'"),
    ({"sparsity": 1.0}, r"sparsity must be in \[0, 1\)"),
])
def test_bad_arguments(gpt, kw, match):
    args = {"unit": "neuron", "sparsity": 0.5, **kw}
    with pytest.raises(PruneScopeError, match=match):
        S.plan_units(gpt.model, **args)


def test_plan_for_another_model_is_refused(gpt, bert_model):
    with pytest.raises(PruneScopeError, match="made for a GPT-2 model, not a BERT-style one"):
        S.shrink(bert_model.model, S.plan_units(gpt.model, "head", 0.5))
