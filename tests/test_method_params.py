"""A method's own parameters (prune_core/methods/params.py): declared on the method, carried by PruneConfig
(hashable, JSON under their own names), validated against the declaration, read by the method; records
from before the parameters moved (a flat `damping` in every config) load to the same config."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from prune_core.config import PruneConfig, _method_params
from prune_core.errors import PruneScopeError
from prune_core.methods import MethodInfo, available, every, param, specs
from prune_core.methods.base import ScoreMethod
from prune_core.methods.catalogue import add
from prune_core.recipe import RECIPE_VERSION, read_recipe
from prune_core.run import LatencySpec, prune_model, run
from prune_core.store import Store

CALIB = {"calib_samples": 4, "calib_seq_len": 16}


def test_sparsegpt_damping_reaches_the_method(gpt):
    """More damping pulls SparseGPT towards magnitude: other masks and other updated weights."""
    low, _ = prune_model(gpt, PruneConfig(method="sparsegpt", sparsity=0.5, **CALIB))
    high, _ = prune_model(gpt, PruneConfig(method="sparsegpt", sparsity=0.5, method_params={"damping": 5.0}, **CALIB))
    assert low.new_weights.keys() == high.new_weights.keys() and low.new_weights
    assert any(not torch.equal(low.new_weights[n], high.new_weights[n]) for n in low.new_weights)
    assert any(not torch.equal(low.masks[n], high.masks[n]) for n in low.masks)
    again, _ = prune_model(gpt, PruneConfig(method="sparsegpt", sparsity=0.5, method_params={"damping": 0.01}, **CALIB))
    assert all(torch.equal(low.new_weights[n], again.new_weights[n]) for n in low.new_weights)  # 0.01 is the default


def test_validation_fills_defaults_and_stays_hashable():
    plain = PruneConfig(method="sparsegpt").validated()
    given = PruneConfig(method="sparsegpt", method_params={"damping": 0.01}).validated()
    assert plain == given and hash(plain) == hash(given) and dict(plain.method_params) == {"damping": 0.01}
    as_int = PruneConfig(method="sparsegpt", method_params={"damping": 1}).validated()
    assert as_int.method_params["damping"] == 1.0 and isinstance(as_int.method_params["damping"], float)
    assert hash(PruneConfig(method="sparsegpt", method_params={"damping": 0.5}))  # hashable before validation too
    assert dict(PruneConfig(method="magnitude").validated().method_params) == {}


@pytest.mark.parametrize("method, params, match", [
    ("magnitude", {"damping": 0.1}, r"method 'magnitude' takes no parameter 'damping' \(it has no parameters"),
    ("sparsegpt", {"dampnig": 0.1}, r"method 'sparsegpt' takes no parameter 'dampnig' \(its parameters: damping\)"),
    ("sparsegpt", {"damping": 0}, r"sparsegpt's damping must be a number from 0.0001 to 10, got 0"),
    ("sparsegpt", {"damping": float("inf")}, r"got inf"),
    ("sparsegpt", {"damping": "0.1"}, r"got '0.1'"),
    ("sparsegpt", {"damping": True}, r"got True"),
])
def test_bad_parameters_are_refused_clearly(method, params, match):
    with pytest.raises(PruneScopeError, match=match):
        PruneConfig(method=method, sparsity=0.5, method_params=params).validated()


def test_every_method_round_trips_through_json():
    for method in available("unstructured"):
        config = PruneConfig(method=method, sparsity=0.5, allocation="layer").validated()
        raw = json.loads(json.dumps(config.to_dict()))
        assert "method_params" not in raw and all(raw[k] == v for k, v in config.method_params.items())
        assert PruneConfig.from_dict(raw).validated() == config, method


def test_older_recipes_with_a_flat_damping_load_to_the_same_config():
    """Every config used to carry `damping`; a method that does not declare it drops it, SparseGPT keeps it."""
    old = {"method": "magnitude", "sparsity": 0.5, "pattern": "unstructured", "allocation": "layer", "scope": "all",
           "include_head": False, "seed": 0, "calib_samples": 32, "calib_seq_len": 128, "damping": 0.01,
           "owl_m": 5.0, "owl_lambda": 0.08}
    recipe = {"prunescope_recipe": RECIPE_VERSION, "model": "tiny-shakespeare-gpt", "prune": old, "finetune": None}
    assert read_recipe(recipe)[1] == PruneConfig(method="magnitude", sparsity=0.5).validated()
    sparsegpt = read_recipe({**recipe, "prune": {**old, "method": "sparsegpt", "damping": 0.05}})[1]
    assert sparsegpt == PruneConfig(method="sparsegpt", sparsity=0.5, method_params={"damping": 0.05}).validated()
    with pytest.raises(PruneScopeError, match="method 'magnitude' takes no parameter 'warp'"):
        read_recipe({**recipe, "prune": {**old, "warp": 9}})


def test_stored_runs_keep_the_parameter_under_its_own_name(gpt, tmp_path):
    """A SparseGPT run's record says `damping` as records always did, so old and new runs share a column."""
    fast = LatencySpec(seq_len=16, reps=3, warmup=1)
    result, _ = run(gpt, PruneConfig(method="sparsegpt", sparsity=0.5, method_params={"damping": 0.05}, **CALIB),
                    latency=fast, measure_file=False, evaluation="quick")
    assert result.method_params == {"damping": 0.05} and result.summary()["damping"] == 0.05
    store = Store(tmp_path / "results.sqlite")
    old_id = store.add({"model": gpt.key, "method": "magnitude", "quality": 3.0, "damping": None}, env={})
    new_id = store.add(result.summary(), env={})
    assert store.record(old_id)["damping"] is None and store.record(new_id)["damping"] == 0.05


def test_declarations_are_checked_when_a_method_is_filed():
    @dataclass
    class NotFrozen:
        x: int = param(1, label="x", help="")

    @dataclass(frozen=True)
    class Text:
        name: str = "a"

    @dataclass(frozen=True)
    class OutOfRange:
        x: float = param(2.0, label="x", help="", min=0.0, max=1.0)

    for bad, match in ((NotFrozen, "frozen dataclass"), (Text, "must be an int or a float"),
                       (OutOfRange, r"must be a number from 0 to 1, got 2.0")):
        with pytest.raises(PruneScopeError, match=match):
            specs(bad)

    class Impostor(ScoreMethod):
        info = MethodInfo("magnitude", "a second magnitude")

        def score(self, weight, target, config, index, calibration=None):
            return weight

    before = list(every())
    with pytest.raises(PruneScopeError, match="two methods are called 'magnitude'"):
        add(Impostor())
    assert every() == before


def test_a_parameter_may_not_shadow_a_config_field():
    @dataclass(frozen=True)
    class Shadowing:
        seed: int = param(0, label="seed", help="")

    class Shadow(ScoreMethod):
        info = MethodInfo("shadow", "declares seed")
        params = Shadowing

        def score(self, weight, target, config, index, calibration=None):
            return weight

    with pytest.raises(PruneScopeError, match="declares the parameter\\(s\\) seed, which are PruneConfig settings"):
        _method_params(Shadow(), {})
