"""The pages through Streamlit's AppTest: widgets drive real pruning runs."""
import base64
import json

import numpy as np
import torch
from conftest import render_page as _page
from streamlit.testing.v1 import AppTest


def _app(model: str) -> AppTest:
    """The Explore page as a user gets it (picker + page). Widget changes are driven on the page
    function directly: AppTest drops widget values under st.navigation (the browser test covers it)."""
    return _page("explore", model)


def test_app_entry_renders_explore_with_navigation():
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.session_state["model_choice"] = "tiny-sentiment-bert"
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value.startswith("Explore") and at.metric


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_explore_slider_changes_the_figures():
    at = _app("tiny-shakespeare-gpt")
    assert at.title[0].value.startswith("Explore")
    before = _metrics(at)
    assert before["Weights removed (in scope)"] == "50.0%"
    at.slider(key="sparsity").set_value(90).run()
    assert not at.exception
    after = _metrics(at)
    assert after["Weights removed (in scope)"] == "90.0%"
    assert after["Held-out perplexity"] != before["Held-out perplexity"]
    assert float(after["Held-out perplexity"]) > float(before["Held-out perplexity"])
    assert any("not faster" in w.value for w in at.warning)
    assert not at.error


def test_classifier_shows_probabilities_and_typed_sentence():
    at = _app("tiny-sentiment-bert")
    at.text_input[0].set_value("what a wonderful happy day").run()
    assert not at.exception
    frames = [df.value for df in at.dataframe]
    assert any("what a wonderful happy day" in str(f.get("sentence", "")) for f in frames if hasattr(f, "get"))
    assert "Held-out accuracy" in _metrics(at)


def test_nm_pattern_runs_in_the_page():
    at = _app("tiny-sentiment-bert")
    at.selectbox(key="pattern").set_value("4:8").run()  # 128-wide layers: 4:8 works
    assert not at.error and _metrics(at)["Weights removed (in scope)"] == "50.0%"


def test_unknown_model_is_an_error_not_a_traceback(tmp_path):
    at = _page("explore", "other: local folder or hub id…")
    assert at.info and "Type a local model folder" in at.info[0].value
    for bad, message in (("/no/such/folder", "no such folder"), (str(tmp_path), "no config.json"),
                         ("someone/model", "offline")):
        at.text_input(key="model_other").set_value(bad).run()
        assert not at.exception
        assert at.error and "Cannot load this model" in at.error[0].value and message in at.error[0].value


def test_model_zoo_page():
    at = _page("models", "tiny-sentiment-bert")
    assert at.title[0].value == "Model zoo"
    assert "smollm2-135m" in at.table[0].value.index


def test_explore_structural_pattern_shrinks_the_model():
    at = _page("explore", "tiny-shakespeare-gpt")
    at.selectbox(key="pattern").set_value("neuron").run()
    assert not at.exception and not at.error
    methods = at.selectbox(key="method_units").options
    assert "activation" in methods and "random" not in methods
    assert any("genuinely smaller" in s.value for s in at.success)
    assert any("removed 1536 of 3072 neurons" in i.value for i in at.info)


def test_speed_page_times_every_variant_and_shows_gpu_figures():
    at = _page("speed", "tiny-sentiment-bert")
    labels = [m.label for m in at.metric]
    assert labels == ["dense", "masked", "csr", "structured"]
    if not torch.cuda.is_available():  # CI: says why 2:4 cannot run, shows the recorded figures
        assert any("no CUDA GPU" in w.value for w in at.warning)
        assert any("recorded 20" in c.proto.spec for c in at.get("plotly_chart"))
    assert not at.error


def test_impossible_combination_is_an_error_in_the_page():
    at = _app("tiny-shakespeare-gpt")
    at.selectbox(key="method_weights").set_value("wanda").run()
    at.checkbox[0].check().run()  # include the head: calibration methods prune blocks only
    assert not at.exception
    assert at.error and "untick 'include head'" in at.error[0].value


