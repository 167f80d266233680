"""Learning-rate schedules of the STTN release, as multiplicative factors for ``LambdaLR``.

A class instead of a lambda so the scheduler pickles (checkpoints, DDP spawn) and its
settings travel in the scheduler's state dict.
"""

from __future__ import annotations


class StepDecay:
    """``LambdaLR`` factor gamma ** (min(iteration, cap) // step): the release's lr multiplier at ``iteration``.

    YouTube-VOS: step 150k, cap 300k, gamma 0.1 (1, 0.1 from 150k, 0.01 from 300k on);
    DAVIS: step 300k, cap 300k, gamma 0.1 (1 until 300k, then 0.1).
    """

    def __init__(self, step: int, gamma: float = 0.1, cap: int | None = None) -> None:
        if step <= 0:  # checked now, not mid-run
            raise ValueError(f"step must be positive, got {step}")
        self.step = step
        self.gamma = gamma
        self.cap = cap

    def __call__(self, iteration: int) -> float:
        if iteration < 0:
            raise ValueError(f"iteration must be non-negative, got {iteration}")
        capped = iteration if self.cap is None else min(iteration, self.cap)
        return self.gamma ** (capped // self.step)
