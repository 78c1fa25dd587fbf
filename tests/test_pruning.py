"""Pruning core on the shipped models: exact sparsity, N:M validity, seeds, scopes, no mutation."""
import pytest
import torch

from conftest import fingerprint
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.masks import is_nm, layer_stats
from prune_core.methods import METHODS, get_method
from prune_core.run import prune_model
from prune_core.targets import as_out_in, find_targets, tied_head_note


def _prune(loaded, **kw):
    return prune_model(loaded, PruneConfig(**kw))


@pytest.mark.parametrize("method", ["random", "magnitude"])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.77, 0.95])
def test_layer_allocation_is_exact_per_layer(gpt, method, sparsity):
    masks, pruned = _prune(gpt, method=method, sparsity=sparsity)
    for t in masks.targets:
        assert int((~masks.masks[t.name]).sum()) == round(sparsity * t.numel), t.name
        w = dict(pruned.named_parameters())[t.name]
        assert int((w[~masks.masks[t.name]] != 0).sum()) == 0


@pytest.mark.parametrize("model_fixture", ["gpt", "bert"])
def test_global_allocation_is_exact_overall_and_uneven(request, model_fixture):
    loaded = request.getfixturevalue(model_fixture)
    masks, _ = _prune(loaded, method="magnitude", sparsity=0.6, allocation="global")
    total = sum(t.numel for t in masks.targets)
    removed = sum(int((~m).sum()) for m in masks.masks.values())
    assert removed == round(0.6 * total)
    per_layer = [float((~masks.masks[t.name]).float().mean()) for t in masks.targets]
    assert max(per_layer) - min(per_layer) > 0.05  # one threshold => layers differ


@pytest.mark.parametrize("model_fixture", ["gpt", "bert"])
@pytest.mark.parametrize("pattern,n,m", [("2:4", 2, 4), ("4:8", 4, 8)])
@pytest.mark.parametrize("method", ["random", "magnitude"])
def test_nm_holds_in_every_group_of_every_layer(request, model_fixture, pattern, n, m, method):
    loaded = request.getfixturevalue(model_fixture)
    masks, pruned = _prune(loaded, method=method, sparsity=0.5, pattern=pattern)
    params = dict(pruned.named_parameters())
    for t in masks.targets:
        assert is_nm(masks.masks[t.name], t, n, m), t.name
        # groups run along the *input* dimension, also for GPT-2's transposed Conv1D
        view = as_out_in(params[t.name] != 0, t)
        assert bool((view.reshape(t.out_features, -1, m).sum(-1) <= n).all())


def test_gpt_conv1d_targets_are_transposed(gpt):
    targets = find_targets(gpt.model)
    assert all(t.transposed for t in targets)
    fc = next(t for t in targets if t.module.endswith("mlp.c_fc"))
    assert (fc.out_features, fc.in_features) == (4 * 192, 192)


