"""One server for a class: pruned deltas, the teacher's settings, the classroom picker, the memory
shown on the Model zoo page."""
from __future__ import annotations


import pytest
import torch
from streamlit.testing.v1 import AppTest

from prune_core.budget import human
from prune_core.cache import nbytes
from prune_core.config import PruneConfig
from prune_core.delta import PruneDelta
from prune_core.errors import PruneScopeError
from prune_core.run import prune_model
from prune_core.server import ServerSettings, server_settings
from prune_core.zoo import EMBEDDED, MODELS_DIR

from conftest import fingerprint



@pytest.mark.parametrize("config", [PruneConfig(method="magnitude", sparsity=0.5),
                                    PruneConfig(method="sparsegpt", sparsity=0.6, calib_samples=4),
                                    PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron"),
                                    PruneConfig(method="magnitude", sparsity=0.0)],
                         ids=["magnitude", "sparsegpt", "neurons", "dense"])
def test_delta_rebuilds_the_pruned_copy_exactly_and_is_much_smaller(gpt, config):
    before = fingerprint(gpt.model)
    mask_set, pruned = prune_model(gpt, config)
    plan = mask_set.plan.to_dict() if mask_set.plan is not None else None
    delta = PruneDelta.between(gpt.model, pruned, plan)
    rebuilt = delta.build(gpt.model)
    assert fingerprint(gpt.model) == before  # the shared base is never written to
    got, want = dict(rebuilt.named_parameters()), dict(pruned.named_parameters())
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert nbytes(delta) < nbytes(pruned) / (1.9 if config.method == "sparsegpt" else 10)
    for t in mask_set.targets:  # one pruned matrix without a copy: what the histogram shows
        w = delta.weight(gpt.model, t.name)
        assert int((w != 0).sum()) == int(mask_set.masks[t.name].sum()) or config.method == "sparsegpt"
    same = PruneDelta.between(gpt.model, prune_model(gpt, config)[1], plan)
    assert same.digest == delta.digest  # the key of results computed from it (samples)


# ---- teacher's settings -----------------------------------------------------------------------
def test_settings_from_the_environment(tmp_path):
    folder = MODELS_DIR / "tiny-shakespeare-gpt"
    s = ServerSettings.from_env({"PRUNESCOPE_CLASSROOM": "1", "PRUNESCOPE_EXTRA_MODELS": f"{folder}:",
                           "PRUNESCOPE_MAX_JOBS": "3", "PRUNESCOPE_MEMORY_BUDGET": "2G"})
    assert s.classroom and not s.custom_models and s.max_jobs == 3 and s.memory_budget == 2 * 1024**3
    assert s.models() == list(EMBEDDED) + [str(folder)] and s.cache_bytes < s.memory_budget
    s.check_model("smollm2-135m")
    s.check_model(str(folder))
    for name in (str(tmp_path), "owner/model", "../etc"):
        with pytest.raises(PruneScopeError, match="classroom"):
            s.check_model(name)
    ServerSettings.from_env({}).check_model(str(tmp_path))  # not a classroom: anything may be tried
    for env, match in (({"PRUNESCOPE_CLASSROOM": "maybe"}, "1 .on. or 0"), ({"PRUNESCOPE_MAX_JOBS": "0"}, "whole"),
                       ({"PRUNESCOPE_EXTRA_MODELS": str(tmp_path)}, "config.json"),
                       ({"PRUNESCOPE_MEMORY_BUDGET": "lots"}, "not a size")):
        with pytest.raises(PruneScopeError, match=match):
            ServerSettings.from_env(env)


@pytest.fixture
def classroom(monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_CLASSROOM", "1")
    monkeypatch.setenv("PRUNESCOPE_EXTRA_MODELS", str(MODELS_DIR / "tiny-sentiment-bert"))
    server_settings.cache_clear()
    yield
    server_settings.cache_clear()


def test_classroom_picker_offers_only_the_zoo_and_the_teachers_models(classroom):
    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import models\n"
                             "model_picker()\nmodels.page()", default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    picker = at.sidebar.selectbox(key="model_choice")
    assert picker.options == list(EMBEDDED) + ["tiny-sentiment-bert (added by the teacher)"]
    assert not at.sidebar.text_input  # no folder / hub id box
    text = " ".join(m.value for m in at.markdown)
    assert "classroom" in text.lower() and "heavy" in text.lower()


def test_classroom_refuses_a_model_typed_in_behind_the_picker(classroom):
    at = AppTest.from_string("import streamlit as st\nfrom pages.ui.picker import get_model\n"
                             "st.session_state['model'] = '/tmp'\nget_model()", default_timeout=60)
    at.run()
    assert not at.exception and "not offered on this classroom server" in at.error[0].value


def test_model_zoo_page_shows_memory_use_against_the_budget():
    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import explore, models\n"
                             "model_picker()\nexplore.page()\nmodels.page()", default_timeout=300)
    at.session_state["model_choice"] = "tiny-shakespeare-gpt"
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    loaded = text.split("models loaded: ", 1)[1]  # earlier tests in this process may have loaded others too
    assert "tiny-shakespeare-gpt" in loaded.split(".")[0] and "results" in text
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    used, capacity = metrics["Cached models and results"]
    assert used.endswith("MB") and float(used.split()[0]) > 7  # the 7.4 MB model is counted
    assert capacity == f"of {human(server_settings().cache_bytes)} for the cache"
    assert metrics["Server process memory"][1] == f"of {human(server_settings().memory_budget)} budget"
