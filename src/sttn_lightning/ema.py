"""Exponential moving average (EMA) of a network's weights.

A GAN generator's weights keep oscillating with the adversarial game; an average over the
recent updates gives steadier validation results. The average lives in a frozen copy of the
network, so it is saved, restored and exported like any other module.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` that no optimiser or DDP gradient sync will touch."""
    duplicate = copy.deepcopy(module)
    duplicate.requires_grad_(False)
    return duplicate


@torch.no_grad()
def update_ema_(average: nn.Module, module: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * module, parameter by parameter; buffers are copied.

    ``average`` must have ``module``'s architecture (e.g. made by ``frozen_copy``).
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must lie in [0, 1], got {decay}")
    for averaged, current in zip(average.parameters(), module.parameters(), strict=True):
        averaged.lerp_(current.detach(), 1.0 - decay)
    for averaged, current in zip(average.buffers(), module.buffers(), strict=True):
        averaged.copy_(current)
