"""Data-free scores: the baselines every other method is compared against."""
from __future__ import annotations

import zlib

import torch

from .catalogue import register
from .base import MethodInfo, ScoreMethod


@register
class RandomScore(ScoreMethod):
    """Random importance: the floor any real method must beat."""

    info = MethodInfo("random", "uniform random scores (a floor to beat); reproducible by seed",
                      explain="Random ignores the weights entirely: it is the floor every real method must "
                              "beat. If a method is not clearly better than random, it is not using information.")

    def score(self, weight, target, config, index, calibration=None):
        # One generator per layer, seeded from (seed, layer name): results don't depend on
        # which other layers are in scope or on the order they are visited.
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + zlib.crc32(target.name.encode()))
        return torch.rand(weight.shape, generator=gen)


@register
class MagnitudeScore(ScoreMethod):
    """|w|: small weights matter least (Han et al. 2015)."""

    info = MethodInfo("magnitude", "absolute weight value |w| (Han et al. 2015); no data needed",
                      explain="Magnitude removes the weights closest to zero, looking at the weights alone. "
                              "It never sees data, so it cannot tell that a small weight on a huge input matters.",
                      magnitude_threshold=True)

    def score(self, weight, target, config, index, calibration=None):
        return weight.abs()
