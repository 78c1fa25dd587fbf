"""Challenges: goals checked on real measured runs, scores, ranking, the scoreboard table of the
results store (round trip, restart, migration of an older store, clear) and who may clear it."""
from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from conftest import render_page

from prune_core.challenges import CHALLENGES, check_name, for_task, get_challenge
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.run import LatencySpec, dense_baseline, run
from prune_core.server import ServerSettings, server_settings
from prune_core.store import Store

FAST = LatencySpec(batch=1, seq_len=8, reps=1, warmup=0)


@pytest.fixture(scope="module")
def gpt_runs(gpt):
    """Real measured runs of tiny-shakespeare-gpt, one per setting the tests need."""
    base = dense_baseline(gpt, measure_file=False)
    settings = {"magnitude85": PruneConfig(method="magnitude", sparsity=0.85),
                "magnitude50": PruneConfig(method="magnitude", sparsity=0.5),
                "2:4": PruneConfig(method="magnitude", sparsity=0.5, pattern="2:4"),
                "neuron50": PruneConfig(method="magnitude", sparsity=0.5, pattern="neuron"),
                "neuron30": PruneConfig(method="magnitude", sparsity=0.3, pattern="neuron")}
    return {k: run(gpt, c, base, FAST, measure_file=False)[0] for k, c in settings.items()}


def test_three_challenges_per_task_type():
    assert len(for_task("causal-lm")) == 3 and len(for_task("sequence-classification")) == 3
    assert {c.metric for c in for_task("causal-lm")} == {"perplexity"}
    assert {c.metric for c in for_task("sequence-classification")} == {"accuracy"}
    with pytest.raises(PruneScopeError, match="unknown challenge"):
        get_challenge("fastest-ever")


def test_goals_are_checked_on_measured_results(gpt_runs):
    small = get_challenge("lm-bitmask-4x")
    r85, r50 = gpt_runs["magnitude85"], gpt_runs["magnitude50"]
    assert small.unmet(r85) == []
    assert r85.size_dense.dense_fp32 / r85.size_pruned.bitmask >= 4
    assert small.score(r85) == r85.quality
    (why,) = small.unmet(r50)
    assert "needs 4x" in why and "bitmask" in why
    with pytest.raises(PruneScopeError, match="do not meet '4x smaller'"):
        small.score(r50)

    two_four = get_challenge("lm-2of4")
    assert two_four.unmet(gpt_runs["2:4"]) == [] and two_four.unmet(r85) == ["pattern is unstructured; needs 2:4"]

    units = get_challenge("lm-half-units")
    assert units.unmet(gpt_runs["neuron50"]) == []
    assert any("needs at least 50%" in w for w in units.unmet(gpt_runs["neuron30"]))
    assert units.unmet(r85)[0].startswith("pattern is unstructured")


def test_a_classifier_goal_refuses_a_language_model_and_accepts_a_classifier(gpt_runs, bert):
    sparse = get_challenge("clf-sparse-80")
    assert "scored by accuracy, not perplexity" in sparse.unmet(gpt_runs["magnitude85"])[0]
    base = dense_baseline(bert, measure_file=False)
    r80 = run(bert, PruneConfig(method="magnitude", sparsity=0.8), base, FAST, measure_file=False)[0]
    r80_mlp = run(bert, PruneConfig(method="magnitude", sparsity=0.8, scope="mlp"), base, FAST, measure_file=False)[0]
    assert sparse.unmet(r80) == [] and sparse.score(r80) == r80.quality
    assert "scope is mlp" in sparse.unmet(r80_mlp)[0]  # 80 % of the MLP alone is not 80 % of the blocks


