"""One Explore slider move computes each thing once: one validation, one pattern parse, one method
list, one faster question, one evaluation setting, at most one dense evaluation (tests/move_counts.py)."""
import streamlit as st

from move_counts import MOVES, explore, move


def _measured(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_each_move_computes_each_thing_at_most_once():
    at = explore()
    for name, change in MOVES.items():
        counts = move(at, change)
        assert counts["cheap phases (summarize)"] == 1 and counts["measurements (run.run)"] == 1, name  # real work
        assert counts["validations"] == 1 and counts["faster.ask"] == 1, (name, counts)
        assert counts["dense evaluations"] == 0, (name, counts)  # measured once per model and evaluation
        assert max(counts.values()) <= 1, (name, counts)
        assert _measured(at)["Latency (median)"] != "measuring…", name
    assert any(i.value.startswith("removed ") and "of 3072 neurons" in i.value for i in at.info)  # the last move


def test_predict_mode_evaluates_the_dense_model_once():
    """The guess shows the dense quality before the measurement; the measurement reuses that evaluation
    (the file-size setting does not split it)."""
    from move_counts import counting

    st.cache_resource.clear()
    with counting() as counts:
        at = explore(predict_mode=True)
        assert not at.metric  # held back until the guess
        at.button(key="FormSubmitter:predict_form-Reveal").click().run()
    assert not at.exception and at.metric
    assert counts["dense evaluations"] == 1 and counts["measurements (run.run)"] == 1, counts
    assert any("You guessed" in s.value for s in at.success)
