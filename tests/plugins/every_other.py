"""A test plugin: keeps every other weight. Loaded only through PRUNESCOPE_METHODS=tests.plugins.every_other
(tests/test_method_plugins.py), to prove that a method outside prune_core needs no edit anywhere else."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from prune_core.methods import MethodInfo, param, register
from prune_core.methods.base import ScoreMethod


@dataclass(frozen=True)
class EveryOtherParams:
    phase: int = param(0, label="Phase (which weight of each pair stays)", min=0, max=1, step=1,
                       help="0 keeps the even-numbered weights of each row, 1 the odd-numbered ones")


@register
class EveryOther(ScoreMethod):
    info = MethodInfo("every_other", "keeps every other weight of each row (a test plugin)")
    params = EveryOtherParams

    def score(self, weight, target, config, index, calibration=None):
        phase = self.param_values(config).phase
        columns = torch.arange(weight.shape[1])
        return ((columns + phase) % 2 == 0).float().expand_as(weight).clone()  # 1: keep, 0: remove
