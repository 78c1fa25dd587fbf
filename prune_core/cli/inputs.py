"""A recipe file and/or flags -> a validated PruneConfig (and FinetuneConfig), before anything loads (bad input fails fast)."""
from __future__ import annotations

import argparse
from dataclasses import replace

from ..config import PruneConfig
from ..errors import PruneScopeError
from ..finetune import FinetuneConfig
from ..recipe import read_recipe
from .args import given
from .params import given_params, with_params

PRUNE_FLAGS = ("method", "sparsity", "pattern", "allocation", "scope", "include_head", "seed", "calib_samples",
               "calib_seq_len", "owl_m", "owl_lambda")
FINETUNE_PRUNE_FLAGS = ("method", "sparsity", "pattern", "allocation", "scope", "seed", "owl_m", "owl_lambda")
FINETUNE_FLAGS = ("steps", "lr", "batch_size", "seq_len", "eval_every", "device")


def _recipe_or_flags(args: argparse.Namespace) -> tuple[str, PruneConfig, FinetuneConfig | None, dict]:
    """(model, PruneConfig, FinetuneConfig or None, recipe environment): from --recipe, else defaults, which
    need --model and --sparsity. --model given with a recipe overrides the recipe's."""
    if args.recipe:
        model, config, ft, env = read_recipe(args.recipe)
    else:
        missing = [f for f, v in (("--model", args.model), ("--sparsity", args.sparsity)) if v is None]
        if missing:
            raise PruneScopeError(f"the following arguments are required: {', '.join(missing)} (or --recipe FILE)")
        model, config, ft, env = args.model, PruneConfig(), None, {}
    return args.model or model, config, ft, env


def prune_inputs(args: argparse.Namespace) -> tuple[str, PruneConfig]:
    """(model, PruneConfig) for `prune`; a recipe that also fine-tunes belongs to `finetune`."""
    model, config, ft, _ = _recipe_or_flags(args)
    if ft is not None:
        raise PruneScopeError(f"recipe '{args.recipe}' also fine-tunes; replay it with "
                              f"`python -m prune_core finetune --recipe {args.recipe}`")
    return model, with_params(replace(config, **given(args, PRUNE_FLAGS)), given_params(args)).validated()


def finetune_inputs(args: argparse.Namespace) -> tuple[str, PruneConfig, FinetuneConfig, dict]:
    """(model, PruneConfig, FinetuneConfig, recipe environment) for `finetune`; --seed seeds both."""
    model, config, ft, env = _recipe_or_flags(args)
    ft_kw = given(args, FINETUNE_FLAGS) | ({"seed": args.seed} if args.seed is not None else {})
    return (model, with_params(replace(config, **given(args, FINETUNE_PRUNE_FLAGS)), given_params(args)).validated(),
            replace(ft or FinetuneConfig(), **ft_kw).validated(), env)
