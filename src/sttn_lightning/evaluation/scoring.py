"""Scores of one evaluation: every metric of the follow-up papers' protocol, per video and overall.

The scorer sees only uint8 frames at the working resolution: the composited result, the ground
truth and the (dilated) hole masks of each video. Where the result comes from (a generator run
or a folder of saved frames) is not its concern, so the same numbers come out for both.

Dataset values, as the papers report them:
- ``psnr`` / ``ssim``: frame-weighted means over every frame of the dataset (``quality.psnr`` /
  ``quality.ssim``); ``hole_psnr`` / ``hole_ssim`` the same over hole pixels, frames without a
  hole left out. A result identical to the ground truth has PSNR ``inf``.
- ``vfid``: Frechet distance between the I3D features of the result videos and of the ground-truth
  videos (``vfid.vfid``); ``None`` when no I3D weights were given or fewer than 2 videos exist.
- ``ewarp``: flow warping error of the results (``ewarp.ewarp``, raw MSE of RGB in [0, 1], flow on
  the ground truth), mean over videos; ``ewarp_ground_truth`` is the same for the ground truth
  itself, the floor a perfect result reaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sttn_lightning.metrics import (
    InceptionI3d,
    PerVideoScores,
    ewarp,
    i3d_features,
    psnr,
    ssim,
    uint8_frame_scores,
    uint8_video_to_i3d_input,
    vfid,
)

SCORE_NAMES = ("psnr", "ssim", "hole_psnr", "hole_ssim")


@dataclass
class VideoScores:
    """The scores of one video: per-frame lists and per-video values."""

    video_id: str
    num_frames: int
    frame_scores: dict[str, list[float]]
    ewarp: float | None
    ewarp_ground_truth: float | None
    features: np.ndarray | None
    truth_features: np.ndarray | None

    def row(self) -> dict[str, float | int | str | None]:
        """One line of per_video.csv."""
        means = {name: float(np.mean(s)) if s else None for name, s in self.frame_scores.items()}
        return {"video_id": self.video_id, "frames": self.num_frames, **means, "ewarp": self.ewarp,
                "ewarp_ground_truth": self.ewarp_ground_truth}


def score_video(
    video_id: str,
    results: np.ndarray,
    truth: np.ndarray,
    holes: np.ndarray,
    i3d: InceptionI3d | None = None,
    with_ewarp: bool = True,
) -> VideoScores:
    """Score one video: (T, H, W, 3) uint8 results and ground truth, (T, H, W) hole masks."""
    if results.shape != truth.shape or holes.shape != truth.shape[:3]:
        raise ValueError(
            f"video {video_id}: expected results {truth.shape} and holes {truth.shape[:3]} like the ground truth, "
            f"found {results.shape} and {holes.shape}"
        )
    holes = holes.astype(bool)
    frame_scores = {
        "psnr": uint8_frame_scores(psnr, results, truth),
        "ssim": uint8_frame_scores(ssim, results, truth),
        "hole_psnr": uint8_frame_scores(psnr, results, truth, holes),
        "hole_ssim": uint8_frame_scores(ssim, results, truth, holes),
    }
    long_enough = with_ewarp and len(truth) >= 2
    features = truth_features = None
    if i3d is not None:
        features = i3d_features(i3d, uint8_video_to_i3d_input(results))
        truth_features = i3d_features(i3d, uint8_video_to_i3d_input(truth))
    return VideoScores(
        video_id=video_id,
        num_frames=len(truth),
        frame_scores=frame_scores,
        ewarp=ewarp(results, truth) if long_enough else None,
        ewarp_ground_truth=ewarp(truth, truth) if long_enough else None,
        features=features,
        truth_features=truth_features,
    )


def _finite_mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else None


@dataclass
class DatasetScores:
    """Scores accumulated over the videos of a dataset."""

    videos: list[VideoScores] = field(default_factory=list)

    def add(self, scores: VideoScores) -> None:
        self.videos.append(scores)

    def summary(self) -> dict[str, float | int | None]:
        """The dataset values (see the module docstring); ``None`` where a value is undefined."""
        values: dict[str, float | int | None] = {"videos": len(self.videos), "frames": sum(v.num_frames for v in self.videos)}
        for name in SCORE_NAMES:
            grouped = PerVideoScores()
            for video in self.videos:
                grouped.add(video.video_id, video.frame_scores[name])
            values[name] = grouped.dataset_mean() if any(v.frame_scores[name] for v in self.videos) else None
        values["vfid"] = self.vfid()
        values["ewarp"] = _finite_mean([v.ewarp for v in self.videos])
        values["ewarp_ground_truth"] = _finite_mean([v.ewarp_ground_truth for v in self.videos])
        return values

    def vfid(self) -> float | None:
        features = [v.features for v in self.videos if v.features is not None]
        if len(features) < 2 or len(features) != len(self.videos):
            return None
        truth = np.stack([v.truth_features for v in self.videos])
        return vfid(truth, np.stack(features))
