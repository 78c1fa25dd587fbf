"""Wanda and SparseGPT: right on one layer, exact and valid on real models, base untouched."""
import pytest
import torch

from conftest import fingerprint
from prune_core.calibration import calibration_inputs, find_blocks
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.masks import is_nm
from prune_core.methods.sparsegpt import inverse_hessian_factor, sparsegpt_prune
from prune_core.methods.wanda import wanda_keep
from prune_core.patterns import per_row_lowest_k
from prune_core.run import prune_model


def _correlated_layer(seed: int = 0, out_f: int = 64, in_f: int = 96, tokens: int = 2048):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(out_f, in_f, generator=g)
    mix = torch.randn(in_f, in_f, generator=g) / in_f ** 0.5
    scale = torch.logspace(-1, 1, in_f)[torch.randperm(in_f, generator=g)]  # features of unequal size
    X = (torch.randn(tokens, in_f, generator=g) @ (torch.eye(in_f) + 2 * mix)) * scale
    return W, X


def _error(W, W_hat, X):
    return float(torch.linalg.norm(X @ W.t() - X @ W_hat.t()))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("pattern,n,m", [("unstructured", 0, 0), ("2:4", 2, 4), ("4:8", 4, 8)])
def test_reconstruction_error_sparsegpt_below_wanda_below_magnitude(seed, pattern, n, m):
    W, X = _correlated_layer(seed)
    H = (X.t() @ X).double()
    mag_keep = wanda_keep(W, torch.ones(W.shape[1]), 0.5, pattern)  # equal norms => magnitude
    wanda = wanda_keep(W, (X * X).sum(0), 0.5, pattern)
    W_sgpt, keep, _ = sparsegpt_prune(W, H, 0.5, n, m)
    e_mag, e_wanda, e_sgpt = _error(W, W * mag_keep, X), _error(W, W * wanda, X), _error(W, W_sgpt, X)
    assert e_sgpt < e_wanda < e_mag, (e_sgpt, e_wanda, e_mag)
    assert int((~keep).sum()) == W.numel() // 2


def test_wanda_with_equal_norms_is_per_row_magnitude():
    W, _ = _correlated_layer(3)
    keep = wanda_keep(W, torch.full((W.shape[1],), 7.0), 0.6, "unstructured")
    assert torch.equal(keep, per_row_lowest_k(W.abs(), round(0.6 * W.numel())))
    for row, k in zip(W.abs(), keep):  # and within each row, the smallest went
        assert row[~k].max() <= row[k].min()


def test_per_row_selection_is_exact_and_even():
    scores = torch.rand(7, 10, generator=torch.Generator().manual_seed(0))
    keep = per_row_lowest_k(scores, 23)
    assert int((~keep).sum()) == 23
    per_row = (~keep).sum(1)
    assert int(per_row.max() - per_row.min()) <= 1


def test_singular_hessian_gets_more_damping_never_nan():
    X = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))  # 2 tokens, 32 inputs: rank 2
    H = X.t() @ X
    _, lam = inverse_hessian_factor(H, 1e-12)
    assert lam > 1e-12  # raised automatically
    W = torch.randn(8, 32)
    new_w, keep, _ = sparsegpt_prune(W, H, 0.5, damping=1e-12)
    assert bool(torch.isfinite(new_w).all()) and int((~keep).sum()) == 128


@pytest.mark.parametrize("model_fixture", ["gpt", "bert"])
@pytest.mark.parametrize("method", ["wanda", "sparsegpt"])
@pytest.mark.parametrize("pattern,sparsity", [("unstructured", 0.6), ("2:4", 0.5), ("4:8", 0.5)])
def test_exact_and_valid_on_real_models_base_untouched(request, model_fixture, method, pattern, sparsity):
    loaded = request.getfixturevalue(model_fixture)
    before = fingerprint(loaded.model)
    cfg = PruneConfig(method=method, sparsity=sparsity, pattern=pattern, calib_samples=4, calib_seq_len=32)
    masks, pruned = prune_model(loaded, cfg)
    params = dict(pruned.named_parameters())
    for t in masks.targets:
        keep = masks.masks[t.name]
        if pattern == "unstructured":
            assert int((~keep).sum()) == round(sparsity * t.numel), t.name
        else:
            n, m = map(int, pattern.split(":"))
            assert is_nm(keep, t, n, m) and is_nm(params[t.name] != 0, t, n, m), t.name
        assert int((params[t.name][~keep] != 0).sum()) == 0
        assert bool(torch.isfinite(params[t.name]).all())
    assert fingerprint(loaded.model) == before
    if method == "sparsegpt":  # kept weights were updated, and the pruned copy carries them
        t = masks.targets[0]
        base = dict(loaded.model.named_parameters())[t.name]
        assert not torch.equal(params[t.name][masks.masks[t.name]], base[masks.masks[t.name]])


def test_calibration_reproducible_and_from_training_split(gpt):
    from prune_core import datasets

    a = calibration_inputs(gpt, 10, 64, seed=5)
    b = calibration_inputs(gpt, 10, 64, seed=5)
    assert sum(x["input_ids"].shape[0] for x in a) == 10 and a[0]["input_ids"].shape[1] == 64
    assert all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))
    for row in torch.cat([x["input_ids"] for x in a]):
        text = gpt.tokenizer.decode(row)
        assert text in datasets.shakespeare_text("train") and text not in datasets.shakespeare_text("valid")


def test_blocks_found_for_each_architecture(gpt, bert):
    assert find_blocks(gpt.model)[0].endswith("h") and len(find_blocks(gpt.model)[1]) == 4
    assert find_blocks(bert.model)[0].endswith("layer")


@pytest.mark.parametrize("kw,match", [
    ({"calib_samples": 0}, "at least 1 sample"),
    ({"calib_seq_len": 1000}, "beyond this model's maximum"),  # within the cap of 8192, past GPT's 256
    ({"calib_seq_len": 100_000}, "from 2 to 8192 tokens"),
    ({"allocation": "global"}, "allocation must be 'layer'"),
    ({"include_head": True}, "untick 'include head'"),
    ({"method_params": {"damping": 0.1}}, "takes no parameter .damping."),  # a SparseGPT setting
])
def test_calibration_bad_input(gpt, kw, match):
    with pytest.raises(PruneScopeError, match=match):
        prune_model(gpt, PruneConfig(method="wanda", sparsity=0.5, **{"calib_samples": 2, "calib_seq_len": 16, **kw}))
