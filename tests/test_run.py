"""End-to-end runs on the shipped models: figures are measured, consistent and honest."""
import pytest
import torch
from conftest import assert_outputs_close
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from pages.ui import charts
from prune_core import tables
from prune_core.config import PruneConfig
from prune_core.export import export_model
from prune_core.errors import PruneScopeError
from prune_core.run import LatencySpec, dense_baseline, run

FAST = LatencySpec(batch=1, seq_len=32, reps=3, warmup=1, threads=2)


@pytest.fixture(scope="module")
def gpt_base(gpt):
    return dense_baseline(gpt)


@pytest.fixture(scope="module")
def bert_base(bert):
    return dense_baseline(bert)


def test_dense_quality_matches_card(gpt, bert, gpt_base, bert_base):
    assert gpt_base.quality == pytest.approx(gpt.card.quality_dense, rel=1e-3)
    assert bert_base.quality == pytest.approx(bert.card.quality_dense, abs=1e-3)
    assert gpt_base.quality < 12  # a trained model, far from uniform (vocab ~ 80)
    assert bert_base.quality > 0.8


def test_zero_sparsity_changes_nothing(bert, bert_base):
    result, pruned = run(bert, PruneConfig(method="magnitude", sparsity=0.0), bert_base, FAST)
    assert result.quality == pytest.approx(result.quality_dense, rel=1e-6)  # another object: rounding may differ
    assert result.sparsity_actual == 0.0
    assert result.size_pruned.file_zstd == result.size_dense.file_zstd


def test_heavy_pruning_costs_quality_and_sizes_are_honest(gpt, gpt_base):
    result, pruned = run(gpt, PruneConfig(method="magnitude", sparsity=0.9), gpt_base, FAST)
    assert result.quality > result.quality_dense * 1.2  # perplexity rises
    assert result.sparsity_actual == pytest.approx(0.9, abs=1e-6)
    dense, sparse = result.size_dense, result.size_pruned
    assert sparse.dense_fp32 == dense.dense_fp32  # masks do not shrink a dense tensor
    assert sparse.params_total == dense.params_total
    assert sparse.params_nonzero < dense.params_nonzero
    assert sparse.csr < dense.csr and sparse.bitmask < dense.bitmask < dense.dense_fp32 * 1.1
    assert dense.csr > dense.dense_fp32  # CSR of a dense matrix costs more than dense
    assert sparse.file_zstd < dense.file_zstd
    assert sparse.nm_2_4 is None  # unstructured does not hold 2:4
    assert "not faster" in result.speed_note
    assert result.latency_dense.reps == 3 and result.latency_ms > 0 and result.latency_ms_dense > 0


def test_2_4_size_is_reported_only_when_the_pattern_holds(bert, bert_base):
    result, _ = run(bert, PruneConfig(method="magnitude", sparsity=0.5, pattern="2:4"), bert_base, FAST)
    assert result.size_pruned.nm_2_4 is not None
    assert result.size_pruned.nm_2_4 < result.size_dense.dense_fp32
    assert result.sparsity_target == 0.5


def test_more_sparsity_never_helps_magnitude_much(bert, bert_base):
    q = [run(bert, PruneConfig(method="magnitude", sparsity=s), bert_base, FAST)[0].quality for s in (0.2, 0.95)]
    assert q[1] < q[0]


def test_result_serialises_with_the_documented_keys(bert, bert_base):
    result, _ = run(bert, PruneConfig(method="random", sparsity=0.3, seed=1), bert_base, FAST)
    row = result.summary()
    for key in ("model", "method", "pattern", "allocation", "sparsity_target", "sparsity_actual",
                "params_total", "params_nonzero", "quality_metric", "quality_dense", "quality",
                "latency_ms_dense", "latency_ms", "size_pruned_csr", "latency_setup"):
        assert key in row
    assert len(result.to_dict()["layers"]) == len(result.layers)
    # the cheap phase's figures (result.counts) are exported among the measured ones, in the same order
    assert list(result.to_dict()) == [
        "model", "method", "pattern", "allocation", "scope", "include_head", "seed", "calib_samples",
        "calib_seq_len", "method_params", "sparsity_target", "sparsity_actual", "sparsity_model", "params_total",
        "params_nonzero", "params_in_scope", "quality_metric", "quality_dense", "quality", "latency_ms_dense",
        "latency_ms", "latency_dense", "latency_pruned", "size_dense", "size_pruned", "prune_seconds",
        "total_seconds", "speed_note", "notes", "layers", "structure", "quality_lo", "quality_hi",
        "quality_dense_lo", "quality_dense_hi", "quality_interval", "evaluation", "owl_m", "owl_lambda", "owl"]
    assert result.sparsity_actual == result.counts.sparsity_actual and result.to_dict()["notes"] == result.notes


def test_tables_and_charts_build(gpt, gpt_base):
    result, pruned = run(gpt, PruneConfig(method="magnitude", sparsity=0.5), gpt_base, FAST)
    layers = tables.layers_frame(result)
    assert len(layers) == len(result.layers) and set(layers["kind"]) == {"attention", "mlp"}
    fig = charts.layer_sparsity_chart(layers, 0.5)
    assert fig.layout.title.text and fig.layout.yaxis.title.text
    t = result.layers[0]
    dense_w = dict(gpt.model.named_parameters())[t.name]
    pruned_w = dict(pruned.named_parameters())[t.name]
    hist = tables.histogram_frame(dense_w, pruned_w)
    assert hist["before"].sum() == t.params and hist["after"].sum() == t.nonzero
    fig = charts.histogram_chart(hist, "x", t.threshold, t.params - t.nonzero)
    assert fig.layout.title.text and [list(tr.y)[:-1] for tr in fig.data] == [list(hist["before"]), list(hist["after"])]
    assert fig.data[0].x[0] == hist["left"].iloc[0] and fig.data[0].x[-1] == hist["right"].iloc[-1]  # whole bins
    sizes = tables.sizes_frame(result)
    assert set(sizes["model"]) == {"dense", "pruned"}
    measured = charts.measured_chart(tables.quality_frame(result), tables.latency_frame(result), "perplexity")
    latency = measured.data[1]  # the second panel: median with its interquartile range
    assert (latency.xaxis, list(latency.y)) == ("x2", [result.latency_ms_dense, result.latency_ms])
    assert list(latency.error_y.array) == pytest.approx([result.latency_dense.q3_ms - result.latency_ms_dense,
                                                         result.latency_pruned.q3_ms - result.latency_ms])


@pytest.mark.parametrize("which", ["gpt", "bert"])
def test_export_reloads_with_transformers_zeros_included(request, which, tmp_path):
    loaded = request.getfixturevalue(which)
    result, pruned = run(loaded, PruneConfig(method="magnitude", sparsity=0.5, pattern="2:4"), None, FAST,
                         measure_file=False)
    out = export_model(pruned, loaded.tokenizer, tmp_path / "out", result.summary())
    auto = AutoModelForCausalLM if which == "gpt" else AutoModelForSequenceClassification
    again = auto.from_pretrained(str(out), use_safetensors=True).eval()
    ids = loaded.tokenizer("to be or not to be", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert_outputs_close(again(input_ids=ids).logits, pruned(input_ids=ids).logits)
    a, b = dict(again.named_parameters()), dict(pruned.named_parameters())
    assert all(torch.equal(a[n] == 0, b[n] == 0) for n in b if n in a)
    with pytest.raises(PruneScopeError, match="not empty"):
        export_model(pruned, loaded.tokenizer, out, {})
