"""Where two methods disagree: the four classes, the per-layer table, the 'why' scatter and its charts."""
import numpy as np
import pytest

from conftest import fingerprint
from pages.ui import charts
from prune_core.disagree import CLASSES, MAX_POINTS, class_codes, class_counts, compare_methods, input_norms, scatter_sample
from prune_core.errors import PruneScopeError
from prune_core.targets import as_out_in


@pytest.fixture(scope="module")
def mag_wanda(gpt):
    before = fingerprint(gpt.model)
    d = compare_methods(gpt, "magnitude", "wanda", 0.5)
    assert fingerprint(gpt.model) == before  # masks built without touching the shared model
    return d


def test_classes_partition_every_matrix_exactly(mag_wanda):
    table = mag_wanda.layer_table()
    assert len(table) == len(mag_wanda.targets) == 16
    assert (table[list(CLASSES)].sum(axis=1) == table["params"]).all()
    for t in mag_wanda.targets:
        a, b = mag_wanda.keeps(t.module)
        codes = mag_wanda.codes(t.module)
        assert (class_counts(codes)[[1, 3]].sum()) == (~a).sum() == round(0.5 * t.numel)  # A's pruned set, exact
        assert (class_counts(codes)[[2, 3]].sum()) == (~b).sum() == round(0.5 * t.numel)
        assert ((codes == 0) == (a & b)).all() and ((codes == 3) == (~a & ~b)).all()
    # magnitude and Wanda really differ here, so the test of zero disagreement below can fail
    assert (table["pruned only by A"] > 0).all() and (table["overlap"] < 0.95).all()
    assert (table["pruned only by A"] == table["pruned only by B"]).all()  # same count removed per layer


def test_identical_methods_give_zero_disagreement(bert):
    d = compare_methods(bert, "magnitude", "magnitude", 0.6)
    table = d.layer_table()
    assert (table["pruned only by A"] == 0).all() and (table["pruned only by B"] == 0).all()
    assert (table["overlap"] == 1.0).all()
    assert (table["share pruned by both"].round(3) == 0.6).all()


def test_class_codes_by_hand_and_bad_input():
    a = np.array([[True, True, False, False]])
    b = np.array([[True, False, True, False]])
    assert class_codes(a, b).tolist() == [[0, 2, 1, 3]]
    assert class_counts(class_codes(a, b)).tolist() == [1, 1, 1, 1]
    with pytest.raises(PruneScopeError):
        class_codes(a, b.T)


def test_structural_pattern_is_refused(gpt):
    with pytest.raises(PruneScopeError, match="weight by weight"):
        compare_methods(gpt, "magnitude", "wanda", 0.5, pattern="neuron")


def test_why_scatter_sample_is_bounded_seeded_and_tells_wandas_story(gpt, mag_wanda):
    t = next(t for t in mag_wanda.targets if t.module == "transformer.h.3.mlp.c_proj")  # 192 x 768 = 147k weights
    norms, tokens = input_norms(gpt, t.module, mag_wanda.config_b)
    assert norms.shape == (768,) and tokens == 32 * 128 and (norms >= 0).all()
    weight = as_out_in(dict(gpt.model.named_parameters())[t.name].detach(), t).numpy()
    codes = mag_wanda.codes(t.module)
    s1 = scatter_sample(weight, norms, codes, seed=3)
    assert len(s1) == MAX_POINTS and s1[["row", "col"]].drop_duplicates().shape[0] == MAX_POINTS
    assert s1.equals(scatter_sample(weight, norms, codes, seed=3))
    assert not s1.equals(scatter_sample(weight, norms, codes, seed=4))
    assert np.allclose(s1["abs_weight"], np.abs(weight[s1["row"], s1["col"]]))
    assert (s1["input_norm"].to_numpy() == norms[s1["col"]]).all()
    # magnitude-only prunes (Wanda kept them) sit on louder inputs than Wanda-only prunes, which are larger weights
    only_mag, only_wanda = s1[s1["code"] == 1], s1[s1["code"] == 2]
    assert only_mag["input_norm"].median() > only_wanda["input_norm"].median()
    assert only_mag["abs_weight"].median() < only_wanda["abs_weight"].median()
    small = scatter_sample(weight[:10, :20], norms[:20], codes[:10, :20])
    assert len(small) == 200  # a small matrix is drawn whole
    fig = charts.why_scatter(s1, "magnitude", "wanda", t.module, tokens)
    assert sum(len(d.x) for d in fig.data) <= MAX_POINTS and fig.layout.xaxis.type == "log"


def test_disagreement_charts(mag_wanda):
    table = mag_wanda.layer_table()
    fig = charts.disagreement_chart(table, "magnitude", "wanda", 0.5)
    assert [d.name for d in fig.data] == ["pruned by both", "pruned only by magnitude", "pruned only by wanda"]
    total = sum(np.asarray(d.y) for d in fig.data)
    # the stack is what either method prunes: A's 50 % (both + only A), then only B on top
    assert np.allclose(total, 50.0 + 100 * table["share pruned only by B"], atol=0.01)
    codes = mag_wanda.codes("transformer.h.0.mlp.c_fc")  # 768 x 192: corner + 4x4 blocks
    heat = charts.disagreement_heatmap(codes, "magnitude", "wanda", "c_fc")
    corner, whole = (np.asarray(d.z) for d in heat.data)
    assert np.array_equal(corner, codes[:64, :64].astype(float))
    assert whole.shape == (192, 48)
    disagree = (codes == 1) | (codes == 2)
    assert whole[5, 7] == pytest.approx(disagree[20:24, 28:32].mean())
    small = charts.disagreement_heatmap(codes[:8, :12], "a", "b", "tiny")
    assert len(small.data) == 1 and np.array_equal(np.asarray(small.data[0].z), codes[:8, :12].astype(float))


def test_masks_from_the_cheap_phase_summary_are_the_same(gpt, mag_wanda):
    """The page takes its masks from the shared summaries (summary.summarize); they must give the same classes."""
    from prune_core.summary import summarize

    d = compare_methods(gpt, "magnitude", "wanda", 0.5, mask_source=lambda c: summarize(gpt, c).to_mask_set())
    for t in mag_wanda.targets:
        assert np.array_equal(d.codes(t.module), mag_wanda.codes(t.module))
