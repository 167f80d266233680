"""Learning-rate schedules of the STTN release, as multiplicative factors for ``LambdaLR``.

A class instead of a lambda so the scheduler pickles (checkpoints, DDP spawn) and its
settings travel in the scheduler's state dict.
"""

from __future__ import annotations


def step_decay_factor(iteration: int, step: int, gamma: float, cap: int | None = None) -> float:
    """gamma ** (min(iteration, cap) // step): the release's lr multiplier at ``iteration``.

    YouTube-VOS: step 150k, cap 300k, gamma 0.1 (1, 0.1 from 150k, 0.01 from 300k on);
    DAVIS: step 300k, cap 300k, gamma 0.1 (1 until 300k, then 0.1).
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    if iteration < 0:
        raise ValueError(f"iteration must be non-negative, got {iteration}")
    capped = iteration if cap is None else min(iteration, cap)
    return gamma ** (capped // step)


class StepDecay:
    """``LambdaLR`` factor: the release's step decay (see ``step_decay_factor``)."""

    def __init__(self, step: int, gamma: float = 0.1, cap: int | None = None) -> None:
        step_decay_factor(0, step, gamma, cap)  # validates the settings now, not mid-run
        self.step = step
        self.gamma = gamma
        self.cap = cap

    def __call__(self, iteration: int) -> float:
        return step_decay_factor(iteration, self.step, self.gamma, self.cap)
