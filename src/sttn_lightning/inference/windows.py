"""The release's window protocol as pure functions: which frames a window reads, how results blend.

A window is centred on every ``neighbour_stride``-th frame; it predicts its neighbours (the
frames within ``neighbour_stride`` of the centre) and reads, as extra context, reference
frames: every ``reference_stride``-th frame of the whole video that is not a neighbour.
Capping the references (nearest to the centre first) bounds the memory and time that
otherwise grow with the video's length. A frame predicted by several windows keeps a running
average: the first result, then 0.5 * old + 0.5 * new, in float32 as the release does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    """One model run: ``neighbours`` are predicted, ``references`` only give context."""

    centre: int
    neighbours: tuple[int, ...]
    references: tuple[int, ...]

    @property
    def frames(self) -> tuple[int, ...]:
        """Frame indices in the order the model reads them: neighbours, then references."""
        return self.neighbours + self.references


def neighbour_indices(centre: int, num_frames: int, neighbour_stride: int) -> tuple[int, ...]:
    """Frames max(0, centre - stride) .. min(num_frames - 1, centre + stride)."""
    return tuple(range(max(0, centre - neighbour_stride), min(num_frames, centre + neighbour_stride + 1)))


def reference_indices(
    centre: int, num_frames: int, neighbours: tuple[int, ...], reference_stride: int, max_references: int | None = None
) -> tuple[int, ...]:
    """Every ``reference_stride``-th frame not among ``neighbours``, ascending.

    With ``max_references`` only the ones nearest to ``centre`` are kept (the earlier frame wins
    a tie), so a window reads a bounded, local set of frames.
    """
    candidates = [index for index in range(0, num_frames, reference_stride) if index not in neighbours]
    if max_references is not None and len(candidates) > max_references:
        candidates = sorted(candidates, key=lambda index: (abs(index - centre), index))[:max_references]
    return tuple(sorted(candidates))


def plan_windows(
    num_frames: int, neighbour_stride: int = 5, reference_stride: int = 10, max_references: int | None = None
) -> list[Window]:
    """All windows of a video in processing order (by centre)."""
    if num_frames < 1 or neighbour_stride < 1 or reference_stride < 1:
        raise ValueError(
            f"expected num_frames, neighbour_stride and reference_stride >= 1, found "
            f"{num_frames}, {neighbour_stride}, {reference_stride}"
        )
    if max_references is not None and max_references < 0:
        raise ValueError(f"expected max_references >= 0 or None, found {max_references}")
    windows = []
    for centre in range(0, num_frames, neighbour_stride):
        neighbours = neighbour_indices(centre, num_frames, neighbour_stride)
        references = reference_indices(centre, num_frames, neighbours, reference_stride, max_references)
        windows.append(Window(centre, neighbours, references))
    return windows


def blend(previous: torch.Tensor | None, prediction: torch.Tensor) -> torch.Tensor:
    """The release's running average of window results in float32, updating ``previous`` in place (on any device).

    The midpoint of whole-number results (and of their running averages) is exact however it is
    computed, so one lerp pass equals the release's 0.5 * previous + 0.5 * new.
    """
    if previous is None:
        return prediction.float()
    return previous.lerp_(prediction.to(previous.dtype), 0.5)