def _entries(scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": range(1, len(scores) + 1), "name": list("abcdefgh"[: len(scores)]), "score": scores})


def test_ranking_by_the_metric_direction_ties_to_the_earlier_entry():
    lm = CHALLENGES["lm-2of4"].rank(_entries([30.0, 12.5, 30.0, 99.0]))
    assert list(lm["name"]) == ["b", "a", "c", "d"] and list(lm["rank"]) == [1, 2, 3, 4]
    clf = CHALLENGES["clf-2of4"].rank(_entries([0.7, 0.9, 0.9, 0.5]))
    assert list(clf["name"]) == ["b", "c", "a", "d"]
    assert CHALLENGES["clf-2of4"].rank(_entries([])).empty


def test_names_are_checked():
    assert check_name("  Ada   Lovelace ") == "Ada Lovelace"
    for bad in ("", "   ", "x" * 41, "tab\there"):
        with pytest.raises(PruneScopeError):
            check_name(bad if bad != "tab\there" else "bell\x07")


def test_scoreboard_round_trip_survives_restart_and_clears_one_board(tmp_path, gpt_runs):
    path = tmp_path / "results.sqlite"
    store = Store(path)
    r = gpt_runs["magnitude85"]
    ids = [store.add_entry("lm-bitmask-4x", "tiny-shakespeare-gpt", n, s, "perplexity", f"sparsity={k}", r.summary())
           for n, s, k in (("ada", 30.5, 85), ("bo", 21.0, 80), ("cy", 40.0, 90))]
    store.add_entry("lm-2of4", "tiny-shakespeare-gpt", "ada", 19.0, "perplexity", "pattern=2:4", r.summary())
    store.add_entry("lm-bitmask-4x", "smollm2-135m", "dee", 50.0, "perplexity", "sparsity=80", r.summary())
    store.close()

    again = Store(path)  # a restart
    board = get_challenge("lm-bitmask-4x").rank(again.entries("lm-bitmask-4x", "tiny-shakespeare-gpt"))
    assert list(board["name"]) == ["bo", "ada", "cy"] and list(board["id"]) == [ids[1], ids[0], ids[2]]
    assert list(board["query"]) == ["sparsity=80", "sparsity=85", "sparsity=90"]
    assert len(again.entries()) == 5
    assert again.clear_entries("lm-bitmask-4x", "tiny-shakespeare-gpt") == 3
    assert again.entries("lm-bitmask-4x", "tiny-shakespeare-gpt").empty
    assert len(again.entries("lm-2of4")) == 1 and len(again.entries("lm-bitmask-4x")) == 1  # other boards stay


def _schema_1_store(path) -> None:
    """A store as written before challenges existed, with one run."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, sweep TEXT, model TEXT,
            method TEXT, pattern TEXT, allocation TEXT, scope TEXT, seed INTEGER, sparsity_target REAL,
            sparsity_actual REAL, quality_metric TEXT, quality_dense REAL, quality REAL, latency_ms_dense REAL,
            latency_ms REAL, params_total INTEGER, params_nonzero INTEGER, record TEXT NOT NULL,
            environment TEXT NOT NULL);
        CREATE TABLE prunescope_meta (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO prunescope_meta VALUES ('schema', '1');
        INSERT INTO runs (created, model, method, record, environment)
            VALUES ('2026-01-01T00:00:00', 'tiny-sentiment-bert', 'magnitude', '{"model": "tiny-sentiment-bert"}', '{}');
    """)
    conn.commit()
    conn.close()


def _added_since_1(store: Store) -> dict:
    """Name -> SQL of what schema 1 did not have (the test writes schema 1's own tables its own way)."""
    return dict(store.conn.execute("SELECT name, sql FROM sqlite_master WHERE name NOT IN "
                                   "('sqlite_sequence', 'runs', 'prunescope_meta') AND sql IS NOT NULL"))


def test_an_older_store_is_migrated_and_keeps_its_runs(tmp_path):
    path = tmp_path / "results.sqlite"
    _schema_1_store(path)
    store = Store(path)
    assert store.entries().empty
    assert list(store.runs()["method"]) == ["magnitude"] and store.record(1) == {"model": "tiny-sentiment-bert"}
    store.add_entry("clf-2of4", "tiny-sentiment-bert", "ada", 0.8, "accuracy", "pattern=2:4", {})
    assert store.conn.execute("SELECT value FROM prunescope_meta WHERE key='schema'").fetchone() == ("2",)
    assert len(Store(path).entries("clf-2of4")) == 1
    fresh = Store(tmp_path / "new.sqlite")
    assert _added_since_1(store) == _added_since_1(fresh) and len(_added_since_1(fresh)) == 2  # one schema
    assert fresh.conn.execute("SELECT value FROM prunescope_meta WHERE key='schema'").fetchone() == ("2",)