def test_compare_runs_a_grid_and_history_lists_and_deletes(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    at = _page("compare", "tiny-sentiment-bert")
    assert at.info and "No stored runs" in at.info[0].value
    at.multiselect(key="cmp_methods").set_value(["random", "magnitude"])
    at.text_input(key="cmp_grid").set_value("0:0.8:0.4").run()
    at.button(key="cmp_run").click().run()
    assert not at.exception and not at.error
    assert at.success and "6 runs" in at.success[0].value
    assert len(at.get("plotly_chart")) >= 3
    faster_box = next(e for e in at.expander if e.label == "Could anything run these faster?")
    assert len(faster_box.dataframe[0].value) == 6 and any("CSR" in m.value for m in faster_box.markdown)
    at.text_input(key="cmp_grid").set_value("0:oops").run()
    assert at.error and "cannot read the sparsity grid" in at.error[0].value

    hist = _page("history", "tiny-sentiment-bert")
    assert "6 runs" in hist.caption[0].value
    hist.multiselect(key="hist_compare").set_value(list(hist.multiselect(key="hist_compare").options)[:3]).run()
    assert not hist.exception and len(hist.get("plotly_chart")) == 1
    hist.multiselect(key="hist_delete").set_value(list(hist.multiselect(key="hist_delete").options)[:2]).run()
    hist.button(key="hist_delete_go").click().run()
    assert not hist.exception
    assert "4 runs" in hist.caption[0].value


def test_layers_page_heatmap_and_proposal():
    at = _page("layers", "tiny-sentiment-bert")
    assert not at.error
    labels = [m.label for m in at.metric]
    assert labels == ["Uniform: accuracy", "Proposed: accuracy"]
    assert len(at.get("plotly_chart")) == 7  # OWL profile, sensitivity, allocations, mask; where methods disagree (3)
    at.radio(key="layers_group").set_value("kind").run()
    assert not at.exception and not at.error
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    heat = next(s for s in specs if s["layout"]["title"]["text"].startswith("Sensitivity"))
    assert heat["data"][0]["y"] == ["attention q/k/v", "attention output", "MLP up/gate", "MLP down"]
    assert [m.label for m in at.metric] == labels


def test_layers_page_mask_heatmap_for_each_pattern():
    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import layers\n"
                             "model_picker()\nlayers.page()", default_timeout=300)
    at.session_state["model_choice"] = "tiny-shakespeare-gpt"
    at.session_state["layers_run"] = False  # the mask section does not need the sensitivity analysis
    at.session_state["dis_show"] = False  # nor the disagreement section below it (tests/test_teaching_sections.py)
    at.run()
    assert not at.exception and not at.error

    def mask_spec():
        return json.loads(at.get("plotly_chart")[-1].proto.spec)

    def z(trace):  # plotly ships arrays as base64 typed buffers
        b = trace["z"]
        return np.frombuffer(base64.b64decode(b["bdata"]), b["dtype"]).reshape([int(n) for n in b["shape"].split(",")])

    assert mask_spec()["layout"]["title"]["text"].startswith("transformer.h.0.attn.c_attn: magnitude, unstructured")
    at.selectbox(key="layers_matrix").set_value("transformer.h.0.mlp.c_fc")
    at.selectbox(key="layers_pattern").set_value("2:4").run()
    corner = z(mask_spec()["data"][0])
    assert corner.shape == (64, 64) and (corner.reshape(64, 16, 4).sum(-1) == 2).all()
    at.selectbox(key="layers_pattern").set_value("neuron").run()
    corner = z(mask_spec()["data"][0])
    assert not at.error and (corner.min(1) == corner.max(1)).all() and corner.min() == 0
    at.selectbox(key="layers_matrix").set_value("transformer.h.0.attn.c_proj").run()
    assert "does not touch transformer.h.0.attn.c_proj" in at.info[0].value
    at.selectbox(key="layers_pattern").set_value("other N:M…").run()
    at.text_input(key="layers_nm").set_value("4:2").run()
    assert not at.exception and "need 0 < N < M" in at.error[0].value


