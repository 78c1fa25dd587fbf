"""Mask heatmaps: the masks the library builds for one matrix, and the chart drawn from them."""
import numpy as np
import pytest

from conftest import fingerprint
from pages.ui.charts import mask_heatmap
from prune_core.config import PruneConfig
from prune_core.run import prune_masks
from prune_core.targets import as_out_in


def _matrix(loaded, module: str, **config) -> np.ndarray:
    mask_set = prune_masks(loaded, PruneConfig(**config))
    t = next(t for t in mask_set.targets if t.module == module)
    return as_out_in(mask_set.masks[t.name], t).numpy()


def test_two_four_keeps_two_of_every_four_inputs_in_mask_and_chart(gpt):
    before = fingerprint(gpt.model)
    mask = _matrix(gpt, "transformer.h.0.mlp.c_fc", method="magnitude", sparsity=0.5, pattern="2:4")
    assert fingerprint(gpt.model) == before  # built without touching the cached model
    assert mask.shape == (768, 192)  # (out, in) although GPT-2's Conv1D stores it as (in, out)
    assert (mask.reshape(768, 48, 4).sum(-1) == 2).all()
    fig = mask_heatmap(mask, "c_fc 2:4")
    corner, whole = (np.asarray(d.z) for d in fig.data)
    assert corner.shape == (64, 64) and (corner.reshape(64, 16, 4).sum(-1) == 2).all()
    assert whole.shape == (192, 48) and np.allclose(whole, 0.5)  # 4x4 blocks: every block half kept
    assert fig.layout.xaxis.title.text == "input features (columns)"
    assert fig.layout.yaxis.title.text == "output features (rows)"
    assert "4×4 block" in fig.layout.annotations[1].text
    lines = [s.x0 for s in mask_heatmap(mask, "c_fc 2:4", group=4).layout.shapes if s.type == "line"]
    assert lines == [x - 0.5 for x in range(4, 64, 4)]  # one separator between each group of 4 inputs


def test_neuron_pattern_removes_whole_rows_then_whole_columns(gpt):
    up = _matrix(gpt, "transformer.h.1.mlp.c_fc", method="magnitude", sparsity=0.25, pattern="neuron")
    down = _matrix(gpt, "transformer.h.1.mlp.c_proj", method="magnitude", sparsity=0.25, pattern="neuron")
    rows = up.all(axis=1)
    assert (up.any(axis=1) == rows).all() and (~rows).sum() == 192  # 25 % of 768 neurons, whole rows
    assert (down.all(axis=0) == rows).all() and (down.any(axis=0) == rows).all()  # same neurons, columns
    corner = np.asarray(mask_heatmap(up, "up").data[0].z)
    assert (corner.min(axis=1) == corner.max(axis=1)).all()


def test_head_pattern_removes_bands_of_head_dim_rows_in_q_k_and_v(gpt):
    mask = _matrix(gpt, "transformer.h.2.attn.c_attn", method="magnitude", sparsity=0.5, pattern="head")
    rows = mask.all(axis=1).reshape(3, 6, 32)  # Q|K|V x 6 heads x head_dim 32
    assert (rows.all(-1) == rows.any(-1)).all()  # a head goes whole
    assert (rows[0] == rows[1]).all() and (rows[0] == rows[2]).all() and (~rows[0].all(-1)).sum() == 3


def test_unstructured_is_scattered_and_downsampling_is_honest(bert):
    mask = _matrix(bert, "bert.encoder.layer.0.intermediate.dense", method="magnitude", sparsity=0.7)
    assert mask.mean() == pytest.approx(0.3, abs=1e-4)
    assert not (mask.all(axis=1) | ~mask.any(axis=1)).all()  # rows are mixed, not whole
    fig = mask_heatmap(mask, "odd blocks", crop=16, max_cells=100)  # 512x128 -> 6x6 blocks, edges partial
    whole = np.asarray(fig.data[1].z)
    assert whole.shape == (86, 22)
    assert whole[-1, -1] == pytest.approx(mask[510:, 126:].mean())  # the 2x2 edge tile averages 4 weights
    assert whole[3, 4] == pytest.approx(mask[18:24, 24:30].mean())
    assert "6×6 block" in fig.layout.annotations[1].text


def test_small_matrix_is_drawn_whole_in_one_panel():
    mask = np.ones((8, 12), dtype=bool)
    mask[:, ::3] = False
    fig = mask_heatmap(mask, "tiny")
    assert len(fig.data) == 1 and np.array_equal(np.asarray(fig.data[0].z), mask.astype(float))
    assert "every weight" in fig.layout.annotations[0].text and "66.7% of 96 weights kept" in fig.layout.title.text
