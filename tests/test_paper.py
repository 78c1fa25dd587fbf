"""The Paper page's library: claims (a) and (b) on real runs, verdict rules, cards, CLI; teaching."""
import json
import subprocess
import sys

import pytest

from prune_core import paper
from prune_core.errors import PruneScopeError
from prune_core.teaching import GLOSSARY, score_guess

SMALL = paper.PaperSettings(methods=("random", "magnitude"), sparsities=(0.3, 0.9))


@pytest.fixture(scope="module")
def grid(bert):
    return paper.run_grid(bert, SMALL)


def test_grid_has_every_method_and_the_neuron_variant(grid):
    assert sorted(grid["series"].unique()) == ["magnitude", "magnitude (neurons removed)", "random"]
    assert len(grid) == 6 and not grid.attrs["partial"]
    assert grid["share_removed"].between(0, 1).all()
    masked = grid[grid["pattern"] == "unstructured"]
    assert masked["share_removed"].round(2).tolist() == masked["sparsity_actual"].round(2).tolist()  # scope all
    neurons = grid[grid["pattern"] == "neuron"]
    assert (neurons["share_removed"] < neurons["sparsity_actual"]).all()  # neurons are only the MLP's share


def test_claim_a_measures_quality_size_and_compute(grid):
    result = paper.claim_a(grid)
    table = result.table.set_index("series")
    assert (table.loc[["random", "magnitude"], "dense_fp32_size_ratio"] == 1.0).all()  # masks: same dense size
    assert (table.loc[["random", "magnitude"], "bitmask_size_ratio"] < 0.9).all()
    assert table.loc["magnitude (neurons removed)", "dense_fp32_size_ratio"] < 0.9
    assert table.loc["random", "quality"] < table.loc["random", "quality_dense"] - 0.05  # 90 % random hurts
    assert result.verdict in (paper.HELD, paper.INCONCLUSIVE)  # latency can be noisy; never "did not hold"
    assert "dense kernels multiply the zeros" in result.because


def test_claim_b_follows_its_rule(grid):
    result = paper.claim_b(grid, tolerance=0.01, substantial=0.5)
    table = result.table.set_index("series")
    assert table.loc["magnitude", "max_sparsity"] >= table.loc["random", "max_sparsity"]
    best = table["share_removed"].max()
    assert result.verdict == (paper.HELD if best >= 0.5 else paper.INCONCLUSIVE if best > 0 else paper.NOT_HELD)
    strict = paper.claim_b(grid, tolerance=0.01, substantial=0.99)  # nobody removes 99 % within 1 point
    assert strict.verdict != paper.HELD


def test_card_round_trip_and_bad_cards(grid):
    card = paper.reproducibility_card(SMALL, [paper.claim_b(grid)])
    assert card["environment"]["torch"] and card["verdicts"]["b"]["verdict"]
    assert paper.settings_from_card(json.loads(json.dumps(card))) == SMALL
    with pytest.raises(PruneScopeError, match="not a PruneScope reproducibility card"):
        paper.settings_from_card({"hello": 1})
    with pytest.raises(PruneScopeError, match="unknown settings"):
        paper.settings_from_card({"prunescope_card": 1, "settings": {"colour": "red"}})


@pytest.mark.parametrize("bad, match", [({"methods": ("nope",)}, "unknown method"),
                                        ({"sparsities": (1.5,)}, "sparsities"),
                                        ({"tolerance": -1.0}, "tolerance"), ({"c_seeds": ()}, "seed")])
def test_bad_settings_say_what_is_wrong(bad, match):
    with pytest.raises(PruneScopeError, match=match):
        paper.PaperSettings(**bad).validated()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "prune_core", *args], capture_output=True, text=True, timeout=600,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_cli_runs_a_claim_writes_a_card_and_replays_it(tmp_path):
    card = tmp_path / "card.json"
    out = _cli("paper", "--model", "tiny-sentiment-bert", "--claims", "b", "--methods", "magnitude",
               "--sparsity", "0.2,0.4", "--card-out", str(card), "--json")
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["verdicts"]["b"]["verdict"] in (paper.HELD, paper.NOT_HELD, paper.INCONCLUSIVE)
    replay = _cli("paper", "--replay", str(card))
    assert replay.returncode == 0, replay.stderr
    assert f"card said {first['verdicts']['b']['verdict']}, now" in replay.stdout


@pytest.mark.parametrize("args", [["paper", "--claims", "xz"], ["paper", "--replay", "/nonexistent.json"],
                                  ["paper", "--methods", "nope"], ["paper", "--steps", "0"]])
def test_cli_bad_input_is_one_line(args):
    out = _cli(*args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_guess_scoring():
    assert score_guess(0.90, 0.90, 0.925).verdict.startswith("Close")
    assert "worse than you expected" in score_guess(0.92, 0.80, 0.925).verdict
    assert "better than you expected" in score_guess(0.70, 0.85, 0.925).verdict
    assert "other way" in score_guess(0.95, 0.85, 0.925).verdict
    assert {"sparsity", "N:M", "structured", "calibration", "perplexity"} <= set(GLOSSARY)


def test_claim_c_runs_seeds_with_a_dense_control(bert):
    settings = paper.PaperSettings(c_seeds=(0, 1), c_steps=8, c_sparsity=0.8)
    frame = paper.run_recovery(bert, settings)
    assert set(frame["variant"]) == {"dense", "pruned 80% (magnitude)", "pruned + fine-tuned",
                                     "dense + fine-tuned (control)"}
    tuned = frame[frame["variant"] == "pruned + fine-tuned"]
    assert len(tuned) == 2 and (tuned["sparsity"].round(3) == 0.8).all() and tuned["gap"].notna().all()
    result = paper.claim_c(frame)
    gains = [q - frame["quality"].iloc[0] for q in tuned["quality"]]
    expected = paper.HELD if all(g > 0 for g in gains) else paper.NOT_HELD if all(g < 0 for g in gains) \
        else paper.INCONCLUSIVE
    assert result.verdict == expected and "dense + fine-tuned" in result.because


def test_claim_c_stopped_is_partial(bert):
    frame = paper.run_recovery(bert, paper.PaperSettings(c_seeds=(0, 1), c_steps=4), should_stop=lambda: True)
    assert frame.attrs["partial"] and paper.claim_c(frame).verdict == paper.INCONCLUSIVE
