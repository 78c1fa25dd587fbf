"""OWL allocation: exact weighted mean and bounds, planted outliers, `layer` untouched, CLI, store, page."""
import base64
import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_cli import cli

from prune_core.config import MAX_SPARSITY, PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.methods import get_method
from prune_core.owl import block_sparsities, layer_counts
from prune_core.pruning import owl_only, prune_masks
from prune_core.targets import find_targets

FAST = dict(calib_samples=8, calib_seq_len=64)  # small calibration: the tests check logic, not quality


@pytest.mark.parametrize("target", [0.0, 0.05, 0.3, 0.5, 0.7, 0.95, MAX_SPARSITY])
@pytest.mark.parametrize("lam", [0.0, 0.02, 0.08, 0.3])
def test_block_sparsities_weighted_mean_is_exact_and_bounded(target, lam):
    rng = np.random.default_rng(int(target * 100) * 7 + int(lam * 100))
    for _ in range(20):
        n = int(rng.integers(2, 40))
        ratios = rng.exponential(0.02, n) * (rng.random(n) < 0.8)  # some blocks without outliers
        params = rng.integers(1_000, 5_000_000, n)  # very unequal blocks: the paper's plain mean would miss
        s = block_sparsities(ratios.tolist(), params.tolist(), target, lam)
        assert abs(float((s * params).sum() / params.sum()) - target) < 1e-9
        assert s.min() >= max(0.0, target - lam) - 1e-12 and s.max() <= min(MAX_SPARSITY, target + lam) + 1e-12
        order = np.argsort(ratios, kind="stable")  # more outliers never means more sparsity
        assert np.all(np.diff(s[order]) <= 1e-12)


def test_equal_blocks_match_the_reference_normalisation():
    """Equal-sized blocks, no clipping: the authors' formula S - 2λ(r̂ - mean r̂) exactly."""
    ratios = [0.01, 0.03, 0.02, 0.04, 0.025]
    r = np.array(ratios)
    scaled = (r - r.min()) / (r.max() - r.min())
    reference = 0.7 - 2 * 0.08 * (scaled - scaled.mean())
    np.testing.assert_allclose(block_sparsities(ratios, [100] * 5, 0.7, 0.08), reference, atol=1e-12)


def test_counts_sum_to_the_exact_total(gpt):
    targets = find_targets(gpt.model, "all")
    blocks = sorted({t.block for t in targets})
    per_block = dict(zip(blocks, block_sparsities([0.01, 0.05, 0.02, 0.0], [1] * 4, 0.6, 0.08).tolist()))
    total = round(0.6 * sum(t.numel for t in targets))
    counts = layer_counts(targets, per_block, total)
    assert sum(counts.values()) == total
    for t in targets:
        assert abs(counts[t.name] - per_block[t.block] * t.numel) < 1


@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
def test_owl_masks_remove_exactly_the_target_within_the_band(gpt, method):
    config = PruneConfig(method=method, sparsity=0.7, allocation="owl", **FAST)
    mask_set = prune_masks(gpt, config)
    alloc = mask_set.allocation
    total = sum(t.numel for t in mask_set.targets)
    removed = {t.name: int((~mask_set.masks[t.name]).sum()) for t in mask_set.targets}
    assert sum(removed.values()) == round(0.7 * total)  # parameter-weighted mean: exact count
    for t in mask_set.targets:
        assert removed[t.name] == round(alloc.layer_sparsity[t.name] * t.numel)
        assert 0.62 - 1 / t.numel <= removed[t.name] / t.numel <= 0.78 + 1 / t.numel
    assert len(set(np.round(alloc.block_sparsity, 6))) > 1  # the real model's blocks differ
    assert any("OWL (M = 5, λ = 0.08)" in n for n in mask_set.notes)


def test_planted_outlier_features_get_a_lower_sparsity(gpt):
    """Outlier features planted in the inputs of the last block's MLP (its LayerNorm scales 20 of 192
    features by 20): that block's outlier ratio rises and OWL prunes it least. The last block, so no
    other block's inputs change."""
    config = PruneConfig(method="magnitude", sparsity=0.7, allocation="owl", **FAST)
    before = owl_only(gpt, config)
    model = copy.deepcopy(gpt.model)
    features = torch.randperm(192, generator=torch.Generator().manual_seed(0))[:20]
    with torch.no_grad():
        ln = model.transformer.h[-1].ln_2.weight
        ln[features] = ln[features] * 20
    after = owl_only(dataclasses.replace(gpt, model=model), config)
    last = len(after.blocks) - 1
    assert after.outlier_ratio[last] > before.outlier_ratio[last]
    assert after.outlier_ratio[last] == max(after.outlier_ratio)
    assert after.block_sparsity[last] < before.block_sparsity[last]
    assert after.block_sparsity[last] == pytest.approx(0.7 - 0.08)  # the most outliers: target - λ
    assert after.outlier_ratio[:last] == before.outlier_ratio[:last]  # earlier blocks saw the same inputs


