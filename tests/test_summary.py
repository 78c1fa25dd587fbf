"""The cheap phase (prune_core.summary): counts and sizes equal those of the full run, bit-exactly."""
import copy
from dataclasses import replace

import pytest
import torch

from conftest import fingerprint
from prune_core.config import PruneConfig
from prune_core.facts import SortedAbs, model_facts
from prune_core.masks import layer_stats
from prune_core.masksummary import dense_sizes
from prune_core.sizes import size_report
from prune_core.run import prune_model
from prune_core.summary import summarize
from prune_core.targets import find_targets
from prune_core.zoo import LoadedModel

CONFIGS = [
    PruneConfig(method="magnitude", sparsity=0.5),
    PruneConfig(method="magnitude", sparsity=0.95),
    PruneConfig(method="magnitude", sparsity=0.3, allocation="global"),
    PruneConfig(method="magnitude", sparsity=0.85, allocation="global", scope="mlp"),
    PruneConfig(method="magnitude", sparsity=0.6, include_head=True),
    PruneConfig(method="magnitude", sparsity=0.7, allocation="global", include_head=True),
    PruneConfig(method="random", sparsity=0.4, seed=3),
    PruneConfig(method="random", sparsity=0.9, scope="attention"),
    PruneConfig(method="random", sparsity=0.5, allocation="global"),
    PruneConfig(method="magnitude", sparsity=0.5, pattern="2:4"),
    PruneConfig(method="random", sparsity=0.5, pattern="4:8"),
    PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron"),
    PruneConfig(method="magnitude", sparsity=0.4, pattern="head", allocation="global"),
    PruneConfig(method="wanda", sparsity=0.6, calib_samples=4, calib_seq_len=32),
    PruneConfig(method="sparsegpt", sparsity=0.5, pattern="2:4", calib_samples=4, calib_seq_len=32),
    PruneConfig(method="activation", sparsity=0.5, pattern="neuron", calib_samples=4, calib_seq_len=32),
]


def _reference(loaded, config):
    """What `run.run` measures: masks -> pruned copy -> layer_stats and size_report of the copy."""
    mask_set, pruned = prune_model(loaded, config)
    size = size_report(pruned, find_targets(pruned, "all", include_head=config.include_head), None, False)
    return mask_set, layer_stats(loaded.model, mask_set), size


@pytest.fixture(scope="module")
def zeroed(gpt):
    """The GPT with exact zeros sprinkled in (as SmolLM2's dequantized weights have): zeros change counts."""
    model = copy.deepcopy(gpt.model)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for t in find_targets(model, "all", include_head=True):
            w = dict(model.named_parameters())[t.name]
            w[torch.rand(w.shape, generator=gen) < 0.03] = 0.0
            w.view(-1)[:64] = 0.0  # whole groups of 4 and 8 inputs zero, too
    return LoadedModel(gpt.card, model, gpt.tokenizer, 0.0, key="zeroed-copy-of-tiny-shakespeare-gpt")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.method}-{c.pattern}-{c.allocation}-{c.sparsity}")
@pytest.mark.parametrize("model_fixture", ["gpt", "bert", "zeroed"])
def test_cheap_figures_equal_the_full_runs(request, model_fixture, config):
    loaded = request.getfixturevalue(model_fixture)
    if config.pattern == "head" and model_fixture == "bert":
        config = replace(config, sparsity=0.5, allocation="layer")  # 2 heads per block: 40 % rounds to 1 anyway
    before = fingerprint(loaded.model)
    summary = summarize(loaded, config)
    mask_set, layers, size = _reference(loaded, config)
    assert summary.size_pruned == size  # every format, bit-exact (the file size comes with the measurement)
    assert [l.to_dict() for l in summary.layers] == [l.to_dict() for l in layers]
    removed = sum(int((~m).sum()) for m in mask_set.masks.values())
    assert summary.sparsity_actual == removed / sum(l.params for l in layers)
    assert summary.params_nonzero == size.params_nonzero and summary.params_total == size.params_total
    for stats in summary.layers[:3] + summary.layers[-2:]:  # the histogram's mask, for any layer
        assert torch.equal(summary.keep_of(stats.name), mask_set.masks[stats.name])
    again = summary.to_mask_set()  # what the measuring phase prunes with
    assert again.masks.keys() == mask_set.masks.keys() and again.thresholds == mask_set.thresholds
    assert all(torch.equal(again.masks[n], m) for n, m in mask_set.masks.items())
    assert [t.name for t in again.targets] == [t.name for t in mask_set.targets] and again.notes == mask_set.notes
    if config.method == "magnitude" or config.method == "random" and config.allocation == "layer":
        assert summary.how == "counted" and summary.mask_set is None  # no full mask set was built
    assert fingerprint(loaded.model) == before


def test_dense_sizes_match_the_baseline(gpt):
    ref = size_report(gpt.model, find_targets(gpt.model, "all"), None, False)
    assert dense_sizes(model_facts(gpt.model)) == ref


def test_sorted_index_ranks_exactly():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(300, 70, generator=gen) * torch.logspace(-6, 1, 70)  # many exponents
    w[0, :5] = 0.0
    w[1, :4] = w[2, :4] = w[3, 7]  # ties
    s = SortedAbs(w)
    flat = w.abs().reshape(-1).sort().values
    for k in (1, 5, 6, 17, 1000, 10_000, flat.numel()):
        assert s.kth(k) == int(flat[k - 1].view(torch.int32))
    for v in (0.0, float(w[3, 7].abs()), 1e-7, 0.5, 100.0):
        bits = int(torch.tensor(v).view(torch.int32))
        assert s.below(bits) == int((flat < v).sum())


def test_notes_are_made_once_tagged_by_kind_and_kept_by_the_result(gpt):
    from prune_core.notes import NoteKind
    from prune_core.run import LatencySpec, run

    summary = summarize(gpt, PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron"))
    assert [n.kind for n in summary.notes] == [NoteKind.UNITS_REMOVED]
    assert summary.notes[0].text == "removed 1536 of 3072 neurons (50.0%)"
    assert summary.to_mask_set().notes == []  # the plan says it; the mask set does not repeat it
    head = summarize(gpt, PruneConfig(method="magnitude", sparsity=0.5, include_head=True))
    if gpt.model.lm_head.weight is gpt.model.get_input_embeddings().weight:
        assert [n.kind for n in head.notes] == [NoteKind.TIED_HEAD]
    result, _ = run(gpt, PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron"), None,
                    LatencySpec(seq_len=16, reps=1, warmup=0, threads=1), measure_file=False, summary=summary)
    assert result.counts.notes is summary.notes and result.notes == [summary.notes[0].text]
    assert result.counts.mask_set is None and result.counts.keep_of is None  # a result holds no masks
