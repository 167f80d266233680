"""Frame sampling: the release's two modes, repetition for short videos, per-sample random streams."""

import numpy as np

from sttn_lightning.data import sample_frame_indices
from sttn_lightning.data.sampling import sample_generator


def test_random_mode_gives_sorted_distinct_frames():
    indices = sample_frame_indices(np.random.default_rng(0), 30, 5, p_random=1.0)
    assert len(set(indices.tolist())) == 5 and np.all(np.diff(indices) > 0) and indices.max() < 30


def test_consecutive_mode_gives_a_run():
    for seed in range(10):
        indices = sample_frame_indices(np.random.default_rng(seed), 12, 5, p_random=0.0)
        assert np.all(np.diff(indices) == 1) and 0 <= indices[0] and indices[-1] < 12


def test_both_modes_occur_at_half():
    runs = [np.all(np.diff(sample_frame_indices(np.random.default_rng(s), 100, 5)) == 1) for s in range(40)]
    assert 5 < sum(runs) < 35


def test_short_video_repeats_frames():
    indices = sample_frame_indices(np.random.default_rng(0), 3, 5)
    assert len(indices) == 5 and np.all(np.diff(indices) >= 0) and indices.max() < 3


def test_sample_generator_depends_on_every_part():
    draws = {tuple(sample_generator(*key).integers(0, 2**30, size=2)) for key in [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)]}
    assert len(draws) == 5
