"""Frame-quality metrics exactly as the follow-up papers (FuseFormer, E2FGVI, ProPainter) compute them.

Definitions, all on composited uint8 RGB frames at the working resolution (compositing the
prediction into the ground truth with the dilated mask is the caller's job):

- Conversion from model tensors in [-1, 1]: ``clamp(round((x + 1) * 127.5), 0, 255)`` as uint8
  (``torch.round``: exact halves go to the even neighbour), because uint8 frames are what the
  papers compare. (Their scripts truncate with ``astype(np.uint8)`` instead of rounding;
  rounding is the unbiased choice and is used here.)
- PSNR of a frame: ``20 * log10(255 / sqrt(MSE))``, MSE over all pixels and the 3 channels in
  float64. A frame identical to the ground truth has PSNR ``inf``; it is kept (never clipped to
  100 dB), so a mean over frames that contains one is ``inf`` and is reported as such.
- SSIM of a frame: ``skimage.metrics.structural_similarity(pred, target, data_range=255,
  channel_axis=-1, win_size=65)`` (uniform window, sample covariance, mean of the map with the
  ``(win_size - 1) / 2`` border cropped, channels averaged), i.e. the papers'
  ``compare_ssim(..., data_range=255, multichannel=True, win_size=65)``.
  Frames smaller than 65 px (tests, tiny crops) use the largest odd window that fits,
  ``min(65, H, W)`` rounded down to odd; frames under 3 px are rejected.
- Hole variants: PSNR with the MSE taken over hole pixels only (all 3 channels); SSIM as the
  full (uncropped) SSIM map averaged over hole pixels and channels. A frame without hole pixels
  has no hole score: the per-frame functions reject it and the accumulating helpers skip it.
- Dataset value: the mean over all frames of the dataset (frame-weighted), not over videos.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torchmetrics import Metric

SSIM_WIN_SIZE = 65
"""Window the papers pass to scikit-image's SSIM."""

Region = Literal["frame", "hole"]
FrameScore = Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]


def to_uint8_frames(frames: torch.Tensor) -> np.ndarray:
    """Turn (..., 3, H, W) tensors in [-1, 1] into a stack of (N, H, W, 3) uint8 RGB frames."""
    if frames.ndim < 3 or frames.shape[-3] != 3:
        raise ValueError(f"expected frames of shape (..., 3, H, W), found {tuple(frames.shape)}")
    height, width = frames.shape[-2:]
    quantised = ((frames.detach().to(torch.float32) + 1.0) * 127.5).round().clamp(0, 255)
    stacked = quantised.to(torch.uint8).reshape(-1, 3, height, width)
    return stacked.permute(0, 2, 3, 1).cpu().numpy()


def to_hole_masks(masks: torch.Tensor) -> np.ndarray:
    """Turn (..., 1, H, W) masks (1 = hole) into a stack of (N, H, W) boolean hole maps."""
    if masks.ndim < 3 or masks.shape[-3] != 1:
        raise ValueError(f"expected masks of shape (..., 1, H, W), found {tuple(masks.shape)}")
    height, width = masks.shape[-2:]
    return (masks.detach() > 0.5).reshape(-1, height, width).cpu().numpy()


def _check_frame_pair(pred: np.ndarray, target: np.ndarray, hole: np.ndarray | None) -> None:
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"expected two (H, W, 3) frames of equal shape, found {pred.shape} and {target.shape}")
    if hole is not None:
        if hole.shape != pred.shape[:2]:
            raise ValueError(f"expected a hole map of shape {pred.shape[:2]}, found {hole.shape}")
        if not hole.any():
            raise ValueError("the hole map has no hole pixels: a hole score is undefined")


def psnr(pred: np.ndarray, target: np.ndarray, hole: np.ndarray | None = None) -> float:
    """PSNR in dB of one (H, W, 3) 0-255 frame, over the whole frame or over ``hole`` pixels.

    Returns ``math.inf`` when the compared pixels are identical.
    """
    _check_frame_pair(pred, target, hole)
    error = pred.astype(np.float64) - target.astype(np.float64)
    if hole is not None:
        error = error[hole.astype(bool)]
    mse = float(np.mean(error**2))
    if mse == 0.0:
        return math.inf
    return 20.0 * math.log10(255.0 / math.sqrt(mse))


