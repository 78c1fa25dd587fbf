""""Could anything run this faster?": answers per pattern on real zoo models, crossovers from the
recorded GPU figures, the crossover chart, and the pages that show them."""
import pandas as pd
import pytest
from conftest import render_page

from pages.ui import charts
from prune_core import faster
from prune_core.config import PruneConfig
from prune_core.gpu import layer_shapes
from prune_core.run import LatencySpec, run
from prune_core.zoo import load_model

ZOO_CSV = faster.SPEED_DIR / "gpu_2_4_zoo_h200.csv"


@pytest.fixture(scope="module")
def gpt():
    return load_model("tiny-shakespeare-gpt")


def _points(tokens_speedups):
    return pd.DataFrame({"tokens": [t for t, _ in tokens_speedups], "speedup": [s for _, s in tokens_speedups]})


def test_crossover_is_where_2_4_stays_ahead_not_a_lucky_point():
    assert faster.crossover(_points([(1, 0.5), (16, 1.1), (64, 0.9), (256, 1.2), (1024, 1.3)])) == (256, 64)
    assert faster.crossover(_points([(1, 1.2), (16, 1.5)])) == (1, None)
    assert faster.crossover(_points([(1, 0.3), (16, 1.05), (64, 0.99)])) == (None, None)


def test_crossovers_read_from_the_recorded_csv():
    """minilm-l6's intermediate layer (1536x384) is the one zoo shape that crossed on the recorded H200."""
    recorded = pd.read_csv(ZOO_CSV)
    found = {c.shape: c for c in faster.crossovers({(1536, 384): "intermediate", (384, 384): "query"},
                                                   faster.recorded_gpu_figures())}
    big, small = found["1536x384"], found["384x384"]
    points = recorded[(recorded["shape"] == "1536x384") & (recorded["mode"] == "cudagraph")].set_index("tokens")
    assert big.gpu == "NVIDIA H200" and big.tokens == 65536 and big.lost_at == 16384
    assert points.loc[big.lost_at, "speedup"] < 1 <= points.loc[points.index >= big.tokens, "speedup"].min()
    assert small.tokens is None and small.best < 1 and small.max_tokens == int(recorded["tokens"].max())


def test_two_four_answer_gives_each_shape_and_the_serving_facts(gpt):
    a = faster.answer_for(gpt, "2:4", 0.5)
    assert a.verdict == faster.GPU_ONLY
    for out_f, in_f in layer_shapes(gpt.model):
        assert f"{out_f}x{in_f}" in a.text
    assert "never up to 262,144 tokens" in a.text  # no tiny-shakespeare-gpt shape crossed on the H200
    assert faster.VLLM_DROPPED in a.sources and faster.TORCHAO_DROPPED in a.sources
    assert "vllm#36799" in a.text and "ao#4728" in a.text


def test_a_shape_never_measured_says_so_and_how_to_measure_it():
    a = faster.answer("2:4", 0.5, {(1000, 1000): "odd"}, faster.recorded_gpu_figures())
    assert "Not measured for 1000x1000" in a.text and "--shapes 1000x1000" in a.text


def test_other_nm_patterns_have_no_kernel():
    assert faster.answer("4:8", 0.5, {(8, 8): "x"}).verdict == faster.NO


def test_unstructured_answer_uses_this_cpus_measured_csr_break_even(gpt):
    a = faster.answer_for(gpt, "unstructured", 0.5, tokens=64)
    csr = faster.csr_break_even_for(gpt, 64)
    assert csr.layer in a.text and "not faster" in a.text
    asked = []  # a server's shared cache, measured once for all its pages
    kept = faster.answer_for(gpt, "unstructured", 0.5, tokens=64,
                             break_even=lambda n: asked.append(n) or faster.CsrBreakEven("mlp.c_fc", n, 0.9))
    assert asked == [64] and "only from 90%" in kept.text
    below = faster.answer("unstructured", 0.5, {}, csr=faster.CsrBreakEven("mlp.c_fc", 64, 0.9))
    above = faster.answer("unstructured", 0.95, {}, csr=faster.CsrBreakEven("mlp.c_fc", 64, 0.9))
    never = faster.answer("unstructured", 0.95, {}, csr=faster.CsrBreakEven("mlp.c_fc", 64, None))
    assert below.verdict == faster.NO and "only from 90%" in below.text
    assert above.verdict == "yes, with CSR kernels" and never.verdict == faster.NO


def test_neuron_removal_answer_carries_the_measured_speedup(gpt):
    result, _ = run(gpt, PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron", scope="all"),
                    latency=LatencySpec(batch=4, seq_len=64, reps=5), measure_file=False)
    a = faster.answer_for(gpt, "neuron", result.sparsity_actual, (result.latency_ms_dense, result.latency_ms))
    assert a.verdict == faster.YES and "genuinely smaller" in a.text
    assert f"{result.latency_ms_dense / result.latency_ms:.2f}x" in a.text


def test_for_runs_gives_one_row_per_run_and_one_answer_per_pattern(gpt):
    runs = pd.DataFrame([
        {"method": "magnitude", "pattern": "unstructured", "sparsity_actual": 0.3, "latency_ms": 2.0,
         "latency_ms_dense": 2.1},
        {"method": "magnitude", "pattern": "unstructured", "sparsity_actual": 0.7, "latency_ms": 2.0,
         "latency_ms_dense": 2.0},
        {"method": "magnitude", "pattern": "neuron", "sparsity_actual": 0.5, "latency_ms": 1.0,
         "latency_ms_dense": 2.0},
    ])
    table, answers = faster.for_runs(gpt, runs, 64)
    assert len(table) == 3 and len(answers) == 2
    assert table.loc[table["pattern"] == "neuron", "measured speed-up (dense ms / pruned ms)"].item() == 2.0
    assert "70%" in next(a.text for a in answers if a.verdict != faster.YES)  # the highest sparsity's answer


def test_crossover_chart_builds_with_never_bars_and_the_reference_batch():
    frame = faster.crossover_frame({(1536, 384): "intermediate", (128, 128): "query", (1000, 1000): "odd"})
    assert set(frame["measured"]) == {True, False}
    fig = charts.crossover_chart(frame, 128)
    bars = [t for t in fig.data if t.type == "bar"]
    assert bars and fig.layout.yaxis.type == "log"
    texts = [t for b in bars for t in b.text]
    assert "never" in texts and "" in texts  # 128x128 never crossed, 1536x384 did
    assert "not measured: 1000x1000" in fig.layout.title.text
    assert any("128 tokens" in (a.text or "") for a in fig.layout.annotations)


def test_speed_page_shows_the_crossover_chart():
    at = render_page("speed", "tiny-sentiment-bert")
    assert not at.error
    assert any("2:4 crossover" in c.proto.spec for c in at.get("plotly_chart"))


def test_explore_shows_the_answer():
    at = render_page("explore", "tiny-sentiment-bert")
    assert not at.error
    assert any("Could anything run this faster?" in w.value and "CSR" in w.value for w in at.warning)
