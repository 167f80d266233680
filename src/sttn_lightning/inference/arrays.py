"""Frames and masks held in memory, behind the interfaces the pipeline streams from.

Evaluation and notebooks have their clips as arrays already; these adapters let them use the
exact pipeline that ``inpaint_video`` runs on files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from sttn_lightning.data.masks import resize_masks
from sttn_lightning.inference.errors import InpaintError
from sttn_lightning.inference.video_io import FrameSource


class MaskReader(Protocol):
    """What the pipeline needs of masks: uint8 {0, 1} (H, W) maps of frames at a (width, height) size."""

    def read(self, indices: Sequence[int], size: tuple[int, int]) -> list[np.ndarray]: ...


class ArrayFrames(FrameSource):
    """(T, H, W, 3) uint8 RGB frames in memory."""

    def __init__(self, frames: np.ndarray) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise InpaintError(f"frames: expected a (T, H, W, 3) uint8 array with T >= 1, found {frames.shape} {frames.dtype}")
        self.path = Path("<frames in memory>")
        self._frames = frames
        self.num_frames = len(frames)
        self.size = (frames.shape[2], frames.shape[1])
        self.fps = None
        self.audio_path = None

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [self._frames[index] for index in indices]


class ArrayMasks:
    """(T, H, W) masks in memory (non-zero = hole), resized nearest (PIL-exact) on request."""

    def __init__(self, masks: np.ndarray, num_frames: int, frame_size: tuple[int, int]) -> None:
        expected = (num_frames, frame_size[1], frame_size[0])
        if masks.shape != expected:
            raise InpaintError(f"masks: expected an array of shape {expected} (one mask per frame), found {masks.shape}")
        self._masks = (masks > 0).astype(np.uint8)

    def read(self, indices: Sequence[int], size: tuple[int, int]) -> list[np.ndarray]:
        return list(resize_masks(self._masks[list(indices)], (size[1], size[0])))
