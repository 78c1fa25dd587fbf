"""Fifteen Transformer families, as a researcher would try them: tiny random checkpoints built with
transformers' own classes (tests/families.py), loaded through the real loader, pruned per weight by every
score and calibration method, and (where supported) structurally.
"""
from __future__ import annotations

import pytest
import torch

from conftest import fingerprint
from families import BY_NAME, FAMILIES, build
from prune_core import structural as S
from prune_core.blocks import capture, find_blocks
from prune_core.calibration import (Calibration, _collect, _Replay, _WholeModel, calibration_inputs,
                                    sequential_prune)
from prune_core.config import PruneConfig
from prune_core.errors import PruneScopeError
from prune_core.masks import is_nm
from prune_core.run import prune_model
from prune_core.targets import find_targets
from prune_core.zoo import load_model

NAMES = [f.name for f in FAMILIES]
CALIB = {"calib_samples": 4, "calib_seq_len": 16}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {f.name: build(f, root / f.name) for f in FAMILIES}


@pytest.fixture(scope="module")
def loaded(folders):
    return {name: load_model(str(path)) for name, path in folders.items()}


def _ids(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, min(model.config.vocab_size, 90), (2, 12), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@pytest.mark.parametrize("name", NAMES)
def test_loads_with_its_task_and_roles(loaded, name):
    model = loaded[name]
    assert model.task == BY_NAME[name].task and model.card.params == sum(p.numel() for p in model.model.parameters())
    targets = find_targets(model.model, "all")
    assert {t.role for t in targets} == {"attention q/k/v", "attention output", "MLP up/gate", "MLP down"}
    assert {t.block for t in targets} == {0, 1}
    assert not any(t.kind == "head" for t in targets)  # the head (tied or not) only with include_head


@pytest.mark.parametrize("method", ["magnitude", "random", "wanda", "sparsegpt"])
@pytest.mark.parametrize("pattern", ["unstructured", "2:4"])
@pytest.mark.parametrize("name", NAMES)
def test_every_weight_method_prunes_exactly(loaded, name, method, pattern):
    model = loaded[name]
    before = fingerprint(model.model)
    masks, pruned = prune_model(model, PruneConfig(method=method, pattern=pattern, sparsity=0.5, **CALIB))
    params = dict(pruned.named_parameters())
    assert {t.name for t in masks.targets} == {t.name for t in find_targets(model.model, "all")}
    for t in masks.targets:
        keep = masks.masks[t.name]
        assert int((~keep).sum()) == t.numel // 2, t.name
        assert int((params[t.name][~keep] != 0).sum()) == 0, t.name
        if pattern == "2:4":
            assert is_nm(keep, t, 2, 4), t.name
    with torch.inference_mode():
        logits = pruned(**_ids(model.model)).logits
    assert bool(torch.isfinite(logits).all())
    assert fingerprint(model.model) == before


@pytest.mark.parametrize("name", ["gemma2", "modernbert", "falcon", "distilbert"])
def test_block_replay_gives_the_statistics_of_whole_forwards(loaded, name):
    """Pruning block 0 then collecting block 1: running blocks alone on recorded calls (each block with its
    own masks and rotary embeddings) gives the statistics of whole-model forwards of a pruned copy."""
    model = loaded[name].model
    samples = calibration_inputs(loaded[name], 3, 24, seed=1)
    blocks = find_blocks(model)[1]
    captured = capture(model, blocks, samples)
    assert captured.replayable and captured.share == ([0, 1] if name in ("gemma2", "modernbert") else [0, 0])
    with_window = [0, 1] if name == "gemma2" else captured.share  # even where the window covers the text
    assert capture(model, blocks, calibration_inputs(loaded[name], 1, 6, seed=1)).share == with_window
    targets = find_targets(model, "all")
    first = [t for t in targets if t.block == 0]
    params = dict(model.named_parameters())
    masks = {t.name: params[t.name].abs() > params[t.name].abs().median() for t in first}
    stats = []
    with torch.inference_mode():
        for runner in (_Replay(model, blocks, captured), _WholeModel(model, samples)):
            runner.pruned(0, first, masks, {})
            runner.advance(0)
            stats.append(_collect(runner, 1, [t for t in targets if t.block == 1], full_gram=True))
    for name_ in stats[0]:
        torch.testing.assert_close(stats[0][name_].gram, stats[1][name_].gram, rtol=1e-5, atol=1e-6)
        assert stats[0][name_].tokens == stats[1][name_].tokens


class _Scaled(torch.nn.Module):
    """A model that rescales the hidden states between its blocks: its blocks cannot run one by one."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(50, 16)
        self.layers = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(),
                                                              torch.nn.Linear(32, 16)) for _ in range(3))

    def forward(self, input_ids):
        h = self.embed(input_ids)
        for i, layer in enumerate(self.layers):
            h = layer(h) * (i + 2)
        return h


def test_blocks_that_cannot_run_alone_get_whole_model_forwards():
    model = _Scaled().eval().requires_grad_(False)
    samples = [{"input_ids": torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(s))}
               for s in range(2)]
    assert not capture(model, model.layers, samples).replayable
    calibration = Calibration(samples)
    seen = {}

    def record(block_targets, stats):
        seen.update(stats)
        return {}, {}

    targets = find_targets(model, "all")
    sequential_prune(model, targets, calibration, record, full_gram=False)
    assert "whole model once per block" in calibration.notes[0]
    inputs = []
    hook = model.layers[2][0].register_forward_hook(lambda m, a, o: inputs.append(a[0]))
    with torch.inference_mode():
        for s in samples:
            model(**s)
    hook.remove()
    expected = sum((x.reshape(-1, 16).double() ** 2).sum(0) for x in inputs)
    torch.testing.assert_close(seen["layers.2.0.weight"].sq_norm, expected)


@pytest.mark.parametrize("name", [f.name for f in FAMILIES if f.structural])
def test_structural_removal_shrinks_and_reloads(loaded, name, tmp_path):
    model = loaded[name]
    before = fingerprint(model.model)
    heads, neurons = S.plan_units(model.model, "head", 0.5), S.plan_units(model.model, "neuron", 0.5)
    small = S.shrink(S.shrink(model.model, heads), neurons)
    assert sum(p.numel() for p in small.parameters()) < model.card.params
    x = _ids(model.model)
    masked = S.mask_units(S.mask_units(model.model, heads), neurons)
    with torch.inference_mode():
        torch.testing.assert_close(small(**x).logits, masked(**x).logits, rtol=1e-4, atol=1e-5)
    S.save_structured(small, model.tokenizer, [heads, neurons], tmp_path / "small")
    again = S.load_structured(tmp_path / "small")
    with torch.inference_mode():
        torch.testing.assert_close(again(**x).logits, small(**x).logits, rtol=1e-4, atol=1e-5)
    assert fingerprint(model.model) == before


@pytest.mark.parametrize("name", [f.name for f in FAMILIES if not f.structural])
def test_structural_removal_is_refused_naming_the_supported_families(loaded, name):
    """Before any work: 1000 calibration samples would take minutes to draw."""
    for method in ("magnitude", "activation"):
        with pytest.raises(PruneScopeError, match="does not know .*GPT-2.*BERT.*DistilBERT.*Llama.*OPT"):
            prune_model(loaded[name], PruneConfig(method=method, pattern="neuron", sparsity=0.5,
                                                  calib_samples=1000, calib_seq_len=16))
