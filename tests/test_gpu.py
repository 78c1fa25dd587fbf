"""2:4 semi-structured timing (prune_core.gpu): the model surgery runs everywhere; timing needs CUDA.

The CUDA tests run on a GPU machine (`pytest tests/test_gpu.py` there); CI has none and skips them.
"""
import pytest
import torch

from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.gpu import crossings, cuda_problem, measure_2_4, two_four_twin
from prune_core.run import LatencySpec, latency_inputs, prune_model

needs_cuda = pytest.mark.skipif(cuda_problem() is not None, reason=f"2:4 kernels: {cuda_problem()}")


@pytest.mark.parametrize("name", ["gpt", "bert"])
def test_two_four_twin_equals_magnitude_2_4_pruning(name, request):
    """The twin (Conv1D turned Linear, 2:4 by magnitude) computes what the library's 2:4 run does."""
    loaded = request.getfixturevalue(name)
    twin, targets = two_four_twin(loaded.model)
    _, masked = prune_model(loaded, PruneConfig(method="magnitude", sparsity=0.5, pattern="2:4"))
    for t in targets:
        layer = twin.get_submodule(t.module)
        assert isinstance(layer, torch.nn.Linear)
        kept = (layer.weight != 0).reshape(layer.weight.shape[0], -1, 4).sum(-1)
        assert (kept == 2).all()  # exactly 2 of every 4 inputs kept
    x = latency_inputs(loaded, LatencySpec(batch=2, seq_len=32))
    with torch.inference_mode():
        a, b = twin(**x).logits, masked(**x).logits
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_cuda_the_message_says_why(gpt):
    with pytest.raises(PruneScopeError, match="no CUDA GPU"):
        measure_2_4(gpt, [1], 64)


@needs_cuda
@pytest.mark.parametrize("name", ["gpt", "bert"])
def test_live_2_4_timing_on_the_gpu(name, request):
    loaded = request.getfixturevalue(name)
    report = measure_2_4(loaded, [1, 8], 64)
    frame = __import__("pandas").DataFrame([r.to_dict() for r in report.rows])
    assert set(frame["level"]) == {"model", "layer"} and set(frame["mode"]) <= {"eager", "cudagraph"}
    assert len(report.converted) == len(two_four_twin(loaded.model)[1]) and not report.skipped
    assert report.max_abs_diff < 0.1  # fp16 sparse kernels agree with the same mask on dense kernels
    assert (frame["dense_ms"] > 0).all() and (frame["sparse_ms"] > 0).all()
    assert frame["gpu"].iloc[0] == torch.cuda.get_device_name()
    assert crossings(frame)[("model", "eager")]["best"] > 0


@needs_cuda
def test_speed_page_times_2_4_live_on_click():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import speed\n"
                             "model_picker()\nspeed.page()", default_timeout=600)
    at.session_state["model_choice"] = "tiny-sentiment-bert"
    at.run()
    assert not at.exception and not at.error
    at.button(key="speed_gpu_run").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("measured" in t for t in titles)
