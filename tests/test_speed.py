"""Speed variants: CSR and structured models compute the same function as their masked twins."""
import pytest
import torch

from prune_core.config import PruneConfig
from prune_core.run import LatencySpec, latency_inputs, prune_model
from prune_core.speed import (CSRLinear, Sources, break_even_sparsity, compare_variants, csr_break_even, linear_flops,
                              masked_and_shrunk, to_csr_model, LayerTiming)
from prune_core.structural import plan_for, shrink
from prune_core.summary import summarize

from conftest import fingerprint

FAST = LatencySpec(batch=1, seq_len=16, reps=3, warmup=1)


def test_csr_linear_matches_dense():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(24, 40, generator=g) * (torch.rand(24, 40, generator=g) > 0.7)
    b = torch.randn(24, generator=g)
    x = torch.randn(2, 5, 40, generator=g)
    assert torch.allclose(CSRLinear(w, b)(x), torch.nn.functional.linear(x, w, b), atol=1e-5)


@pytest.mark.parametrize("which", ["gpt", "bert"])
def test_csr_model_computes_the_masked_function(request, which):
    loaded = request.getfixturevalue(which)
    masks, masked = prune_model(loaded, PruneConfig(method="magnitude", sparsity=0.8))
    csr = to_csr_model(masked, masks.targets)
    inputs = latency_inputs(loaded, FAST)
    with torch.inference_mode():
        assert torch.allclose(csr(**inputs).logits, masked(**inputs).logits, atol=1e-4)
    assert linear_flops(csr, 10) < 0.3 * linear_flops(loaded.model, 10)


def test_variants_report_flops_quality_and_honest_ideal(bert):
    rows = {r.variant: r for r in compare_variants(bert, 0.5, FAST)}
    assert set(rows) == {"dense", "masked", "csr", "structured"}
    assert rows["masked"].gflops == rows["dense"].gflops  # dense kernels skip nothing
    assert rows["csr"].gflops < rows["dense"].gflops and rows["structured"].gflops < rows["dense"].gflops
    assert rows["masked"].quality == rows["csr"].quality
    assert rows["structured"].params < rows["dense"].params == rows["masked"].params
    assert all(r.median_ms > 0 for r in rows.values())


def test_models_from_the_cheap_phase_masks_are_the_fresh_ones(gpt):
    """A server builds the speed variants from its cached summaries (`Sources`): bit-identical models,
    and the structured one is the neuron plan the Speed page has always timed."""
    mask_set, masked, small = masked_and_shrunk(gpt, 0.5)
    from_summaries = Sources(masks=lambda config: summarize(gpt, config).to_mask_set(), quality=None)
    shared_set, shared_masked, shared_small = masked_and_shrunk(gpt, 0.5, from_summaries)
    assert all(torch.equal(mask_set.masks[n], shared_set.masks[n]) for n in mask_set.masks)
    assert fingerprint(shared_masked) == fingerprint(masked)
    planned = shrink(gpt.model, plan_for(gpt, "neuron", 0.5))
    assert fingerprint(shared_small) == fingerprint(small) == fingerprint(planned)


def test_break_even_reads_the_sweep():
    rows = [LayerTiming("dense", 0.5, 8, 1.0, 1, 1), LayerTiming("csr", 0.5, 8, 3.0, 3, 3),
            LayerTiming("dense", 0.9, 8, 1.0, 1, 1), LayerTiming("csr", 0.9, 8, 0.9, 1, 1)]
    assert break_even_sparsity(rows) == 0.9
    assert break_even_sparsity(rows[:2]) is None
    real = csr_break_even(torch.randn(64, 64), [0.5, 0.99], tokens=4, reps=3)
    assert {r.variant for r in real} == {"dense", "csr"} and len(real) == 4
