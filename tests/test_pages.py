"""The pages through Streamlit's AppTest: widgets drive real pruning runs."""
from streamlit.testing.v1 import AppTest


def _app(model: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.session_state["model_choice"] = model
    at.run()
    assert not at.exception, at.exception
    return at


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


def test_nm_pattern_that_does_not_divide_is_an_error_in_the_page():
    at = _app("tiny-sentiment-bert")
    at.selectbox[1].set_value("4:8").run()  # 128-wide layers: 4:8 works
    assert not at.error and _metrics(at)["Weights removed (in scope)"] == "50.0%"


def test_unknown_model_is_an_error_not_a_traceback():
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["model_choice"] = "other: local folder or hub id…"
    at.run()
    at.text_input(key="model_other").set_value("/no/such/folder").run()
    assert not at.exception
    assert at.error and "Cannot load this model" in at.error[0].value


def test_model_zoo_page():
    at = _app("tiny-sentiment-bert")
    at.switch_page("pages/models.py").run()
    assert not at.exception
    assert at.title[0].value == "Model zoo"