def ssim_window(height: int, width: int) -> int:
    """The SSIM window used for an (height, width) frame: the largest odd size <= SSIM_WIN_SIZE that fits."""
    window = min(SSIM_WIN_SIZE, height, width)
    window -= 1 - window % 2
    if window < 3:
        raise ValueError(f"SSIM needs frames of at least 3x3 pixels, found {height}x{width}")
    return window


def ssim(pred: np.ndarray, target: np.ndarray, hole: np.ndarray | None = None) -> float:
    """SSIM of one (H, W, 3) 0-255 frame: the papers' frame mean, or the SSIM map's mean over holes."""
    _check_frame_pair(pred, target, hole)
    window = ssim_window(pred.shape[0], pred.shape[1])
    options = {"data_range": 255, "channel_axis": -1, "win_size": window}
    if hole is None:
        return float(structural_similarity(pred, target, **options))
    _, ssim_map = structural_similarity(pred, target, full=True, **options)
    return float(ssim_map[hole.astype(bool)].mean())


def uint8_frame_scores(
    score: FrameScore,
    pred_frames: np.ndarray,
    target_frames: np.ndarray,
    holes: np.ndarray | None = None,
) -> list[float]:
    """``score`` of each pair of (N, H, W, 3) uint8 frames; with (N, H, W) ``holes``, over hole
    pixels, frames without a hole pixel skipped (their hole score is undefined)."""
    if holes is None:
        return [score(p, t, None) for p, t in zip(pred_frames, target_frames)]
    return [score(p, t, h) for p, t, h in zip(pred_frames, target_frames, holes) if h.any()]


def _frame_scores(score: FrameScore, preds: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None) -> list[float]:
    """``score`` of each (..., 3, H, W) frame in [-1, 1]; with (..., 1, H, W) ``masks``, over hole
    pixels, hole-free frames skipped."""
    if preds.shape != target.shape:
        raise ValueError(f"preds and target differ in shape: {tuple(preds.shape)} vs {tuple(target.shape)}")
    pred_frames, target_frames = to_uint8_frames(preds), to_uint8_frames(target)
    if masks is None:
        return uint8_frame_scores(score, pred_frames, target_frames)
    if masks.shape[:-3] != preds.shape[:-3] or masks.shape[-2:] != preds.shape[-2:]:
        raise ValueError(f"masks of shape {tuple(masks.shape)} do not match frames of shape {tuple(preds.shape)}")
    return uint8_frame_scores(score, pred_frames, target_frames, to_hole_masks(masks))


class _FrameAveragedMetric(Metric):
    """Sum of per-frame ``score`` values and frame count, both summed across processes, so DDP is exact."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    score_sum: torch.Tensor
    frame_count: torch.Tensor

    def __init__(self, score: FrameScore, region: Region = "frame", **kwargs) -> None:
        super().__init__(**kwargs)
        if region not in ("frame", "hole"):
            raise ValueError(f"region must be 'frame' or 'hole', found {region!r}")
        self.score = score
        self.region = region
        self.add_state("score_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("frame_count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None = None) -> None:
        """Add (..., 3, H, W) frames in [-1, 1]; ``masks`` (..., 1, H, W) are required for region='hole'."""
        if self.region == "hole" and masks is None:
            raise ValueError(f"{type(self).__name__}(region='hole') needs masks in update()")
        if self.region == "frame" and masks is not None:
            raise ValueError(
                f"{type(self).__name__}(region='frame') compares whole (composited) frames and "
                "takes no masks; composite before update() or use region='hole'"
            )
        scores = _frame_scores(self.score, preds, target, masks)
        self.score_sum += math.fsum(scores)
        self.frame_count += len(scores)

    def compute(self) -> torch.Tensor:
        """Mean over all frames seen (float64); NaN when no frame was counted."""
        if self.frame_count == 0:
            return torch.tensor(math.nan, dtype=torch.float64, device=self.score_sum.device)
        return self.score_sum / self.frame_count


class VideoPSNR(_FrameAveragedMetric):
    """Frame-averaged PSNR (dB) of the papers, over whole frames or hole pixels (see module doc)."""

    def __init__(self, region: Region = "frame", **kwargs) -> None:
        super().__init__(psnr, region, **kwargs)


class VideoSSIM(_FrameAveragedMetric):
    """Frame-averaged SSIM of the papers (win_size 65, clamped for small frames; see module doc)."""

    def __init__(self, region: Region = "frame", **kwargs) -> None:
        super().__init__(ssim, region, **kwargs)
