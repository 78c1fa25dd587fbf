"""Corrupt and foreign reproducibility cards: `paper --replay` refuses each with one line naming the
problem (exit 2), before any model loads, and writes no new card."""
from __future__ import annotations

import copy
import json

import pytest

from prune_core import paper
from prune_core.cli import main


def good_card() -> dict:
    card = paper.reproducibility_card(paper.PaperSettings(), [])
    card["verdicts"] = {"b": {"verdict": "held", "because": "...", "partial": False}}
    return json.loads(json.dumps(card))


def with_setting(**changes) -> dict:
    card = good_card()
    card["settings"].update(changes)
    return card


def without_setting(name: str) -> dict:
    card = good_card()
    del card["settings"][name]
    return card


CARDS = [
    ("not JSON", "{ this is not json", r"cannot read the card .*: Expecting property name"),
    ("a JSON list", [1, 2, 3], r"not a PruneScope reproducibility card"),
    ("another program's JSON", {"name": "my-model", "accuracy": 0.9}, r"not a PruneScope reproducibility card"),
    ("wrong card version", {**good_card(), "prunescope_card": 2}, r"not a PruneScope reproducibility card"),
    ("settings is a list", {**good_card(), "settings": ["tiny-sentiment-bert"]},
     r"the card's 'settings' must be an object, got list"),
    ("sparsities: half", with_setting(sparsities=["half"]),
     r"the card's setting 'sparsities' must be a list of numbers, got \[\"half\"\]"),
    ("sparsities: a string", with_setting(sparsities="0.5"), r"setting 'sparsities' must be a list of numbers"),
    ("sparsities out of range", with_setting(sparsities=[0.5, 1.5]), r"sparsities must lie in \(0, 1\)"),
    ("methods: a string", with_setting(methods="magnitude"), r"setting 'methods' must be a list of method names"),
    ("unknown method", with_setting(methods=["magnitude", "vibes"]), r"unknown method 'vibes'"),
    ("seeds: fractions", with_setting(c_seeds=[0.5]), r"setting 'c_seeds' must be a list of whole numbers"),
    ("a thousand seeds", with_setting(c_seeds=list(range(1000))), r"claim \(c\) takes at most 20 seeds"),
    ("steps: true", with_setting(c_steps=True), r"setting 'c_steps' must be a whole number or null"),
    ("steps: -5", with_setting(c_steps=-5), r"whole number of fine-tuning steps from 1 to 100000"),
    ("tolerance: text", with_setting(tolerance="1%"), r"setting 'tolerance' must be a number or null"),
    ("model: a number", with_setting(model=7), r"setting 'model' must be a model name \(text\)"),
    ("huge grid", with_setting(sparsities=[i / 1000 for i in range(1, 999)]),
     r"claims \(a\) and \(b\) need 4,990 runs; the limit is 200"),
    ("unknown setting", with_setting(colour="red"), r"unknown settings in the card: colour"),
    ("missing setting", without_setting("c_seeds"), r"the card's settings lack: c_seeds"),
    ("unknown claim", {**good_card(), "verdicts": {"z": {"verdict": "held"}}},
     r"the card has verdicts for unknown claims: z; the claims are a, b, c"),
    ("verdicts a list", {**good_card(), "verdicts": ["a"]}, r"the card's 'verdicts' must map each claim"),
]


@pytest.mark.parametrize("content, match", [(c, m) for _, c, m in CARDS], ids=[n for n, _, _ in CARDS])
def test_bad_card_is_one_line_and_writes_nothing(capsys, tmp_path, content, match):
    card = tmp_path / "card.json"
    card.write_text(content if isinstance(content, str) else json.dumps(content))
    before = card.read_bytes()
    rc = main(["paper", "--replay", str(card), "--card-out", str(tmp_path / "new.json")])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and out == "" and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert __import__("re").search(match, lines[0]), lines[0]
    assert card.read_bytes() == before and not (tmp_path / "new.json").exists()


