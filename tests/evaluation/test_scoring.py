"""Scores of one video and of a dataset against hand-computed values."""

import math

import numpy as np
import pytest

from sttn_lightning.evaluation import DatasetScores, VideoScorer, VideoScores
from sttn_lightning.metrics import ewarp


def score_video(video_id: str, results: np.ndarray, truth: np.ndarray, holes: np.ndarray, with_ewarp: bool = True) -> VideoScores:
    """A whole video fed to the streaming scorer frame by frame, as the pipeline feeds it."""
    scorer = VideoScorer(video_id, with_ewarp=with_ewarp)
    for result, frame, hole in zip(results, truth, holes):
        scorer.add(result, frame, hole)
    return scorer.scores()


def _video(seed: int, frames: int = 4, height: int = 24, width: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(10, 240, size=(frames, height, width, 3), dtype=np.uint8)


def _holes(frames: int = 4, height: int = 24, width: int = 32) -> np.ndarray:
    holes = np.zeros((frames, height, width), np.uint8)
    holes[:, 8:16, 8:24] = 1
    return holes


def test_identical_result_scores_infinite_psnr_ssim_one_and_ground_truth_ewarp():
    truth = _video(0)
    scores = score_video("v", truth.copy(), truth, _holes())
    assert all(math.isinf(s) for s in scores.frame_scores["psnr"] + scores.frame_scores["hole_psnr"])
    assert scores.frame_scores["ssim"] == pytest.approx([1.0] * 4)
    assert scores.frame_scores["hole_ssim"] == pytest.approx([1.0] * 4)
    assert scores.ewarp == scores.ewarp_ground_truth


def test_constant_error_of_one_level_gives_48_13_db_in_frame_and_hole():
    truth = _video(1)
    result = truth + 1
    scores = score_video("v", result, truth, _holes(), with_ewarp=False)
    expected = 20 * math.log10(255)  # MSE 1
    assert scores.frame_scores["psnr"] == pytest.approx([expected] * 4)
    assert scores.frame_scores["hole_psnr"] == pytest.approx([expected] * 4)
    assert expected == pytest.approx(48.1308, abs=1e-4)
    assert scores.ewarp is None


def test_frames_without_holes_have_no_hole_score():
    truth = _video(2)
    holes = _holes()
    holes[1:] = 0
    scores = score_video("v", truth + 1, truth, holes, with_ewarp=False)
    assert len(scores.frame_scores["psnr"]) == 4
    assert len(scores.frame_scores["hole_psnr"]) == 1


def test_dataset_psnr_is_frame_weighted_not_video_weighted():
    dataset = DatasetScores()
    truth_a, truth_b = _video(3, frames=1), _video(4, frames=3)
    dataset.videos.append(score_video("a", truth_a + 1, truth_a, _holes(1), with_ewarp=False))  # MSE 1
    dataset.videos.append(score_video("b", truth_b + 2, truth_b, _holes(3), with_ewarp=False))  # MSE 4
    expected = (20 * math.log10(255) + 3 * 20 * math.log10(255 / 2)) / 4
    summary = dataset.summary()
    assert summary["psnr"] == pytest.approx(expected)
    assert summary["frames"] == 4 and summary["videos"] == 2
    assert summary["vfid"] is None and summary["ewarp"] is None


def test_mismatched_shapes_are_rejected_naming_the_video():
    truth = _video(5)
    with pytest.raises(ValueError, match="video v"):
        score_video("v", truth[:, :20], truth, _holes())


def test_streamed_ewarp_equals_the_whole_video_metric():
    truth = _video(6, frames=5)
    result = truth.copy()
    result[:, 8:16, 8:24] //= 2
    scores = score_video("v", result, truth, _holes(5))
    assert scores.ewarp == pytest.approx(ewarp(result, truth), rel=1e-12)
    assert scores.ewarp_ground_truth == pytest.approx(ewarp(truth, truth), rel=1e-12)
