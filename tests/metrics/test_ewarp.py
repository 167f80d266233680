"""E_warp: zero when the output follows the ground-truth motion, positive for flicker."""

import math

import numpy as np
import pytest

from sttn_lightning.metrics.ewarp import ewarp, non_occluded_mask, warp

SHIFT = (3, 2)  # (dx, dy) per frame


def _textured_frame(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return np.kron(coarse, np.ones((8, 8, 1), np.uint8))


def _translating_video(frames: int = 4) -> np.ndarray:
    first = _textured_frame()
    return np.stack(
        [np.roll(first, (t * SHIFT[1], t * SHIFT[0]), axis=(0, 1)) for t in range(frames)]
    )


def _exact_translation_flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """The true flow of `_translating_video`: +SHIFT from a frame to the next, -SHIFT back."""
    forward = np.array_equal(np.roll(frame_a, (SHIFT[1], SHIFT[0]), axis=(0, 1)), frame_b)
    sign = 1.0 if forward else -1.0
    flow = np.empty(frame_a.shape[:2] + (2,), np.float32)
    flow[...] = (sign * SHIFT[0], sign * SHIFT[1])
    return flow


def test_warp_samples_at_the_displaced_position():
    image = np.arange(20, dtype=np.float32).reshape(4, 5)
    flow = np.zeros((4, 5, 2), np.float32)
    flow[..., 0] = 0.5
    warped = warp(image, flow)
    assert warped[1, 1] == pytest.approx(6.5)
    assert warped[2, 3] == pytest.approx(13.5)


def test_forward_backward_rule():
    forward = np.zeros((6, 6, 2), np.float32)
    forward[..., 0] = 2.0
    consistent = non_occluded_mask(forward, -forward)
    assert consistent[:, :4].all() and not consistent[:, 4:].any()  # x + 2 leaves the frame
    # |F + B'|^2 = 4 against 0.01 * (4 + 0) + 0.5: occluded.
    assert not non_occluded_mask(forward, np.zeros_like(forward)).any()
    # A small inconsistency passes: |F + B'|^2 = 0.25 < 0.01 * (4 + 2.25) + 0.5.
    almost = np.zeros_like(forward)
    almost[..., 0] = -1.5
    assert non_occluded_mask(forward, almost)[:, :4].all()


def test_static_video_has_zero_warping_error():
    video = np.repeat(_textured_frame()[None], 3, axis=0)
    assert ewarp(video) == pytest.approx(0.0, abs=1e-6)


def test_pure_translation_with_exact_flow_has_zero_warping_error():
    video = _translating_video()
    assert ewarp(video, flow_fn=_exact_translation_flow) == 0.0
    assert ewarp(video, reference_frames=video, flow_fn=_exact_translation_flow) == 0.0


def test_flicker_gives_the_squared_brightness_step():
    ground_truth = np.repeat(_textured_frame()[None] // 2 + 40, 4, axis=0).astype(np.uint8)
    flicker = ground_truth.copy()
    flicker[1::2] += 20
    assert ewarp(flicker, reference_frames=ground_truth) == pytest.approx(
        (20 / 255) ** 2, rel=1e-3
    )


def test_all_occluded_video_is_nan_with_a_warning():
    video = np.repeat(_textured_frame()[None], 2, axis=0)

    def inconsistent_flow(frame_a, frame_b):
        return np.full(frame_a.shape[:2] + (2,), 1.0, np.float32)

    with pytest.warns(RuntimeWarning, match="non-occluded"):
        assert math.isnan(ewarp(video, flow_fn=inconsistent_flow))


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2 frames"):
        ewarp(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        ewarp(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="do not match"):
        ewarp(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 8, 8, 3), np.uint8))
