"""Mask selection: exact counts, valid N:M groups, clear errors."""
import pytest
import torch

from prune_core.errors import PruneScopeError
from prune_core.patterns import global_lowest_k, lowest_k_mask, nm_mask, parse_pattern


def test_lowest_k_removes_exactly_k_smallest():
    scores = torch.randn(64, 48, generator=torch.Generator().manual_seed(1))
    keep = lowest_k_mask(scores, 1000)
    assert int((~keep).sum()) == 1000
    assert scores[~keep].max() <= scores[keep].min()


def test_lowest_k_exact_with_ties():
    scores = torch.zeros(10, 10)
    scores[5:] = 1.0
    keep = lowest_k_mask(scores, 37)
    assert int((~keep).sum()) == 37


@pytest.mark.parametrize("name,n,m", [("2:4", 2, 4), ("4:8", 4, 8), ("1:4", 1, 4)])
def test_nm_holds_in_every_group(name, n, m):
    scores = torch.randn(32, 64, generator=torch.Generator().manual_seed(2))
    keep = nm_mask(scores, parse_pattern(name), "layer")
    groups = keep.reshape(32, -1, m)
    assert bool((groups.sum(-1) == n).all())
    # the kept ones are the n largest of each group
    g_scores = scores.reshape(32, -1, m)
    assert bool((g_scores.masked_fill(~groups, float("inf")).amin(-1)
                 >= g_scores.masked_fill(groups, float("-inf")).amax(-1)).all())


def test_nm_width_that_does_not_divide_is_a_clear_error():
    with pytest.raises(PruneScopeError, match="divide by 8.*'blocks.0.fc' has 20 inputs"):
        nm_mask(torch.randn(4, 20), parse_pattern("4:8"), "blocks.0.fc")


def test_global_exact_count_on_big_matrices_with_ties():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(2000, 1500, generator=g).abs(), torch.randn(3000, 1000, generator=g).abs()
    a[:10] = 0.25  # 15,000 tied values near the median
    for k in (1, 2_000_000, 3_000_000, 5_999_999):
        keeps, threshold = global_lowest_k([a, b], k)
        assert sum(int((~kp).sum()) for kp in keeps) == k
        removed = torch.cat([a[~keeps[0]], b[~keeps[1]]])
        assert float(removed.max()) == threshold


def test_global_exact_count_across_matrices_and_ties():
    a = torch.tensor([[0.1, 0.5], [0.5, 0.9]])
    b = torch.tensor([[0.5, 0.5, 0.2]])
    keeps, threshold = global_lowest_k([a, b], 4)
    assert threshold == pytest.approx(0.5)
    assert sum(int((~k).sum()) for k in keeps) == 4
    assert not keeps[0][0, 0] and not keeps[1][0, 2]  # the two smallest always go


@pytest.mark.parametrize("bad", ["3:2", "0:4", "2-4", "half", "", "4:4"])
def test_bad_patterns_are_refused(bad):
    with pytest.raises(PruneScopeError):
        parse_pattern(bad)


@pytest.mark.parametrize("k", [1, 123_456, 2_500_000, 4_999_999, 5_000_000])
def test_kth_smallest_is_exact_on_big_arrays(k):
    import numpy as np

    from prune_core.patterns import kth_smallest

    values = np.random.default_rng(0).standard_normal(5_000_000).astype(np.float32)
    values[:1000] = 0.5  # ties
    parts = [torch.from_numpy(values[:1_000_000]).view(1000, 1000), torch.from_numpy(values[1_000_000:])]
    assert kth_smallest(parts, k) == np.partition(values, k - 1)[k - 1]


def _torch_global_masks(weights: list[torch.Tensor], amount: float) -> list[torch.Tensor]:
    """torch.nn.utils.prune.global_unstructured (L1) on Linear layers holding these weights."""
    from torch import nn
    from torch.nn.utils import prune

    layers = []
    for w in weights:
        layer = nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            layer.weight.copy_(w)
        layers.append(layer)
    prune.global_unstructured([(m, "weight") for m in layers], pruning_method=prune.L1Unstructured, amount=amount)
    return [m.weight_mask.bool() for m in layers]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("amount", [0.3, 0.5, 0.9])
def test_global_magnitude_masks_equal_torchs_bit_for_bit(seed, amount):
    """Big enough for the sampled one-pass path (> 4 M weights); continuous values, so no tie at the cut."""
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(1536, 1024, generator=g) * 0.02, torch.randn(1024, 1536, generator=g) * 0.05,
               torch.randn(768, 768, generator=g)]
    n = sum(w.numel() for w in weights)
    keeps, threshold = global_lowest_k(weights, round(amount * n), absolute=True)
    theirs = _torch_global_masks(weights, amount)
    removed = torch.cat([w.abs()[~k] for w, k in zip(weights, keeps)])
    assert float(removed.max()) == threshold
    for mine, torch_mask in zip(keeps, theirs):
        assert torch.equal(mine, torch_mask)


@pytest.mark.parametrize("big", [False, True])
def test_global_magnitude_with_ties_at_the_cut_matches_torch_outside_the_ties(big):
    """Planted ties straddle the cut: torch picks among them in std::nth_element order (unspecified), we
    in model order. Same count and threshold; identical masks on every weight not tied at the cut."""
    g = torch.Generator().manual_seed(7)
    rows = 2000 if big else 40
    a, b = torch.randn(rows, 1500, generator=g), torch.randn(rows, 1000, generator=g)
    a[:2, :300] = 0.6745  # 900 ties at |w| = 0.6745, next to the median of |N(0, 1)|
    b[:1, :300] = -0.6745
    n = a.numel() + b.numel()
    k = int((torch.cat([a.abs().reshape(-1), b.abs().reshape(-1)]) < 0.6745).sum()) + 500  # cut inside the ties
    keeps, threshold = global_lowest_k([a, b], k, absolute=True)
    theirs = _torch_global_masks([a, b], k / n)
    assert threshold == pytest.approx(0.6745) and sum(int((~kp).sum()) for kp in keeps) == k
    tied = [w.abs() == threshold for w in (a, b)]
    assert sum(int((~m).sum()) for m in theirs) == k
    for mine, torch_mask, t in zip(keeps, theirs, tied):
        assert torch.equal(mine[~t], torch_mask[~t])
    assert sum(int((~kp & t).sum()) for kp, t in zip(keeps, tied)) == 500  # the first 500 ties, in model order
    assert not keeps[0][0, :300].any() and not keeps[0][1, :200].any() and keeps[0][1, 200:300].all()


def test_absolute_selection_equals_selection_on_stored_abs():
    g = torch.Generator().manual_seed(5)
    ws = [torch.randn(3000, 1000, generator=g), torch.randn(1000, 2000, generator=g).t(),
          torch.randn(500, 500, generator=g).to(torch.bfloat16)]
    k = 3_000_000
    keeps, t = global_lowest_k(ws, k, absolute=True)
    ref, t_ref = global_lowest_k([w.abs().float() for w in ws], k)
    assert t == t_ref and all(torch.equal(x, y) for x, y in zip(keeps, ref))