def test_a_good_card_reads_back_with_its_claims():
    settings, claims = paper.read_card(copy.deepcopy(good_card()))
    assert settings == paper.PaperSettings() and claims == "b"


# ---- a model folder's own card.json: it sets the shown name and the evaluation size -----------------
def _eval(**changes) -> dict:
    return {"name": "mine", "eval": {"seq_len": 128, "max_tokens": 1024} | changes}


LOCAL_CARDS = [
    ("not JSON", "{ this is not json", r"card\.json in .* is not valid JSON"),
    ("a JSON list", [1, 2, 3], r"is not a model card: a JSON object is expected, got list"),
    ("nested 30 000 deep", "[" * 30_000 + "]" * 30_000, r"is nested too deeply to read"),  # 60 kB
    ("a megabyte", {"notes": "x" * 1_000_000}, r"is 1,000,\d+ bytes; at most 65,536 are read"),
    ("name: a number", {"name": 5}, r"'name' must be text, got int"),
    ("name: 10 000 characters", {"name": "x" * 10_000}, r"'name' is 10,000 characters long; at most 200"),
    ("name: two lines", {"name": "a\nb"}, r"'name' must be one line of text"),
    ("source: control characters", {"source": "a\x1b[2Jb"}, r"'source' holds control characters"),
    ("quality_dense: text", {"quality_dense": "great"}, r"'quality_dense' must be a number or null, got str"),
    ("unknown field", {"name": "m", "colour": "red"}, r"not a PruneScope model card: unknown fields colour"),
    ("eval: a string", {"eval": "big"}, r"'eval' must be an object, got str"),
    ("eval: a trillion-token window", _eval(seq_len=10**12),
     r"'seq_len' must be a whole number from 2 to 256 \(this model has 256 positions\), got 1000000000000"),
    ("eval: a billion tokens", _eval(max_tokens=10**9), r"'max_tokens' must be a whole number from 2 to 65,536"),
    ("eval: true", _eval(max_tokens=True), r"'max_tokens' must be a whole number .* got True"),
    ("eval: classifier settings", _eval(n_examples=5), r"unknown evaluation settings for a causal-lm model: n_examples"),
    ("eval: another split", _eval(split="train"), r"evaluation setting 'split' must be one of: valid"),
]


@pytest.mark.parametrize("content, match", [(c, m) for _, c, m in LOCAL_CARDS], ids=[n for n, _, _ in LOCAL_CARDS])
def test_a_folders_bad_card_is_one_message(tmp_path, content, match):
    from hostile import model_copy
    from prune_core.errors import PruneScopeError
    from prune_core.zoo import load_model

    path = model_copy(tmp_path)
    (path / "card.json").write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(PruneScopeError, match=match):
        load_model(str(path))


def test_a_folders_bad_card_in_the_cli_and_the_page(tmp_path):
    from hostile import assert_refused, cli, model_copy, page_error

    for i, (name, content, match) in enumerate(LOCAL_CARDS[:3] + LOCAL_CARDS[-5:-3]):
        path = model_copy(tmp_path, folder=f"m{i}")
        (path / "card.json").write_text(content if isinstance(content, str) else json.dumps(content))
        line = assert_refused(cli("prune", "--model", str(path), "--sparsity", "0.5", cwd=tmp_path))
        assert __import__("re").search(match, line), (name, line)
        assert __import__("re").search(match, page_error(str(path))), name


def test_a_folders_good_card_names_it_and_fills_its_evaluation(tmp_path):
    from hostile import model_copy
    from prune_core.zoo import load_model

    path = model_copy(tmp_path)
    (path / "card.json").write_text(json.dumps({"name": "my tiny GPT", "eval": {"seq_len": 64}, "quality_dense": 1.0}))
    card = load_model(str(path)).card
    assert card.name == "my tiny GPT" and card.eval == {"seq_len": 64, "max_tokens": 2048}
    assert card.quality_dense is None  # measured, never taken from a card
