"""Checkpoints that parse but hold impossible numbers: integer or huge weights, a config nested 200 000
deep, a tokenizer with more tokens than the model has embeddings, an evaluation window past the model's
positions. Each ended in a traceback (OverflowError, RecursionError, IndexError); each is now one clear
message through the library, the CLI (exit 2) and the page (st.error), or, where the defaults can fit the
model, it simply works.
"""
from __future__ import annotations

import json
import re

import pytest
import torch

from conftest import render_page
from hostile import assert_refused, cli, edit_weights, model_copy, set_config
from prune_core.errors import PruneScopeError
from prune_core.run import quality_estimate
from prune_core.zoo import load_model


def _integer_weights(path):
    edit_weights(path, lambda w: w.update({k: (v * 100).to(torch.int32) for k, v in w.items()}))


def _scaled(factor: float):
    return lambda path: edit_weights(path, lambda w: w.update({k: v * factor for k, v in w.items()}))


def _deep_config(path):
    (path / "config.json").write_text('{"a":' * 200_000 + "1" + "}" * 200_000)


def _small_vocabulary(path):
    config = json.loads((path / "config.json").read_text())
    set_config(path, config | {"vocab_size": 40})
    edit_weights(path, lambda w: w.update({"transformer.wte.weight": w["transformer.wte.weight"][:40]}))


# (name, how the folder is spoiled, what the message says): loading or the dense evaluation refuses it
REFUSED = [
    ("int32 weights", _integer_weights, r"hold 52 parameters as whole numbers.*transformer\.wte\.weight \(I32\)"),
    ("huge weights (NaN loss)", _scaled(1e30), r"next-token loss on the held-out text is NaN.*overflows fp32"),
    ("huge weights (overflowing perplexity)", _scaled(100), r"mean next-token loss .* nats, so its perplexity exceeds"),
    ("config nested 200 000 deep", _deep_config, r"config\.json in .* is nested too deeply to read"),
    ("tokenizer larger than the model", _small_vocabulary,
     r"tokenizer of .* has 83 tokens, but the model's embedding table has only 40 rows"),
]


def _measure(path) -> None:
    loaded = load_model(str(path))
    quality_estimate(loaded, loaded.model, "quick")


@pytest.mark.parametrize("spoil, match", [(s, m) for _, s, m in REFUSED], ids=[n for n, _, _ in REFUSED])
def test_impossible_numbers_are_one_message(tmp_path, spoil, match):
    path = model_copy(tmp_path)
    (path / "card.json").unlink()
    spoil(path)
    with pytest.raises(PruneScopeError, match=match):
        _measure(path)


def page_message(folder: str) -> str:
    """The page's one error for a folder (at loading, or at the dense model's evaluation), never a traceback."""
    at = render_page("explore", "other: local folder or hub id…")
    at.text_input(key="model_other").set_value(folder).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1, [e.value for e in at.error]
    return at.error[0].value


def test_impossible_numbers_in_the_cli_and_the_page(tmp_path):
    for i, (name, spoil, match) in enumerate(REFUSED):
        path = model_copy(tmp_path, folder=f"m{i}")
        spoil(path)
        proc = cli("prune", "--model", str(path), "--sparsity", "0.5", "--no-file-size", "--reps", "2", cwd=tmp_path)
        line = assert_refused(proc)
        assert re.search(match, line), (name, line)
        assert re.search(match, page_message(str(path))), name


def test_classifier_with_huge_weights_has_no_accuracy(tmp_path):
    path = model_copy(tmp_path, "tiny-sentiment-bert")
    _scaled(1e30)(path)
    with pytest.raises(PruneScopeError, match="class scores on the held-out examples are NaN.*no accuracy exists"):
        _measure(path)


@pytest.mark.parametrize("name, field, key", [("tiny-shakespeare-gpt", "n_positions", "transformer.wpe.weight"),
                                              ("tiny-sentiment-bert", "max_position_embeddings",
                                               "bert.embeddings.position_embeddings.weight")])
def test_a_model_shorter_than_the_evaluation_window(tmp_path, name, field, key):
    """Without a card, the evaluation and timing windows fit the model; a card asking for more is refused."""
    path = model_copy(tmp_path, name)
    config = json.loads((path / "config.json").read_text())
    set_config(path, config | {field: 32})
    edit_weights(path, lambda w: w.update({key: w[key][:32]}))
    card = json.loads((path / "card.json").read_text())
    window = "seq_len" if "gpt" in name else "max_length"
    with pytest.raises(PruneScopeError, match=rf"evaluation setting '{window}' must be a whole number from 2 to 32 "
                                              r"\(this model has 32 positions\), got"):
        load_model(str(path))
    assert_refused(cli("prune", "--model", str(path), "--sparsity", "0.5", cwd=tmp_path), "32 positions")
    (path / "card.json").unlink()
    loaded = load_model(str(path))
    assert loaded.card.eval[window] == 32 and card["eval"][window] > 32
    assert quality_estimate(loaded, loaded.model, "quick").value > 0
    proc = cli("prune", "--model", str(path), "--sparsity", "0.5", "--no-file-size", "--reps", "2", cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
