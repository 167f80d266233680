"""The release's random hole shapes: closed Bezier blobs, stationary or moving, and centred boxes.

Every mask is uint8 in {0, 1} (1 = hole), shaped (t, H, W) for a video. Randomness comes only
from a numpy Generator passed in, so the same seed gives the same masks in any process.
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np

REFERENCE_SIZE = (240, 432)  # (height, width) at which the release states its box sizes and speeds
BEZIER_SAMPLES = 16


def _bezier_outline(control: np.ndarray) -> np.ndarray:
    """Points along the closed chain of cubic Bezier segments through `control` (3k+1, 2)."""
    t = np.linspace(0.0, 1.0, BEZIER_SAMPLES, endpoint=False)[:, None]
    weights = np.concatenate([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3], axis=1)
    segments = [weights @ control[i : i + 4] for i in range(0, len(control) - 1, 3)]
    return np.concatenate(segments)


def random_blob(rng: np.random.Generator, height: int, width: int, ratio: float = 0.7) -> np.ndarray:
    """A closed Bezier blob (6-8 corners) filling a (height, width) box, uint8 {0, 1}."""
    corners = int(rng.integers(6, 9))
    num_points = 3 * corners + 1
    angles = np.linspace(0.0, 2 * np.pi, num_points)
    radii = 2 * ratio * rng.random(num_points) + 1 - ratio
    control = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
    control[-1] = control[0]
    outline = _bezier_outline(control)
    low, high = outline.min(0), outline.max(0)
    scaled = (outline - low) / np.maximum(high - low, 1e-6) * [width - 1, height - 1]
    blob = np.zeros((height, width), np.uint8)
    cv2.fillPoly(blob, [np.round(scaled).astype(np.int32)], 1)
    return blob


def _random_velocity(rng: np.random.Generator, min_speed: float, max_speed: float) -> tuple[float, float]:
    return float(rng.uniform(min_speed, max_speed)), float(rng.uniform(0, 2 * np.pi))


def random_video_masks(
    rng: np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    p_stationary: float = 0.5,
    speed_range: tuple[float, float] = (1.0, 3.0),
    speed_std: float = 1.5,
    angle_std: float = 0.25,
) -> np.ndarray:
    """The release's training mask for one clip: a random blob, stationary with p_stationary else moving.

    Box sizes and speeds are given at 432x240 in the release and scale with (height, width).
    The blob stays inside the frame; the speed's random walk is kept within [0, max speed].
    """
    box_h = int(rng.integers(round(height / 3), height))
    box_w = int(rng.integers(round(width / 3), width))
    blob = random_blob(rng, box_h, box_w)
    scale = (height / REFERENCE_SIZE[0] + width / REFERENCE_SIZE[1]) / 2
    min_speed, max_speed = speed_range[0] * scale, speed_range[1] * scale
    limit = np.array([width - box_w, height - box_h], float)
    position = np.array([rng.integers(0, limit[0] + 1), rng.integers(0, limit[1] + 1)], float)
    moving = rng.random() >= p_stationary
    speed, angle = _random_velocity(rng, min_speed, max_speed)
    masks = np.zeros((num_frames, height, width), np.uint8)
    for frame in range(num_frames):
        x, y = np.round(position).astype(int)
        masks[frame, y : y + box_h, x : x + box_w] = blob
        if not moving:
            continue
        position = position + speed * np.array([np.cos(angle), np.sin(angle)])
        if np.any(position < 0) or np.any(position > limit):
            position = np.clip(position, 0, limit)
            speed, angle = _random_velocity(rng, min_speed, max_speed)
        else:
            speed = float(np.clip(speed + rng.normal(0, speed_std * scale), 0, max_speed))
            angle += float(rng.normal(0, angle_std))
    return masks


def centred_box_masks(num_frames: int, height: int, width: int, fraction: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """A box of `fraction` (of height, of width) in the centre of every frame."""
    box_h, box_w = round(height * fraction[0]), round(width * fraction[1])
    top, left = (height - box_h) // 2, (width - box_w) // 2
    masks = np.zeros((num_frames, height, width), np.uint8)
    masks[:, top : top + box_h, left : left + box_w] = 1
    return masks


def video_seed(seed: int, video_id: str) -> np.random.Generator:
    """A generator for one video, stable across processes and Python versions."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode())])
