"""Scores of one evaluation: every metric of the follow-up papers' protocol, per video and overall.

The scorer sees only uint8 frames at the working resolution, one at a time: the composited result,
the ground truth and the (dilated) hole mask. Where the result comes from (a generator run or a
folder of saved frames) is not its concern, so the same numbers come out for both.

Dataset values, as the papers report them:
- ``psnr`` / ``ssim``: frame-weighted means over every frame of the dataset (``quality.psnr`` /
  ``quality.ssim``); ``hole_psnr`` / ``hole_ssim`` the same over hole pixels, frames without a
  hole left out. A result identical to the ground truth has PSNR ``inf``.
- ``vfid``: Frechet distance between the I3D features of the result videos and of the ground-truth
  videos (``vfid.vfid``); ``None`` when no I3D weights were given or fewer than 2 videos exist.
- ``ewarp``: flow warping error of the results (``ewarp.WarpErrorMean``, raw MSE of RGB in [0, 1], flow on
  the ground truth), mean over videos; ``ewarp_ground_truth`` is the same for the ground truth
  itself, the floor a perfect result reaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sttn_lightning.metrics import (
    InceptionI3d,
    WarpErrorMean,
    dis_flow,
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


class VideoScorer:
    """Scores one video frame by frame, as the pipeline emits it: the sink of a streamed evaluation.

    Per-frame PSNR/SSIM are computed on arrival; E_warp keeps only the previous pair of frames
    (the flow is computed once per ground-truth pair and serves the result and the ground truth).
    I3D needs the whole clip at once, so with an I3D model the working-size uint8 frames of the
    video are buffered until ``scores``.
    """

    def __init__(self, video_id: str, i3d: InceptionI3d | None = None, with_ewarp: bool = True) -> None:
        self.video_id = video_id
        self.i3d = i3d
        self.with_ewarp = with_ewarp
        self.frame_scores: dict[str, list[float]] = {name: [] for name in SCORE_NAMES}
        self.num_frames = 0
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._warp = {"result": WarpErrorMean(), "truth": WarpErrorMean()}
        self._clips: dict[str, list[np.ndarray]] = {"result": [], "truth": []}

    def add(self, result: np.ndarray, truth: np.ndarray, holes: np.ndarray) -> None:
        """One frame: (H, W, 3) uint8 composited result and ground truth, (H, W) hole mask."""
        if result.shape != truth.shape or holes.shape != truth.shape[:2]:
            raise ValueError(
                f"video {self.video_id}: expected a result {truth.shape} and holes {truth.shape[:2]} like the ground "
                f"truth, found {result.shape} and {holes.shape}"
            )
        hole = holes.astype(bool)[None]
        for name, score, region in (("psnr", psnr, None), ("ssim", ssim, None), ("hole_psnr", psnr, hole), ("hole_ssim", ssim, hole)):
            self.frame_scores[name] += uint8_frame_scores(score, result[None], truth[None], region)
        if self.with_ewarp and self._previous is not None:
            previous_result, previous_truth = self._previous
            forward, backward = dis_flow(previous_truth, truth), dis_flow(truth, previous_truth)
            self._warp["result"].add(previous_result, result, forward, backward)
            self._warp["truth"].add(previous_truth, truth, forward, backward)
        self._previous = (result, truth)
        if self.i3d is not None:
            self._clips["result"].append(result)
            self._clips["truth"].append(truth)
        self.num_frames += 1

    def scores(self) -> VideoScores:
        """The video's scores once every frame was added."""
        long_enough = self.with_ewarp and self.num_frames >= 2
        features = truth_features = None
        if self.i3d is not None:
            features = i3d_features(self.i3d, uint8_video_to_i3d_input(np.stack(self._clips["result"])))
            truth_features = i3d_features(self.i3d, uint8_video_to_i3d_input(np.stack(self._clips["truth"])))
        return VideoScores(
            video_id=self.video_id,
            num_frames=self.num_frames,
            frame_scores=self.frame_scores,
            ewarp=self._warp["result"].value() if long_enough else None,
            ewarp_ground_truth=self._warp["truth"].value() if long_enough else None,
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

    def summary(self) -> dict[str, float | int | None]:
        """The dataset values (see the module docstring); ``None`` where a value is undefined."""
        values: dict[str, float | int | None] = {"videos": len(self.videos), "frames": sum(v.num_frames for v in self.videos)}
        for name in SCORE_NAMES:  # frame-weighted: the mean over every frame of every video
            scores = [score for video in self.videos for score in video.frame_scores[name]]
            values[name] = float(np.mean(scores)) if scores else None
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