def test_a_current_store_opens_untouched_and_an_unreadable_version_is_refused(tmp_path):
    path = tmp_path / "results.sqlite"
    Store(path).close()
    before = path.read_bytes()
    Store(path).close()
    assert path.read_bytes() == before
    odd = tmp_path / "odd.sqlite"
    _schema_1_store(odd)
    with sqlite3.connect(odd) as conn:
        conn.execute("UPDATE prunescope_meta SET value = 'one' WHERE key = 'schema'")
    before = odd.read_bytes()
    with pytest.raises(PruneScopeError, match="schema version is missing or unreadable.*left untouched"):
        Store(odd)
    assert odd.read_bytes() == before


def test_who_may_clear_a_scoreboard():
    assert ServerSettings().may_clear_scoreboards("")  # a user's own server
    classroom = ServerSettings(classroom=True)
    assert not classroom.may_clear_scoreboards("") and not classroom.may_clear_scoreboards("anything")
    teacher = ServerSettings(classroom=True, teacher_token="s3cret")
    assert teacher.may_clear_scoreboards("s3cret") and not teacher.may_clear_scoreboards("s3cre")
    assert "s3cret" not in repr(teacher)
    assert ServerSettings.from_env({"PRUNESCOPE_CLASSROOM": "1", "PRUNESCOPE_TEACHER_TOKEN": " tok "}).teacher_token == "tok"


def test_submit_from_explore_and_clear_from_history_with_the_teacher_token(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNESCOPE_DATA", str(tmp_path))
    at = render_page("explore", "tiny-shakespeare-gpt")
    at.slider(key="sparsity").set_value(85)
    at.number_input(key="lat_reps@tiny-shakespeare-gpt").set_value(3).run()
    at.selectbox(key="challenge").set_value("lm-bitmask-4x").run()
    assert any("meet the goal" in s.value for s in at.success)
    at.text_input(key="challenge_name").set_value("ada")
    at.button(key="FormSubmitter:challenge_submit-Submit these settings").click().run()
    assert not at.exception and any("Submitted for ada" in s.value for s in at.success)
    at.button(key="FormSubmitter:challenge_submit-Submit these settings").click().run()
    assert any("already entered these settings" in e.value for e in at.error)  # no double entry
    board = at.dataframe[-1].value
    assert list(board["name"]) == ["ada"] and "sparsity=85" in board["link"][0] and "reps=3" in board["link"][0]
    at.slider(key="sparsity").set_value(50).run()
    assert any("do not meet the goal yet" in i.value for i in at.info)
    assert not any(b.label == "Submit these settings" for b in at.button)

    monkeypatch.setenv("PRUNESCOPE_CLASSROOM", "1")
    monkeypatch.setenv("PRUNESCOPE_TEACHER_TOKEN", "s3cret")
    server_settings.cache_clear()
    try:
        hist = render_page("history", "tiny-shakespeare-gpt")
        assert list(hist.dataframe[0].value["name"]) == ["ada"]
        hist.checkbox(key="board_confirm").check()
        hist.text_input(key="board_token").set_value("guess").run()
        hist.button(key="board_clear").click().run()
        assert any("Wrong teacher token" in e.value for e in hist.error)
        assert len(Store(tmp_path / "results.sqlite").entries()) == 1
        hist.text_input(key="board_token").set_value("s3cret").run()
        hist.button(key="board_clear").click().run()
        assert any("Cleared 1 entries" in s.value for s in hist.success)
        assert Store(tmp_path / "results.sqlite").entries().empty
    finally:
        server_settings.cache_clear()
