"""PSNR / SSIM against hand-computed values and scikit-image, and the torchmetrics wrappers."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from sttn_lightning.metrics import (
    VideoPSNR,
    VideoSSIM,
    psnr,
    ssim,
    ssim_window,
    to_uint8_frames,
)


def _to_unit_range(frames_uint8: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1] that maps back to the same bytes."""
    return torch.from_numpy(frames_uint8).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _random_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def _ssim_of_constants(a: float, b: float) -> float:
    """SSIM of two constant images: only the luminance term remains, C1 = (0.01 * 255)^2."""
    c1 = (0.01 * 255) ** 2
    return (2 * a * b + c1) / (a * a + b * b + c1)


def test_uint8_conversion_rounds_and_clamps():
    values = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0])
    frame = values.view(1, 1, 6).expand(3, 1, 6)
    assert to_uint8_frames(frame)[0, 0, :, 0].tolist() == [0, 0, 128, 191, 255, 255]
    every_byte = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
    np.testing.assert_array_equal(to_uint8_frames(_to_unit_range(every_byte)), every_byte)


def test_psnr_of_constant_error_of_one_is_48_1308_db():
    target = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(target + 1, target) == pytest.approx(48.1308, abs=1e-4)


def test_psnr_over_holes_uses_hole_pixels_only():
    target = np.full((10, 10, 3), 50, np.uint8)
    pred = target.copy()
    hole = np.zeros((10, 10), bool)
    hole[:5] = True
    pred[hole] += 4
    assert psnr(pred, target, hole) == pytest.approx(20 * math.log10(255 / 4))
    assert psnr(pred, target) == pytest.approx(20 * math.log10(255 / math.sqrt(8)))
    with pytest.raises(ValueError, match="no hole pixels"):
        psnr(pred, target, np.zeros((10, 10), bool))


def test_identical_frames_have_infinite_psnr_and_it_propagates_to_the_mean():
    frames = _random_frames(2, 8, 8)
    assert psnr(frames[0], frames[0]) == math.inf
    metric = VideoPSNR()
    metric.update(_to_unit_range(frames), _to_unit_range(frames[::-1].copy()))
    assert math.isfinite(metric.compute().item())
    metric.update(_to_unit_range(frames[:1]), _to_unit_range(frames[:1]))
    assert metric.compute().item() == math.inf


@pytest.mark.parametrize("size, window", [((240, 432), 65), ((64, 64), 63), ((40, 50), 39)])
def test_ssim_equals_scikit_image_with_the_papers_arguments(size, window):
    assert ssim_window(*size) == window
    pred, target = _random_frames(2, *size, seed=1)
    pred = (pred // 2 + target // 2).astype(np.uint8)
    expected = structural_similarity(
        pred.astype(np.float64),
        target.astype(np.float64),
        data_range=255,
        channel_axis=-1,
        win_size=window,
    )
    assert ssim(pred, target) == pytest.approx(expected, abs=1e-12)


def test_ssim_window_rejects_frames_under_three_pixels():
    with pytest.raises(ValueError, match="2x8"):
        ssim_window(2, 8)


def test_ssim_of_constant_frames_matches_the_closed_form_over_frame_and_holes():
    pred = np.full((70, 70, 3), 100, np.uint8)
    target = np.full((70, 70, 3), 110, np.uint8)
    hole = np.zeros((70, 70), bool)
    hole[3:9, 60:] = True
    expected = _ssim_of_constants(100, 110)
    assert ssim(pred, target) == pytest.approx(expected, abs=1e-9)
    assert ssim(pred, target, hole) == pytest.approx(expected, abs=1e-9)
    assert ssim(target, target, hole) == pytest.approx(1.0)


def test_video_psnr_is_frame_weighted_across_updates():
    target = np.full((3, 6, 6, 3), 128, np.uint8)
    pred = target.copy()
    pred[0] += 1
    pred[1:] += 2
    metric = VideoPSNR()
    metric.update(_to_unit_range(pred[:1]), _to_unit_range(target[:1]))
    metric.update(_to_unit_range(pred[1:]), _to_unit_range(target[1:]))
    per_frame = [20 * math.log10(255), 20 * math.log10(255 / 2), 20 * math.log10(255 / 2)]
    assert metric.compute().item() == pytest.approx(sum(per_frame) / 3)


def test_merged_states_equal_one_metric_over_all_frames():
    """merge_state applies the dist_reduce_fx reductions, i.e. what DDP sync does."""
    pred, target = _to_unit_range(_random_frames(5, 70, 72, seed=2)), _to_unit_range(
        _random_frames(5, 70, 72, seed=3)
    )
    for metric_class in (VideoPSNR, VideoSSIM):
        whole, first, second = metric_class(), metric_class(), metric_class()
        whole.update(pred, target)
        first.update(pred[:1], target[:1])
        second.update(pred[1:], target[1:])
        first.merge_state(second)
        assert first.compute().item() == pytest.approx(whole.compute().item(), abs=1e-12)
        assert first.frame_count.item() == 5


def test_hole_region_needs_masks_and_skips_frames_without_holes():
    target = np.full((2, 6, 6, 3), 128, np.uint8)
    pred = target.copy()
    pred[:, :3] += 4
    masks = torch.zeros(1, 2, 1, 6, 6)
    masks[0, 0, 0, :3] = 1
    hole_psnr = VideoPSNR(region="hole")
    hole_psnr.update(_to_unit_range(pred)[None], _to_unit_range(target)[None], masks)
    assert hole_psnr.frame_count.item() == 1
    assert hole_psnr.compute().item() == pytest.approx(20 * math.log10(255 / 4))
    with pytest.raises(ValueError, match="needs masks"):
        hole_psnr.update(_to_unit_range(pred), _to_unit_range(target))
    with pytest.raises(ValueError, match="takes no masks"):
        VideoSSIM().update(_to_unit_range(pred)[None], _to_unit_range(target)[None], masks)
    no_holes = VideoSSIM(region="hole")
    no_holes.update(_to_unit_range(pred)[None], _to_unit_range(target)[None], torch.zeros_like(masks))
    assert no_holes.frame_count.item() == 0
    assert math.isnan(no_holes.compute().item())


def test_frame_scores_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        VideoPSNR().update(torch.zeros(2, 3, 8, 8), torch.zeros(3, 3, 8, 8))