def test_predict_then_reveal_holds_results_until_the_guess():
    at = _app("tiny-sentiment-bert")
    assert at.metric  # mode off: results straight away
    at.toggle(key="predict_mode").set_value(True).run()
    assert not at.exception and not at.metric  # results held back
    assert any("what held-out **accuracy** do you expect" in m.value for m in at.markdown)
    at.number_input(key="predict_guess").set_value(0.9).run()
    at.button[0].click().run()  # the form's Reveal button
    assert not at.exception and at.metric
    assert any("You guessed 0.9" in s.value for s in at.success)
    assert any(e.label.startswith("Glossary") for e in at.expander)


def test_paper_page_runs_claims_a_and_b_and_offers_the_card():
    at = _page("paper", "tiny-sentiment-bert")
    assert at.title[0].value.startswith("Paper") and "abstract is public" in at.info[0].value
    at.multiselect(key="paper_methods").set_value(["magnitude"])
    at.text_input(key="paper_grid").set_value("0.2,0.5").run()
    at.button(key="paper_run_ab").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    verdicts = [b.value for b in list(at.success) + list(at.warning) + list(at.error) if "Verdict" in b.value]
    assert len(verdicts) == 2  # (a) and (b)
    assert len(at.get("plotly_chart")) == 2
    assert at.get("download_button")
    faster_box = next(e for e in at.expander if e.label == "Could anything run these faster?")
    assert any("genuinely smaller" in m.value for m in faster_box.markdown)  # the neurons-removed runs


def test_explore_runs_a_method_that_prunes_while_training():
    at = _app("tiny-sentiment-bert")
    at.selectbox(key="method_weights").set_value("gradual").run()
    assert not at.exception and not at.error
    assert _metrics(at)["Weights removed (in scope)"] == "50.0%"
    assert any("training steps" in i.value for i in at.info)  # says the weights were also trained


def test_finetune_page_trains_keeps_the_pattern_and_offers_the_model():
    at = _page("finetune", "tiny-sentiment-bert")
    assert at.title[0].value.startswith("Fine-tune") and not at.error
    at.number_input(key="ft_steps").set_value(12).run()
    at.button(key="ft_run").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Weights removed (kept all along)"] == "80.0%"
    assert float(cards["After fine-tuning"]) > 0.5
    assert at.get("download_button") and at.get("plotly_chart")
    from pages.ui import caches  # the model is in the shared, budgeted cache, not in the session

    assert len(caches.shared_cache().keys("finetuned")) >= 1
    caches.shared_cache().clear()  # as if the budget had pushed it out
    at.run()
    assert not at.exception and not at.get("download_button")
    assert any("dropped to keep the server within its memory budget" in w.value for w in at.warning)
    assert float({m.label: m.value for m in at.metric}["After fine-tuning"]) > 0.5  # the figures stay


def test_finetune_page_rejects_a_bad_learning_rate():
    at = _page("finetune", "tiny-sentiment-bert")
    at.number_input(key="ft_lr").set_value(0.0).run()
    assert not at.exception and at.error and "learning rate" in at.error[0].value


def test_paper_page_claim_c_over_seeds():
    at = _page("paper", "tiny-sentiment-bert")
    at.number_input(key="paper_seeds").set_value(2)
    at.number_input(key="paper_steps").set_value(10).run()
    at.button(key="paper_run_c").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert [b.value for b in list(at.success) + list(at.warning) + list(at.error) if "Verdict" in b.value]
    assert len(at.get("plotly_chart")) == 2  # quality per seed, generalization gap per seed


def test_plotly_js_is_served_from_the_static_folder(tmp_path, monkeypatch):
    """Explore's in-place charts load plotly.js from the app's static folder: copied there whole from the
    plotly package (its version in the name), no partial file left; a folder that cannot be made is
    logged, not raised (every page runs app.py)."""
    import tomllib
    from pathlib import Path

    from pages.ui import live_chart

    monkeypatch.setattr(live_chart, "STATIC", tmp_path / "static")
    live_chart.serve_plotly_js()
    assert [p.name for p in (tmp_path / "static").iterdir()] == [live_chart.PLOTLY_JS]
    assert (tmp_path / "static" / live_chart.PLOTLY_JS).read_bytes() == live_chart.SOURCE.read_bytes()
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(live_chart, "STATIC", tmp_path / "file" / "static")
    live_chart.serve_plotly_js()  # cannot mkdir under a file: logged
    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableStaticServing"] is True
