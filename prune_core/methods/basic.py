"""Data-free scores: the baselines every other method is compared against."""
from __future__ import annotations

import zlib

import torch

from . import register
from .base import MethodInfo, PruningMethod


@register
class RandomScore(PruningMethod):
    """Random importance: the floor any real method must beat."""

    info = MethodInfo("random", "uniform random scores (a floor to beat); reproducible by seed")

    def score(self, weight, target, config, index, calibration=None):
        # One generator per layer, seeded from (seed, layer name): results don't depend on
        # which other layers are in scope or on the order they are visited.
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + zlib.crc32(target.name.encode()))
        return torch.rand(weight.shape, generator=gen)


@register
class MagnitudeScore(PruningMethod):
    """|w|: small weights matter least (Han et al. 2015)."""

    info = MethodInfo("magnitude", "absolute weight value |w| (Han et al. 2015); no data needed",
                      magnitude_threshold=True)

    def score(self, weight, target, config, index, calibration=None):
        return weight.abs()