def test_random_is_reproducible_by_seed(bert):
    a, _ = _prune(bert, method="random", sparsity=0.5, seed=3)
    b, _ = _prune(bert, method="random", sparsity=0.5, seed=3)
    c, _ = _prune(bert, method="random", sparsity=0.5, seed=4)
    assert all(torch.equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert any(not torch.equal(a.masks[k], c.masks[k]) for k in a.masks)


def test_magnitude_removes_smallest_weights(bert):
    masks, _ = _prune(bert, method="magnitude", sparsity=0.4)
    params = dict(bert.model.named_parameters())
    for t in masks.targets:
        w, keep = params[t.name].abs(), masks.masks[t.name]
        assert w[~keep].max() <= w[keep].min()
        assert masks.thresholds[t.name] == pytest.approx(float(w[~keep].max()))


def test_scopes_and_head(gpt, bert):
    kinds = lambda m, **kw: {t.kind for t in find_targets(m, **kw)}  # noqa: E731
    assert kinds(gpt.model) == {"attention", "mlp"}
    assert kinds(gpt.model, scope="attention") == {"attention"}
    assert kinds(bert.model, scope="mlp") == {"mlp"}
    assert "head" in kinds(bert.model, include_head=True)
    names = [t.module for t in find_targets(bert.model, include_head=True) if t.kind == "head"]
    assert any("classifier" in n for n in names)
    embeddings = [t for t in find_targets(gpt.model, include_head=True) if "wte" in t.module or "wpe" in t.module]
    assert not embeddings  # embeddings are never targets


def test_tied_lm_head_is_reported(gpt):
    targets = find_targets(gpt.model, include_head=True)
    if gpt.model.lm_head.weight is gpt.model.get_input_embeddings().weight:
        assert "shares its weights" in tied_head_note(gpt.model, targets)


def test_base_model_is_bit_identical_after_many_prunes(gpt, bert):
    before = (fingerprint(gpt.model), fingerprint(bert.model))
    for loaded in (gpt, bert):
        for method in ("random", "magnitude"):  # calibration methods: test_calibration_methods.py
            for kw in ({"sparsity": 0.9}, {"sparsity": 0.5, "pattern": "2:4"},
                       {"sparsity": 0.3, "allocation": "global", "include_head": True}):
                _, pruned = _prune(loaded, method=method, **kw)
                assert fingerprint(pruned) != fingerprint(loaded.model)
    assert (fingerprint(gpt.model), fingerprint(bert.model)) == before


def test_layer_stats_match_masks(bert):
    masks, _ = _prune(bert, method="magnitude", sparsity=0.5, scope="attention")
    stats = layer_stats(bert.model, masks)
    assert [s.kind for s in stats] == ["attention"] * len(stats)
    assert all(s.sparsity == pytest.approx(0.5, abs=1 / s.params) for s in stats)


@pytest.mark.parametrize("kw,match", [
    ({"sparsity": 1.0}, r"\[0, 1\)"), ({"sparsity": -0.1}, r"\[0, 1\)"), ({"sparsity": float("nan")}, r"\[0, 1\)"),
    ({"sparsity": "abc"}, "number"), ({"method": "nope"}, "unknown method 'nope'"),
    ({"pattern": "2:4", "sparsity": 0.7}, "always removes 50%"), ({"pattern": "5:3"}, "0 < N < M"),
    ({"allocation": "everywhere"}, "unknown allocation"), ({"scope": "embeddings"}, "unknown scope"),
    ({"pattern": "2:4", "allocation": "global"}, "allocation must be 'layer'"), ({"seed": -1}, "seed"),
])
def test_impossible_configs_are_clear_errors(kw, match):
    with pytest.raises(PruneScopeError, match=match):
        PruneConfig(**kw).validated()


def test_usable_allocations_are_those_validation_accepts():
    """The page's allocation choices come from the same rules as validation, without validating a config."""
    from prune_core.config import ALLOCATIONS, usable_allocations
    from prune_core.methods import available
    from prune_core.patterns import PATTERNS, parse_pattern

    for name in PATTERNS:
        pattern = parse_pattern(name)
        for method in available(pattern).values():
            accepted = []
            for allocation in ALLOCATIONS:
                try:
                    PruneConfig(method=method.info.name, pattern=name, allocation=allocation,
                                sparsity=pattern.fixed_sparsity or 0.5).validated()
                    accepted.append(allocation)
                except PruneScopeError:
                    pass
            assert usable_allocations(pattern, method) == accepted, (name, method.info.name)


def test_a_config_resolved_with_its_parsed_pattern_and_method_is_the_same(monkeypatch):
    """The controls parse the pattern and pick the method; validation reuses them (and ignores ones that
    are not this config's)."""
    from prune_core import config as config_module
    from prune_core.methods import available
    from prune_core.patterns import parse_pattern

    pattern = parse_pattern("neuron")
    method = available(pattern)["magnitude"]
    expected = PruneConfig(method="magnitude", pattern="neuron", sparsity=0.3).resolved()
    monkeypatch.setattr(config_module, "parse_pattern", lambda name: pytest.fail("parsed again"))
    monkeypatch.setattr(config_module, "get_method", lambda *a: pytest.fail("looked up again"))
    given = PruneConfig(method="magnitude", pattern="neuron", sparsity=0.3).resolved(pattern, method)
    assert given == expected and given.method is method
    monkeypatch.undo()
    other = PruneConfig(method="magnitude", pattern="2:4", sparsity=0.5).resolved(pattern, method)
    assert other.pattern.name == "2:4" and other.method is not method  # not this config's: parsed, looked up


def test_nm_that_does_not_divide_names_the_layer(gpt):
    # GPT: 192 inputs; 5:7 cannot tile them
    with pytest.raises(PruneScopeError, match="divide by 7"):
        _prune(gpt, method="magnitude", pattern="5:7", sparsity=2 / 7)


def test_registry_describes_every_method():
    for name, m in METHODS.items():
        assert m.info.name == name and m.info.description
    assert get_method("magnitude").info.magnitude_threshold


@pytest.mark.parametrize("include_head", [False, True])
def test_a_read_only_copy_shares_only_what_pruning_left_alone(gpt, include_head):
    config = PruneConfig(method="magnitude", sparsity=0.6, include_head=include_head)
    before = fingerprint(gpt.model)
    masks, private = prune_model(gpt, config)
    _, shared = prune_model(gpt, config, mask_set=masks, read_only=True)
    assert fingerprint(shared) == fingerprint(private)  # the same weights, bit for bit
    base = dict(gpt.model.named_parameters())
    for name, p in shared.named_parameters():
        same = p.data_ptr() == base[name].data_ptr()
        assert same == (name not in masks.masks), name  # pruned tensors are new, the others shared
    assert all(p.data_ptr() != base[n].data_ptr() for n, p in private.named_parameters())  # trainable copy
    emb = shared.get_input_embeddings().weight
    assert emb is shared.get_output_embeddings().weight  # the tie is kept in the copy
    assert (emb is gpt.model.get_input_embeddings().weight) == (not include_head)  # shared unless pruned
    assert fingerprint(gpt.model) == before
