"""Which frames make a clip, and the per-sample random streams that make sampling reproducible."""

from __future__ import annotations

import numpy as np

SHORT_VIDEO_POLICIES = ("error", "repeat", "skip")
# what a training sample whose frames cannot be read does: raise, or give way to another clip
BAD_SAMPLE_POLICIES = ("skip", "error")
TRAIN_STREAM, VAL_STREAM = 0, 1


def sample_generator(seed: int, stream: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of one sample: a pure function of (seed, stream, epoch, index), not global state."""
    return np.random.default_rng([seed, stream, epoch, index])


def sample_frame_indices(rng: np.random.Generator, video_length: int, clip_length: int, p_random: float = 0.5) -> np.ndarray:
    """The release's clip: with p_random `clip_length` random frames (sorted), else consecutive frames.

    A video shorter than the clip gets frames drawn with repetition (sorted), the 'repeat' policy.
    """
    if video_length < clip_length:
        return np.sort(rng.choice(video_length, clip_length, replace=True))
    if rng.random() < p_random:
        return np.sort(rng.choice(video_length, clip_length, replace=False))
    start = int(rng.integers(0, video_length - clip_length + 1))
    return np.arange(start, start + clip_length)
