"""Hostile input through the pages (AppTest): a clear st.error or note, never a traceback, nothing
stored where it should not be, and the cached base model bit-identical afterwards."""
from __future__ import annotations

import hashlib

from conftest import fingerprint
from read_only import read_only
from test_pages import _page

from prune_core.store import Store


def test_compare_refuses_a_grid_of_millions(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path / "data"))
    at = _page("compare", "tiny-sentiment-bert")
    store = tmp_path / "data" / "results.sqlite"
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    at.text_input(key="cmp_grid").set_value("0:0.9:0.0000001").run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("Cannot run this grid: the sparsity grid has 9,000,001 points")
    assert "the limit is 200 runs" in at.error[0].value
    assert not any("runs; results go to" in c.value for c in at.caption)  # no "270003 runs" caption
    assert not [b for b in at.button if b.key == "cmp_run"]  # no Run button to press
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before and Store(store).runs().empty


def test_compare_counts_methods_and_the_proposed_allocation_against_the_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    at = _page("compare", "tiny-sentiment-bert")
    at.multiselect(key="cmp_methods").set_value(["random", "magnitude", "wanda"])
    at.text_input(key="cmp_grid").set_value("0:0.9:0.01").run()
    assert at.error and "the sweep has 273 runs; the limit is 200 runs" in at.error[0].value
    at.multiselect(key="cmp_methods").set_value(["magnitude"])
    at.text_input(key="cmp_grid").set_value("0:0.9:0.005").run()
    assert not at.error and any(c.value.startswith("181 runs;") for c in at.caption)
    at.checkbox(key="cmp_proposed").check().run()
    assert not at.exception and at.error and "the sweep has 362 runs" in at.error[0].value


def test_explore_long_prompt_is_cut_to_the_context(gpt):
    at = _page("explore", "tiny-shakespeare-gpt")
    prompt = "ROMEO:\nBut soft, what light through yonder window breaks? " * 12  # ~660 characters
    at.text_area[0].set_value(prompt).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    note = [i.value for i in at.info if "longer than this model's context" in i.value]
    assert note and "new tokens fit" in note[0]
    outputs = [c.value for c in at.code if not c.value.startswith("/?")]  # not the "copy link" box
    assert len(outputs) == 2 and all(o.startswith(prompt) and len(o) > len(prompt) for o in outputs)
    from pages.ui.caches import cached_model

    assert fingerprint(cached_model("tiny-shakespeare-gpt").model) == fingerprint(gpt.model)


def test_explore_short_prompt_has_no_note():
    at = _page("explore", "tiny-shakespeare-gpt")
    assert not at.exception and not any("longer than" in i.value for i in at.info)
    labels = [b.proto.label for b in at.get("download_button")]
    assert any(label.startswith("Download the pruned model") for label in labels)


def test_explore_classifier_takes_a_very_long_sentence():
    at = _page("explore", "tiny-sentiment-bert")
    at.text_input[0].set_value("so so good " * 600).run()
    assert not at.exception and not at.error


def _store_with_runs(folder, loaded):
    """Two real runs (what a sweep stores), so every chart of the pages has its fields."""
    from prune_core.run import LatencySpec
    from prune_core.sweep import grid_configs, run_sweep

    store = Store(folder / "results.sqlite")
    run_sweep(loaded, grid_configs(["magnitude"], [0.3, 0.6]), store, LatencySpec(seq_len=16, reps=3, warmup=1))
    store.close()
    return folder / "results.sqlite"


def test_history_reads_a_store_on_read_only_storage(tmp_path, monkeypatch, bert):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    path = _store_with_runs(tmp_path, bert)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with read_only(tmp_path):
        at = _page("history", "tiny-sentiment-bert")
        assert not at.exception and not at.error
        assert "2 runs" in at.caption[0].value and "read-only storage" in at.caption[0].value
        assert len(at.dataframe[0].value) == 2
        assert not [m for m in at.multiselect if m.key == "hist_delete"]  # no delete control
        cmp = _page("compare", "tiny-sentiment-bert")
        assert not cmp.exception and cmp.warning and "read-only storage" in cmp.warning[0].value
        assert cmp.button(key="cmp_run").disabled
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_history_with_a_file_that_is_not_a_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    junk = tmp_path / "results.sqlite"
    junk.write_bytes(b"\x00garbage" * 500)
    at = _page("history", "tiny-sentiment-bert")
    assert not at.exception
    assert at.error and at.error[0].value.startswith("Cannot open the results store:")
    assert "not a usable PruneScope results store" in at.error[0].value and "left untouched" in at.error[0].value
    assert junk.read_bytes() == b"\x00garbage" * 500
