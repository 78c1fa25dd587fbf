"""Loading: embedded models, local folders, and every kind of bad input -> clear message."""
import json
import shutil

import pytest

from prune_core.errors import PruneScopeError
from prune_core.zoo import EMBEDDED, embedded_cards, load_model


def test_cards_record_what_a_user_needs():
    cards = embedded_cards()
    assert [c["name"] for c in cards] == list(EMBEDDED)
    for c in cards:
        for key in ("task", "params", "source", "licence", "how_made", "quality_metric", "quality_dense", "eval"):
            assert c[key] not in (None, ""), (c["name"], key)


@pytest.mark.parametrize("name,match", [
    ("no-such-model", "unknown model 'no-such-model'; embedded models: tiny-shakespeare-gpt"),
    ("someone/some-model", "offline.*embedded models"),
    ("", "unknown model"),
])
def test_bad_names(name, match):
    with pytest.raises(PruneScopeError, match=match):
        load_model(name)


def test_folder_without_config(tmp_path):
    with pytest.raises(PruneScopeError, match="no config.json"):
        load_model(str(tmp_path))


@pytest.fixture
def gpt_copy(tmp_path):
    from prune_core.zoo import MODELS_DIR

    dst = tmp_path / "copy"
    shutil.copytree(MODELS_DIR / "tiny-shakespeare-gpt", dst)
    return dst


def test_local_folder_loads(gpt_copy):
    loaded = load_model(str(gpt_copy))
    assert loaded.task == "causal-lm" and loaded.card.params > 1_000_000


def test_corrupt_safetensors(gpt_copy):
    f = gpt_copy / "model.safetensors"
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(PruneScopeError, match="not a readable safetensors file"):
        load_model(str(gpt_copy))


def test_pickle_only_folder_is_refused(gpt_copy):
    (gpt_copy / "model.safetensors").rename(gpt_copy / "pytorch_model.bin")
    with pytest.raises(PruneScopeError, match="no .safetensors"):
        load_model(str(gpt_copy))


def test_non_transformer_architecture(gpt_copy):
    cfg = json.loads((gpt_copy / "config.json").read_text())
    cfg["architectures"] = ["GPT2Model"]  # a bare encoder: nothing to score
    (gpt_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PruneScopeError, match="not supported"):
        load_model(str(gpt_copy))


def test_minilm_is_real_and_accurate():
    loaded = load_model("minilm-l6")
    assert 22_000_000 < loaded.card.params < 23_500_000
    assert loaded.card.quality_dense > 0.7


def test_smollm2_loads_from_its_wheel():
    loaded = load_model("smollm2-135m")
    assert loaded.card.params == 134_515_008
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
