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
