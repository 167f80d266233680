"""E_warp, the flow warping error (temporal stability) of an inpainted video.

Definition used here, for a result video O_0..O_{T-1} and its ground truth G_0..G_{T-1} (uint8 RGB):

1. For each consecutive pair (t-1, t), optical flow on the GROUND TRUTH (holes must not steer
   it): forward F = flow(G_{t-1}, G_t), backward B = flow(G_t, G_{t-1}). ``flow(a, b)`` gives,
   for each pixel p of ``a``, the (dx, dy) displacement of its match in ``b``.
2. Occlusion by forward-backward consistency (Sundaram et al. 2010, as in Lai et al. 2018):
   p is non-occluded iff p + F(p) lies inside the frame and, with B' = B sampled at p + F(p),
   ``|F + B'|^2 < 0.01 * (|F|^2 + |B'|^2) + 0.5``.
3. Output frame t is warped onto frame t-1's grid with bilinear sampling, W(p) = O_t(p + F(p)).
4. Error of the pair: the mean of (O_{t-1} - W)^2 over non-occluded pixels and the 3 channels,
   RGB in [0, 1]. This is a raw MSE (papers often print it x 1e-3 or sum the channels, which
   is 3x this value; FlowNet2-based numbers of the papers are not comparable anyway).
5. E_warp of a video = mean over its pairs; of a dataset = mean over videos
   (``numpy.mean`` of the per-video values).
   A pair without any non-occluded pixel has no error and is left out; a video where that
   holds for every pair gets NaN (with a warning).

Flow comes from a pluggable ``flow_fn(frame_a, frame_b) -> (H, W, 2) float32``; the default is
OpenCV's DIS (no weights to download). A learned flow network can be passed instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import cv2
import numpy as np

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def dis_flow(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """Dense flow from ``frame_a`` to ``frame_b`` ((H, W, 3) uint8 RGB) with OpenCV DIS (medium)."""
    gray_a = cv2.cvtColor(frame_a, cv2.COLOR_RGB2GRAY)
    gray_b = cv2.cvtColor(frame_b, cv2.COLOR_RGB2GRAY)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray_a, gray_b, None).astype(np.float32)


def _sampling_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Bilinear backward warp: ``out(p) = image(p + flow(p))``, zero outside the frame."""
    map_x, map_y = _sampling_grid(flow)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def non_occluded_mask(forward_flow: np.ndarray, backward_flow: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose forward flow stays inside the frame and passes the fb check."""
    height, width = forward_flow.shape[:2]
    map_x, map_y = _sampling_grid(forward_flow)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    backward_at_target = warp(backward_flow.astype(np.float32), forward_flow)
    round_trip = np.sum((forward_flow + backward_at_target) ** 2, axis=-1)
    magnitudes = np.sum(forward_flow**2, axis=-1) + np.sum(backward_at_target**2, axis=-1)
    return inside & (round_trip < 0.01 * magnitudes + 0.5)


def _check_video(frames: np.ndarray, name: str) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected {name} as (T, H, W, 3) uint8 frames, found {frames.shape} of {frames.dtype}")


class WarpErrorMean:
    """E_warp accumulated pair by pair, so a video can be scored while it streams.

    ``add`` takes one pair of output frames and the flows of the matching ground-truth pair;
    ``value`` is the mean over pairs that had a non-occluded pixel (NaN, with a warning, if none).
    """

    def __init__(self) -> None:
        self.errors: list[float] = []

    def add(self, previous_output: np.ndarray, output: np.ndarray, forward_flow: np.ndarray, backward_flow: np.ndarray) -> None:
        """The warping error of one pair ((H, W, 3) uint8 frames t-1 and t), unless no pixel is non-occluded."""
        valid = non_occluded_mask(forward_flow, backward_flow)
        if valid.any():
            previous = previous_output.astype(np.float32) / 255.0
            warped = warp(output.astype(np.float32) / 255.0, forward_flow)
            self.errors.append(float(np.mean((previous[valid] - warped[valid]).astype(np.float64) ** 2)))

    def value(self) -> float:
        if not self.errors:
            message = "E_warp: no pair of consecutive frames has a non-occluded pixel; returning NaN"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            return math.nan
        return float(np.mean(self.errors))


def ewarp(frames: np.ndarray, reference_frames: np.ndarray | None = None, flow_fn: FlowFn = dis_flow) -> float:
    """E_warp (raw MSE, RGB in [0, 1]) of one video of (T, H, W, 3) uint8 frames.

    Flow is computed on ``reference_frames`` (the ground truth) when given, else on ``frames``.
    """
    _check_video(frames, "frames")
    if frames.shape[0] < 2:
        raise ValueError(f"E_warp needs at least 2 frames, found {frames.shape[0]}")
    reference = frames if reference_frames is None else reference_frames
    _check_video(reference, "reference_frames")
    if reference.shape != frames.shape:
        raise ValueError(f"reference_frames of shape {reference.shape} do not match frames of shape {frames.shape}")
    mean = WarpErrorMean()
    for t in range(1, frames.shape[0]):
        mean.add(frames[t - 1], frames[t], flow_fn(reference[t - 1], reference[t]), flow_fn(reference[t], reference[t - 1]))
    return mean.value()
