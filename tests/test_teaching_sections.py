"""AppTest of the teaching sections: where methods disagree (Layers), which examples break first (Compare),
step mode (Fine-tune). Each section is rendered on its own, as its page calls it, with the real models."""
from streamlit.testing.v1 import AppTest

from conftest import fingerprint, render_page


def _section(module: str, function: str, choice: str, **state) -> AppTest:
    at = AppTest.from_string(f"from pages.ui.picker import get_model, model_picker\nfrom pages.ui.{module} import {function}\n"
                             f"model_picker()\n{function}(get_model())", default_timeout=300)
    at.session_state["model_choice"] = choice
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_disagree_section_shows_layers_matrix_and_why():
    at = _section("disagree", "disagree_section", "tiny-shakespeare-gpt")
    assert not at.error
    assert len(at.get("plotly_chart")) == 3  # per layer, one matrix, the scatter
    assert at.selectbox(key="dis_matrix").value.endswith("mlp.c_proj")  # starts where they disagree most
    text = _captions(at)
    assert "small weights on loud input features" in text and "large weights on quiet features" in text
    at.selectbox(key="dis_b").set_value("magnitude").run()
    assert not at.exception and any("agree on every weight" in i.value for i in at.info)
    at.selectbox(key="dis_pattern").set_value("2:4").run()
    assert not at.exception and not at.error and "2:4 always removes 50%" in _captions(at)


def test_layers_page_calls_the_disagree_section():
    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import layers\nmodel_picker()\n"
                             "layers.page()", default_timeout=300)
    at.session_state["model_choice"] = "tiny-sentiment-bert"
    at.session_state["layers_run"] = False  # the sensitivity analysis is tested elsewhere
    at.run()
    assert not at.exception, at.exception
    assert "Where two methods disagree" in [s.value for s in at.subheader]


def test_breaks_section_classifier_ranks_the_fragile_examples():
    at = _section("breaks", "breaks_section", "tiny-sentiment-bert", brk_examples=250)
    assert not at.get("plotly_chart")  # nothing runs before the button
    at.button(key="brk_run").click().run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert len(table) == 10 and (table["flipped_at"].diff().dropna() >= 0).all()
    at.run()  # a rerun (any other control) keeps the result on screen
    assert len(at.dataframe) == 1


def test_breaks_section_language_model_colours_the_tokens():
    at = _section("breaks", "breaks_section", "tiny-shakespeare-gpt")
    assert not at.error
    html = at.get("html")[0].proto.body
    assert "rgba(211,84,0" in html and html.count("<span") == 256  # one span per character token, coloured
    assert len(at.dataframe[0].value) == 15
    at.slider(key="brk_sparsity").set_value(30).run()
    assert not at.exception and "30%" in _captions(at)


def test_compare_page_calls_the_breaks_section(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    at = AppTest.from_string("from pages.ui.picker import model_picker\nfrom pages import compare\nmodel_picker()\n"
                             "compare.page()", default_timeout=300)
    at.session_state["model_choice"] = "tiny-sentiment-bert"
    at.run()
    assert not at.exception, at.exception
    assert "Which examples break first" in [s.value for s in at.subheader]


def test_step_mode_advances_along_the_schedule_on_a_private_copy(gpt):
    at = _section("stepmode", "step_section", "tiny-shakespeare-gpt", step_final=70)
    assert any("Press *Step*" in i.value for i in at.info) and "step_stepper" not in at.session_state
    at.button(key="step_step").click().run()
    assert not at.exception and not at.error

    def metric(label):
        return next(m.value for m in at.metric if m.label == label)

    assert metric("Optimizer step") == "2 / 40" and metric("Sparsity now") == "0.0%"
    for _ in range(2):
        at.button(key="step_step").click().run()
    assert metric("Optimizer step") == "6 / 40" and metric("Sparsity now") != "0.0%"  # the first pruning event
    stepper = at.session_state["step_stepper"]
    assert stepper.model is not stepper.loaded.model
    assert fingerprint(stepper.loaded.model) == fingerprint(gpt.model)  # the shared model was not trained
    at.button(key="step_play").click().run()
    assert metric("Optimizer step") == "40 / 40" and metric("Sparsity now") == "70.0%"
    assert at.button(key="step_step").disabled
    at.button(key="step_reset").click().run()
    assert any("Press *Step*" in i.value for i in at.info)


def test_finetune_page_calls_the_step_section():
    at = render_page("finetune", "tiny-shakespeare-gpt")
    at.run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Step mode") for s in at.subheader)
