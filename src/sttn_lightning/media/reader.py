"""What every frame reader offers: one video's frames by index, with its size, rate and audio."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sttn_lightning.media.size import Size


class FrameReader(ABC):
    """Random access to the uint8 RGB frames of one video (a folder, a zip, a file or an array)."""

    path: Path  # named in every error
    num_frames: int
    size: Size
    fps: float | None = None  # None when the input carries no frame rate (a folder of images)
    audio_path: Path | None = None  # the file whose audio an output may keep

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Frames (H, W, 3) in the order of ``indices``."""
        for index in indices:
            if not 0 <= index < self.num_frames:
                raise IndexError(f"{self.path}: frame {index} is outside 0..{self.num_frames - 1}")
        return self._read(indices)

    @abstractmethod
    def _read(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Frames of valid indices."""

    def close(self) -> None:
        """Release files and decoders; the next read reopens what it needs."""
