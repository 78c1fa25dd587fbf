"""The whole state in the URL (pages/ui/urlstate.py): every control of Explore, Speed, Layers and Compare
is read from the query string and written back; exercise links lock, hide and reveal; bad values
are ignored with a note that names them. Pages run through AppTest, widgets drive real runs."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

# name in the URL -> (AppTest element kind, widget key), per page
EXPLORE = {"pattern": ("selectbox", "pattern"), "method": ("selectbox", "method_weights"),
           "sparsity": ("slider", "sparsity"), "scope": ("selectbox", "scope"), "allocation": ("radio", "allocation"),
           "head": ("checkbox", "include_head"), "seed": ("number_input", "seed"),
           "calib_samples": ("number_input", "calib_samples"), "calib_seq_len": ("number_input", "calib_seq_len"),
           "damping": ("number_input", "param_sparsegpt_damping"),
           "batch": ("number_input", "lat_batch@tiny-shakespeare-gpt"),
           "seq_len": ("number_input", "lat_seq_len@tiny-shakespeare-gpt"),
           "reps": ("number_input", "lat_reps@tiny-shakespeare-gpt"),
           "file": ("checkbox", "measure_file@tiny-shakespeare-gpt"), "eval": ("radio", "evaluation"), "layer": ("selectbox", "hist_layer"),
           "challenge": ("selectbox", "challenge"), "reveal": ("toggle", "predict_mode")}
SPEED = {"sparsity": ("slider", "speed_sparsity"), "batch": ("number_input", "speed_batch"),
         "seq_len": ("number_input", "speed_seq"), "reps": ("number_input", "speed_reps"),
         "tradeoff": ("toggle", "speed_tradeoff"), "sweep": ("toggle", "speed_sweep"), "timing": ("radio", "gpu_mode")}
LAYERS = {"sparsity": ("slider", "layers_target"), "sensitivity": ("toggle", "layers_run"),
          "group": ("radio", "layers_group"), "matrix": ("selectbox", "layers_matrix"),
          "pattern": ("selectbox", "layers_pattern"), "nm": ("text_input", "layers_nm"),
          "method": ("selectbox", "layers_method_weights"), "mask_sparsity": ("slider", "layers_mask_sparsity")}
COMPARE = {"methods": ("multiselect", "cmp_methods"), "grid": ("text_input", "cmp_grid"),
           "allocation": ("radio", "cmp_alloc"), "proposed": ("checkbox", "cmp_proposed"),
           "executor": ("radio", "cmp_executor"), "size_format": ("selectbox", "cmp_rep")}


def _open(page: str, params: dict[str, str], model_in_session: str | None = None) -> AppTest:
    """A page as a link opens it: a fresh session whose URL carries `params` (the model included)."""
    at = AppTest.from_string(f"from pages.ui.picker import model_picker\nfrom pages import {page}\n"
                             f"model_picker()\n{page}.page()", default_timeout=300)
    if model_in_session:
        at.session_state["model_choice"] = model_in_session
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def _widget(at: AppTest, kind: str, key: str):
    return getattr(at, kind)(key=key)


def _as_url(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_round_trip(at: AppTest, controls: dict, params: dict[str, str]) -> None:
    """Every control named in `params` shows its value, and the URL says the same after a rerun."""
    for name, raw in params.items():
        if name in controls:
            kind, key = controls[name]
            shown = _as_url(_widget(at, kind, key).value)
            assert shown == raw or (name == "reveal" and shown == "0" and raw == "off"), (name, shown, raw)
    at.run()  # a rerun writes the live values back
    for name, raw in params.items():
        assert at.query_params.get(name) == raw, (name, at.query_params.get(name), raw)


def _link(at: AppTest) -> str:
    return next(c.value for c in at.code if "?" in c.value and "model=" in c.value)


def test_explore_every_control_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    first = _open("explore", {"model": "tiny-shakespeare-gpt", "pattern": "unstructured", "method": "sparsegpt",
                              "scope": "mlp", "calib_samples": "4", "calib_seq_len": "32", "reps": "3"})
    layers = list(first.selectbox(key="hist_layer").options)
    params = {"model": "tiny-shakespeare-gpt", "pattern": "unstructured", "method": "sparsegpt", "sparsity": "60",
              "scope": "mlp", "allocation": "owl", "head": "0", "seed": "7", "calib_samples": "4",
              "calib_seq_len": "32", "damping": "0.05", "batch": "2", "seq_len": "16", "reps": "3", "file": "0",
              "eval": "full", "layer": layers[-1], "challenge": "lm-2of4"}
    at = _open("explore", params)
    assert at.selectbox(key="model_choice").value == "tiny-shakespeare-gpt"
    assert not any("ignored" in w.value for w in at.warning)
    assert at.metric[0].value == "60.0%"  # the figures follow the link
    _check_round_trip(at, EXPLORE, {k: v for k, v in params.items() if k != "model"})
    assert at.query_params["model"] == "tiny-shakespeare-gpt"
    link = _link(at)
    assert all(f"{k}={v}" in link for k, v in params.items() if k not in ("layer",)), link

    # the other way: move widgets, the URL follows
    at.slider(key="sparsity").set_value(75)
    at.number_input(key="seed").set_value(8)
    at.number_input(key="lat_batch@tiny-shakespeare-gpt").set_value(3)
    at.selectbox(key="scope").set_value("attention")
    at.run()
    at.run()
    assert not at.exception
    assert (at.query_params["sparsity"], at.query_params["seed"], at.query_params["batch"],
            at.query_params["scope"]) == ("75", "8", "3", "attention")
    at.selectbox(key="method_weights").set_value("magnitude").run()
    at.radio(key="allocation").set_value("layer").run()
    at.checkbox(key="include_head").check().run()
    at.run()
    assert (at.query_params["method"], at.query_params["allocation"], at.query_params["head"]) == ("magnitude", "layer", "1")


def test_explore_unit_pattern_and_classifier_from_a_link(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    params = {"model": "tiny-sentiment-bert", "pattern": "head", "method": "activation", "sparsity": "50", "seed": "2",
              "reps": "3"}
    at = _open("explore", params)
    assert at.selectbox(key="model_choice").value == "tiny-sentiment-bert"
    assert at.selectbox(key="method_units").value == "activation"
    assert any("accuracy" in m.label for m in at.metric)
    at.run()
    assert at.query_params["method"] == "activation" and at.query_params["pattern"] == "head"


def test_speed_every_control_round_trips():
    params = {"model": "tiny-sentiment-bert", "sparsity": "70", "batch": "2", "seq_len": "16", "reps": "3",
              "tradeoff": "0", "sweep": "0", "timing": "eager"}
    at = _open("speed", params)
    _check_round_trip(at, SPEED, {k: v for k, v in params.items() if k != "model"})
    at.slider(key="speed_sparsity").set_value(40).run()
    at.run()
    assert at.query_params["sparsity"] == "40"


def test_layers_every_control_round_trips():
    base = {"model": "tiny-sentiment-bert", "sparsity": "50", "sensitivity": "0"}
    matrices = list(_open("layers", base).selectbox(key="layers_matrix").options)
    params = {**base, "matrix": matrices[3], "pattern": "unstructured", "method": "wanda", "mask_sparsity": "30"}
    at = _open("layers", params)
    _check_round_trip(at, LAYERS, {k: v for k, v in params.items() if k != "model"})
    nm = _open("layers", {**base, "pattern": "other N:M…", "nm": "1:8"})
    assert nm.text_input(key="layers_nm").value == "1:8" and not nm.error
    nm.text_input(key="layers_nm").set_value("3:8").run()
    nm.run()
    assert nm.query_params["nm"] == "3:8"


def test_compare_every_control_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    params = {"model": "tiny-sentiment-bert", "methods": "random,magnitude", "grid": "0:0.8:0.4",
              "allocation": "global", "proposed": "0", "executor": "local"}
    at = _open("compare", params)
    _check_round_trip(at, COMPARE, {k: v for k, v in params.items() if k != "model"})
    at.button(key="cmp_run").click().run()
    assert not at.exception and at.success
    at.selectbox(key="cmp_rep").set_value("csr").run()
    at.run()
    sweep = at.query_params["sweep"]
    assert at.query_params["size_format"] == "csr"
    # a link to that sweep shows its charts in a new session; a sweep that is not stored is a note
    again = _open("compare", {**params, "sweep": sweep, "size_format": "csr"})
    assert again.selectbox(key="cmp_rep").value == "csr" and len(again.get("plotly_chart")) >= 2
    gone = _open("compare", {**params, "sweep": "0123456789ab"})
    assert any("`sweep=0123456789ab` was ignored" in w.value for w in gone.warning)


def test_model_from_the_url_and_a_preset_session_wins():
    at = _open("layers", {"model": "tiny-sentiment-bert", "sensitivity": "0"})
    assert at.selectbox(key="model_choice").value == "tiny-sentiment-bert"
    at.selectbox(key="model_choice").set_value("tiny-shakespeare-gpt").run()
    at.run()
    assert at.query_params["model"] == "tiny-shakespeare-gpt"


def test_lock_hide_and_the_exercise_banner():
    at = _open("explore", {"model": "tiny-shakespeare-gpt", "method": "random", "sparsity": "30",
                           "lock": "model,method,pattern,sparsity", "hide": "seed,scope,reps", "reps": "3"})
    assert at.selectbox(key="model_choice").disabled
    assert at.selectbox(key="method_weights").disabled and at.selectbox(key="pattern").disabled
    assert at.slider(key="sparsity").disabled and at.slider(key="sparsity").value == 30
    assert not at.number_input(key="seed").disabled  # hidden, not locked
    banner = next(i.value for i in at.info if "This is an exercise" in i.value)
    assert "**method** = `random`" in banner and "**pattern** = `unstructured`" in banner
    assert "**sparsity** = `30`" in banner and "**model** = `tiny-shakespeare-gpt`" in banner and "hidden (still applied): **reps**, **scope**, **seed**" in banner
    styles = [e.proto.body for e in at.get("html")]
    assert any(".st-key-seed {display: none}" in s for s in styles) and \
        any(".st-key-scope {display: none}" in s for s in styles)
    # a per-model key ('@'): the class as Streamlit's frontend writes it (other characters become '-')
    assert any(".st-key-lat_reps-tiny-shakespeare-gpt {display: none}" in s for s in styles)
    assert at.metric[0].value == "30.0%"

    everything = _open("speed", {"model": "tiny-sentiment-bert", "lock": "all", "reps": "3", "tradeoff": "0",
                                 "sweep": "0"})
    assert everything.selectbox(key="model_choice").disabled
    assert all(_widget(everything, kind, key).disabled for kind, key in
               [SPEED[n] for n in ("sparsity", "batch", "seq_len", "reps", "tradeoff", "sweep", "timing")])


def test_reveal_predict_opens_the_predict_mode():
    at = _open("explore", {"model": "tiny-shakespeare-gpt", "reveal": "predict", "sparsity": "70"})
    assert at.toggle(key="predict_mode").value
    assert any("Your turn" in m.value for m in at.markdown)
    assert any("predict, then reveal" in i.value for i in at.info if "exercise" in i.value)
    assert [m.value for m in at.metric if "Held-out" in m.label] == []  # held back until the guess


@pytest.mark.parametrize("page, params, named", [
    ("explore", {"model": "no-such-model", "sparsity": "3", "seed": "-1", "head": "maybe", "scope": "everything",
                 "reps": "3"},
     ["model=no-such-model", "sparsity=3", "seed=-1", "head=maybe", "scope=everything"]),
    ("explore", {"model": "tiny-shakespeare-gpt", "pattern": "neuron", "method": "wanda", "reps": "3",
                 "layer": "transformer.h.99.mlp"}, ["method=wanda", "layer=transformer.h.99.mlp"]),
    ("explore", {"model": "tiny-shakespeare-gpt", "pattern": "3:2", "sparsity": "nan", "batch": "1e9",
                 "damping": "x", "reps": "3"}, ["pattern=3:2", "sparsity=nan", "batch=1e9"]),
    ("speed", {"model": "tiny-sentiment-bert", "sparsity": "5", "batch": "2.5", "reps": "3", "tradeoff": "0",
               "sweep": "0", "timing": "warp"}, ["sparsity=5", "batch=2.5", "timing=warp"]),
    ("layers", {"model": "tiny-sentiment-bert", "sensitivity": "0", "pattern": "other N:M…", "nm": "banana",
                "group": "planet"}, ["nm=banana"]),
    ("compare", {"model": "tiny-sentiment-bert", "methods": "magnitude,astrology", "grid": "0:oops",
                 "executor": "quantum"}, ["methods=magnitude,astrology", "grid=0:oops", "executor=quantum"]),
])
def test_bad_values_are_ignored_with_a_note(page, params, named, tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    at = _open(page, params)
    notes = " ".join(w.value for w in at.warning)
    for text in named:
        assert f"`{text}` was ignored" in notes, (text, notes)
    for text in named:  # a dropped value leaves the URL
        name = text.split("=")[0]
        assert at.query_params.get(name) != text.split("=", 1)[1]


def test_the_url_is_written_only_when_a_value_changes(monkeypatch):
    """Each write of st.query_params is a message the browser handles: a rerun rewrites only what changed."""
    import streamlit as st

    from pages.ui import urlstate

    class Params(dict):
        writes = 0

        def __setitem__(self, key, value):
            Params.writes += 1
            super().__setitem__(key, value)

    params = Params(sparsity="50", method="magnitude")
    monkeypatch.setattr(st, "query_params", params)
    urlstate._set_param("sparsity", "50")
    urlstate._set_param("method", "magnitude")
    assert Params.writes == 0
    urlstate._set_param("sparsity", "55")
    urlstate._set_param("seed", "3")
    assert Params.writes == 2 and params == {"sparsity": "55", "method": "magnitude", "seed": "3"}
