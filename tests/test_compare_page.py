"""Compare page through AppTest: the sensitivity-proposed allocation as a chart series, and the executor
setting (Ray missing is an st.error; the fallback runs locally only when ticked; a real local Ray runs)."""
import base64
import json
import sys

import numpy as np
import pytest

from prune_core.store import Store
from test_pages import _page

PROPOSED_LABEL = "proposed (magnitude, non-uniform)"


def _traces(at, index: int = 0) -> dict[str, dict]:
    """Traces of the index-th chart on the page, by name."""
    spec = json.loads(at.get("plotly_chart")[index].proto.spec)
    return {t.get("name"): t for t in spec["data"]}


def _values(v) -> list[float]:
    """Plotly may send an array as {'dtype', 'bdata'} (base64) instead of a JSON list."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def _sweep(at, methods, grid, **settings):
    at.multiselect(key="cmp_methods").set_value(methods)
    at.text_input(key="cmp_grid").set_value(grid)
    for key, value in settings.items():
        widget = at.checkbox(key=key) if key in ("cmp_proposed", "cmp_fallback") else at.radio(key=key)
        widget.set_value(value)
    at.run()
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    return at


def test_proposed_allocation_is_a_series_next_to_uniform_magnitude_and_is_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    at = _sweep(_page("compare", "tiny-sentiment-bert"), ["magnitude"], "0.5,0.7", cmp_proposed=True)
    assert not at.error and at.success and "4 runs" in at.success[0].value
    traces = _traces(at)
    assert {"magnitude", PROPOSED_LABEL, "dense", "Pareto front"} <= set(traces)
    proposed, uniform = traces[PROPOSED_LABEL], traces["magnitude"]
    px, ux = _values(proposed["x"]), _values(uniform["x"])
    assert len(px) == 2 and len(ux) == 2
    assert px[0] >= 0.5 - 1e-9 and px[1] >= 0.7 - 1e-9  # the proposal reaches at least the target sparsity
    assert px != ux and _values(proposed["y"]) != _values(uniform["y"])  # a different allocation, not a copy
    runs = Store(tmp_path / "results.sqlite").runs()
    mine = runs[runs["allocation"] == "proposed"]
    assert len(mine) == 2 and set(mine["method"]) == {"magnitude"} and mine["latency_ms"].isna().all()
    record = Store(tmp_path / "results.sqlite").record(int(mine["id"].iloc[0]))
    assert record["layer_sparsity"] and set(record["layer_sparsity"].values()) <= {0.0, 0.3, 0.5, 0.7, 0.9}
    assert len(at.get("plotly_chart")) == 3  # quality vs sparsity, vs size, vs latency: proposed only on the first
    assert PROPOSED_LABEL not in _traces(at, 2)


def test_ray_missing_is_an_error_and_the_fallback_runs_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    at = _sweep(_page("compare", "tiny-shakespeare-gpt"), ["magnitude"], "0.5", cmp_executor="ray")
    assert at.error and "Cannot run on ray: Ray is not installed: pip install ray==" in at.error[0].value
    assert not at.get("plotly_chart") and not Store(tmp_path / "results.sqlite").runs().shape[0]
    at.checkbox(key="cmp_fallback").check().run()
    at.button(key="cmp_run").click().run()
    assert not at.exception and not at.error
    assert at.warning and at.warning[0].value.startswith("ran locally instead of on ray: Ray is not installed")
    assert "1 runs" in at.warning[0].value and "local executor" in at.warning[0].value
    assert len(Store(tmp_path / "results.sqlite").runs()) == 1


def test_the_page_runs_a_sweep_on_a_real_local_ray(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    started = not ray.is_initialized()
    try:
        at = _sweep(_page("compare", "tiny-shakespeare-gpt"), ["random", "magnitude"], "0.5", cmp_executor="ray")
        assert not at.error and at.success and "2 runs" in at.success[0].value and "ray executor" in at.success[0].value
        assert ray.is_initialized()
        assert len(Store(tmp_path / "results.sqlite").runs()) == 2
    finally:
        if started:
            ray.shutdown()
