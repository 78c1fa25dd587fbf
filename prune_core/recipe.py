"""Recipes: the JSON that remakes a fine-tuned pruned model (`python -m prune_core finetune --recipe FILE`).

A recipe holds the PruneConfig, the FinetuneConfig, the model name and the environment it was made in
(package versions, CPU/GPU); `read_recipe` validates it as strictly as the CLI validates its flags.
`export_finetuned` writes the model like any other export, plus its recipe and a card, so the
exported folder reloads with the same evaluation settings as the model it came from.
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from torch import nn

from .config import PruneConfig
from .errors import PruneScopeError
from .finetune import FinetuneConfig, FinetuneResult
from .store import environment
from .zoo import LoadedModel

RECIPE_VERSION = 1


def recipe(model_name: str, config: PruneConfig, ft: FinetuneConfig, result: FinetuneResult | None = None) -> dict:
    """Everything needed to make the same model again: `python -m prune_core finetune --recipe FILE`."""
    return {"prunescope_recipe": RECIPE_VERSION, "replay": "python -m prune_core finetune --recipe recipe.json",
            "model": model_name, "prune": config.to_dict(), "finetune": ft.to_dict(), "environment": environment(),
            "result": result.summary() if result is not None else None}


def read_recipe(source: str | Path | dict) -> tuple[str, PruneConfig, FinetuneConfig, dict]:
    """(model name, PruneConfig, FinetuneConfig, the recipe's environment) from a recipe file or dict."""
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
        raise PruneScopeError(f"not a PruneScope recipe (version {RECIPE_VERSION}): expected the JSON that "
                              "`finetune --export` or the Paper page writes")
    parts = []
    for key, cls in (("prune", PruneConfig), ("finetune", FinetuneConfig)):
        given = raw.get(key)
        if not isinstance(given, dict):
            raise PruneScopeError(f"recipe has no '{key}' settings")
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise PruneScopeError(f"recipe '{key}' settings have unknown fields: {', '.join(sorted(unknown))}")
        parts.append(cls(**given).validated())
    if not isinstance(raw.get("model"), str):
        raise PruneScopeError("recipe names no model")
    return raw["model"], parts[0], parts[1], raw.get("environment") or {}


def export_finetuned(model: nn.Module, loaded: LoadedModel, result: FinetuneResult, config: PruneConfig,
                     ft: FinetuneConfig, out_dir: str | Path) -> Path:
    """safetensors + tokenizer + prunescope.json (the result) + recipe.json + card.json (so a reload is
    evaluated with the same settings as the model it came from)."""
    from .export import export_model

    out = export_model(model, loaded.tokenizer, out_dir, result.to_dict())
    card = loaded.card
    (out / "recipe.json").write_text(json.dumps(recipe(loaded.key, config, ft, result), indent=2, default=str))
    (out / "card.json").write_text(json.dumps({
        "task": card.task, "quality_metric": card.quality_metric, "quality_dense": result.quality, "eval": card.eval,
        "licence": card.licence, "source": f"{card.name}, pruned ({result.method}, {result.pattern}, "
                                          f"{result.sparsity_target:.0%}) and fine-tuned {result.steps_done} steps",
        "how_made": "python -m prune_core finetune --recipe recipe.json"}, indent=2))
    return out
