"""The dataset fixtures of every layout, shared with the data tests (tests/data/conftest.py writes them),
and a reference decoder for the video tests."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np

from tests.data.conftest import frames_root, video_root, zip_root

__all__ = ["frames_root", "reference_decode", "video_root", "zip_root"]


def reference_decode(path: Path) -> np.ndarray:
    """Every frame of a video in one ffmpeg run from its start (no frame selection, no reader of ours)."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    width, height = next(reader)["size"]
    return np.stack([np.frombuffer(data, np.uint8).reshape(height, width, 3) for data in reader])
