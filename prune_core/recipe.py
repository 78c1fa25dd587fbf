"""Recipes: the JSON that remakes a pruned model (`python -m prune_core prune --recipe FILE`) or a
fine-tuned pruned model (`python -m prune_core finetune --recipe FILE`).

A recipe holds the PruneConfig, the FinetuneConfig (null for a prune-only recipe), the model name and
the environment it was made in (package versions, CPU/GPU); `read_recipe` validates it as strictly as
the CLI validates its flags. `export_pruned` and `export_finetuned` write the model like any other
export, plus its recipe and a card, so the exported folder reloads with the same evaluation settings
as the model it came from.
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from torch import nn

from .config import PruneConfig
from .errors import PruneScopeError
from .export import export_model
from .finetune import FinetuneConfig, FinetuneResult
from .run import PruneResult
from .store import environment
from .structural import StructuralPlan, save_structured
from .zoo import LoadedModel

RECIPE_VERSION = 1


def recipe(model_name: str, config: PruneConfig, ft: FinetuneConfig | None,
           result: FinetuneResult | PruneResult | None = None) -> dict:
    """Everything needed to make the same model again; without `ft`, a prune-only recipe."""
    command = "finetune" if ft is not None else "prune"
    return {"prunescope_recipe": RECIPE_VERSION, "replay": f"python -m prune_core {command} --recipe recipe.json",
            "model": model_name, "prune": config.to_dict(), "finetune": ft.to_dict() if ft is not None else None,
            "environment": environment(), "result": result.summary() if result is not None else None}


def read_recipe(source: str | Path | dict) -> tuple[str, PruneConfig, FinetuneConfig | None, dict]:
    """(model name, PruneConfig, FinetuneConfig or None for a prune-only recipe, the recipe's environment)."""
    if isinstance(source, dict):
        raw = source
    else:
        try:
            raw = json.loads(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PruneScopeError(f"cannot read recipe '{source}': {exc.strerror or exc}") from None
        except ValueError as exc:
            raise PruneScopeError(f"recipe '{source}' is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("prunescope_recipe") != RECIPE_VERSION:
        raise PruneScopeError(f"not a PruneScope recipe (version {RECIPE_VERSION}): expected the recipe.json "
                              "that `prune --export`, `finetune --export` or the Explore, Fine-tune or Paper page writes")
    parts = []
    for key, cls in (("prune", PruneConfig), ("finetune", FinetuneConfig)):
        given = raw.get(key)
        if key == "finetune" and given is None:
            parts.append(None)
            continue
        if not isinstance(given, dict):
            raise PruneScopeError(f"recipe has no '{key}' settings")
        if cls is PruneConfig:  # the method's parameters sit beside the fields; validation checks them
            parts.append(PruneConfig.from_dict(given).validated())
            continue
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise PruneScopeError(f"recipe '{key}' settings have unknown fields: {', '.join(sorted(unknown))}")
        parts.append(cls(**given).validated())
    if not isinstance(raw.get("model"), str) or not raw["model"]:
        raise PruneScopeError("recipe names no model")
    env = raw.get("environment") or {}
    if not isinstance(env, dict):
        raise PruneScopeError("recipe 'environment' must be an object")
    return raw["model"], parts[0], parts[1], env


def export_pruned(model: nn.Module, loaded: LoadedModel, result: PruneResult, config: PruneConfig,
                  out_dir: str | Path) -> Path:
    """A pruned model as a folder that rebuilds bit-identically: `python -m prune_core prune --recipe
    recipe.json`. Masked models reload with plain transformers; models with whole units removed are
    saved with their per-layer sizes (see structural.load_structured)."""
    record = result.summary() | {"layers": [l.to_dict() for l in result.layers], "notes": result.notes}
    if result.structure is not None:  # smaller layers: plain from_pretrained cannot rebuild
        out = save_structured(model, loaded.tokenizer, StructuralPlan.from_dict(result.structure), out_dir)
        (out / "prunescope.json").write_text(json.dumps(record, indent=2, default=str))
    else:
        out = export_model(model, loaded.tokenizer, out_dir, record)
    (out / "recipe.json").write_text(json.dumps(recipe(loaded.key, config, None, result), indent=2, default=str))
    _write_card(out, loaded, result.quality, f"{loaded.card.name}, pruned ({result.method}, {result.pattern}, "
                                             f"{result.sparsity_target:.0%})", "python -m prune_core prune --recipe recipe.json")
    return out


def export_finetuned(model: nn.Module, loaded: LoadedModel, result: FinetuneResult, config: PruneConfig,
                     ft: FinetuneConfig, out_dir: str | Path) -> Path:
    """safetensors + tokenizer + prunescope.json (the result) + recipe.json + card.json (so a reload is
    evaluated with the same settings as the model it came from)."""
    out = export_model(model, loaded.tokenizer, out_dir, result.to_dict())
    (out / "recipe.json").write_text(json.dumps(recipe(loaded.key, config, ft, result), indent=2, default=str))
    _write_card(out, loaded, result.quality, f"{loaded.card.name}, pruned ({result.method}, {result.pattern}, "
                                             f"{result.sparsity_target:.0%}) and fine-tuned {result.steps_done} steps",
                "python -m prune_core finetune --recipe recipe.json")
    return out


def _write_card(out: Path, loaded: LoadedModel, quality: float, source: str, how_made: str) -> None:
    card = loaded.card
    (out / "card.json").write_text(json.dumps({
        "task": card.task, "quality_metric": card.quality_metric, "quality_dense": quality, "eval": card.eval,
        "licence": card.licence, "source": source, "how_made": how_made}, indent=2))