@pytest.mark.parametrize("method", ["magnitude", "random", "wanda", "sparsegpt"])
def test_layer_allocation_is_the_per_layer_path_unchanged(gpt, method):
    """The target as every layer's own share gives bit-identical masks (and SparseGPT weights) to the `layer`
    allocation: OWL changes how many weights each layer loses, not how they are chosen; and `layer` itself
    takes no OWL path (no allocation recorded)."""
    config = PruneConfig(method=method, sparsity=0.6, seed=3, **FAST).validated()
    uniform = prune_masks(gpt, config)
    targets = find_targets(gpt.model, "all")
    shares = {t.name: 0.6 for t in targets}
    calibration = None
    if get_method(method).info.needs_calibration:
        from prune_core.calibration import Calibration, calibration_inputs

        calibration = Calibration(calibration_inputs(gpt, 8, 64, 3))
    explicit = get_method(method).prune(gpt.model, targets, config, calibration, sparsities=shares)
    for t in targets:
        assert torch.equal(uniform.masks[t.name], explicit.masks[t.name])
        if t.name in uniform.new_weights:
            assert torch.equal(uniform.new_weights[t.name], explicit.new_weights[t.name])
    assert uniform.allocation is None


@pytest.mark.parametrize("changes, words", [
    (dict(pattern="2:4"), "OWL has no per-layer sparsity to vary"),
    (dict(pattern="4:8"), "OWL has no per-layer sparsity to vary"),
    (dict(pattern="neuron"), "use it with 'unstructured'"),
    (dict(pattern="head"), "use it with 'unstructured'"),
    (dict(method="gradual"), "one-shot methods"),
    (dict(include_head=True), "untick 'include head'"),
    (dict(owl_m=0.5), "OWL M must be from 1 to 100"),
    (dict(owl_lambda=0.7), "OWL λ (lambda) must be from 0 to 0.5"),
    (dict(owl_lambda="big"), "OWL λ (lambda) must be from 0 to 0.5"),
])
def test_bad_combinations_say_why(changes, words):
    with pytest.raises(PruneScopeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        PruneConfig(**({"method": "magnitude", "sparsity": 0.5, "allocation": "owl"} | changes)).validated()


def test_owl_settings_are_checked_for_every_allocation():
    with pytest.raises(PruneScopeError, match="OWL M"):
        PruneConfig(owl_m="5").validated()
    assert PruneConfig(allocation="owl", owl_m=3, owl_lambda=0).validated().owl_m == 3.0


def test_cli_owl_json_and_bad_combo():
    out = cli("prune", "--model", "tiny-shakespeare-gpt", "--method", "wanda", "--sparsity", "0.7", "--allocation",
              "owl", "--owl-m", "4", "--owl-lambda", "0.05", "--calib-samples", "8", "--calib-seq-len", "64",
              "--reps", "1", "--no-file-size", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["allocation"] == "owl" and data["owl_m"] == 4.0 and data["owl_lambda"] == 0.05
    assert data["sparsity_actual"] == pytest.approx(0.7, abs=1e-6)
    assert min(data["owl"]["block_sparsity"]) >= 0.65 - 1e-12 and max(data["owl"]["block_sparsity"]) <= 0.75 + 1e-12
    layers = [l["sparsity"] for l in data["layers"]]
    assert max(layers) - min(layers) > 0.01  # really non-uniform
    bad = cli("prune", "--model", "tiny-shakespeare-gpt", "--sparsity", "0.5", "--pattern", "2:4", "--allocation", "owl")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "OWL" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_store_round_trips_owl_settings_and_reads_old_rows(gpt, tmp_path):
    from prune_core.run import run
    from prune_core.store import Store

    result, _ = run(gpt, PruneConfig(method="magnitude", sparsity=0.5, allocation="owl", owl_lambda=0.1, **FAST),
                    measure_file=False)
    store = Store(tmp_path / "r.sqlite")
    new_id = store.add(result.summary())
    old = {k: v for k, v in result.summary().items() if not k.startswith("owl")} | {"allocation": "layer"}
    old_id = store.add(old)  # a row written before OWL existed
    record = store.record(new_id)
    assert record["allocation"] == "owl" and record["owl_m"] == 5.0 and record["owl_lambda"] == 0.1
    assert "owl_m" not in store.record(old_id)
    assert list(store.runs()["allocation"]) == ["layer", "owl"]


def test_recipe_round_trips_owl_settings():
    from prune_core.recipe import read_recipe, recipe

    config = PruneConfig(method="wanda", sparsity=0.6, allocation="owl", owl_m=7.0, owl_lambda=0.12).validated()
    assert read_recipe(json.loads(json.dumps(recipe("tiny-shakespeare-gpt", config, None))))[1] == config


def test_layers_page_shows_the_owl_profile():
    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import layers\n"
                             "model_picker()\nlayers.page()", default_timeout=300)
    at.session_state["model_choice"] = "tiny-shakespeare-gpt"
    at.session_state["layers_run"] = False  # the sensitivity analysis is not needed here
    at.run()
    assert not at.exception and not at.error
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [s["layout"]["title"]["text"] for s in specs]
    owl = specs[next(i for i, t in enumerate(titles) if t.startswith("OWL: outliers and sparsity per block"))]
    assert [d["name"] for d in owl["data"]][1] == "OWL sparsity" and _values(owl["data"][0]["x"]) == [0, 1, 2, 3]
    spread = specs[titles.index("How each allocation spreads the sparsity over the layers")]
    assert "OWL (outlier-weighed)" in [d["name"] for d in spread["data"]]
    assert any("averages exactly to the target" in c.value for c in at.caption)
    at.number_input(key="layers_owl_lambda").set_value(0.0).run()  # λ = 0: every block at the target
    owl = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("OWL"))
    assert _values(owl["data"][1]["y"]) == pytest.approx([70.0] * 4)


def _values(array) -> list:
    """A Plotly array from a chart's JSON: plain, or binary-encoded ({"bdata": base64, "dtype": ...})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)
