"""The working-size protocol, against hand-computed values: resizing frames, crops, predictions and
masks, hole dilation, value conversions and compositing."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sttn_lightning.media import Size
from sttn_lightning.protocol import (
    RELEASE_DILATION,
    composite,
    dilate_holes,
    hide_holes,
    hole_preserving_resize,
    prediction_pixels,
    resize_crop,
    resize_frame,
    resize_masks,
    torch_kernels,
    to_model_input,
    to_pixel_values,
    truncate_pixels,
    working_holes,
)


@pytest.mark.parametrize("size", [Size(17, 11), Size(45, 31)])
def test_resize_frame_is_pil_bicubic(size):
    frame = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    resized = resize_frame(frame, size)
    assert resized.shape == (size.height, size.width, 3) and resized.dtype == np.uint8
    np.testing.assert_array_equal(resized, np.asarray(Image.fromarray(frame).resize(size, Image.BICUBIC)))
    assert not np.array_equal(resized, cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)), "OpenCV's bicubic differs"
    assert resize_frame(frame, (30, 20)) is frame


def test_resize_crop_shrinks_by_area_and_enlarges_bilinearly():
    rows = np.tile(np.array([0, 0, 9, 0, 0, 9], np.float32), (3, 1))  # (3, 6)
    np.testing.assert_array_equal(resize_crop(rows, Size(2, 1)), [[3, 3]])  # each 3x3 block's mean
    np.testing.assert_array_equal(resize_crop(np.array([[0, 8]], np.float32), Size(4, 1)), [[0, 2, 6, 8]])
    assert resize_crop(rows, Size(6, 3)) is rows


def whole(size: Size) -> tuple[slice, slice]:
    return slice(0, size.height), slice(0, size.width)


def test_prediction_pixels_are_bilinear_both_ways():
    row = torch.tensor([-1, -1, 1, -1, -1, 1], dtype=torch.float32).view(1, 6, 1).expand(1, 6, 3)
    torch.testing.assert_close(prediction_pixels(row, Size(2, 1), whole(Size(2, 1))), torch.zeros(1, 2, 3))  # samples x = 1 and 4
    wider = prediction_pixels(torch.tensor([-1.0, 1.0]).view(1, 2, 1).expand(1, 2, 3), Size(4, 1), whole(Size(4, 1)))
    torch.testing.assert_close(wider[..., 0], torch.tensor([[0.0, 63.75, 191.25, 255.0]]))
    assert prediction_pixels(torch.zeros(10, 20, 3), Size(40, 20), whole(Size(40, 20))).shape == (20, 40, 3)


def test_prediction_pixels_of_a_region_are_only_its_pixels():
    column = torch.tensor([-1.0, 1.0]).view(2, 1, 1).expand(2, 3, 3)  # rows 0 and 255, enlarged to 4 rows
    region = prediction_pixels(column, Size(3, 4), (slice(1, 3), slice(2, 3)))
    torch.testing.assert_close(region, torch.tensor([63.75, 191.25]).view(2, 1, 1).expand(2, 1, 3))
    same_size = torch.linspace(-1, 1, 24).view(2, 4, 3)
    unchanged = prediction_pixels(same_size, Size(4, 2), (slice(0, 1), slice(1, 3)))
    assert torch.equal(unchanged, to_pixel_values(same_size[:1, 1:3]))
    unchanged += 1
    assert torch.equal(same_size, torch.linspace(-1, 1, 24).view(2, 4, 3)), "a new tensor, not a view of the output"


@pytest.mark.parametrize(
    "source, size, rows, columns",
    [
        ((24, 32), Size(61, 37), slice(0, 37), slice(0, 61)),  # enlarging, the whole image
        ((24, 32), Size(61, 37), slice(5, 20), slice(40, 61)),  # a region touching the right edge
        ((240, 432), Size(1920, 1067), slice(346, 714), slice(476, 1444)),  # the 1080p hole box of the benchmark
        ((240, 432), Size(500, 250), slice(0, 1), slice(499, 500)),  # one pixel in a corner
        ((30, 40), Size(13, 9), slice(2, 7), slice(3, 11)),  # shrinking
    ],
)
def test_prediction_pixels_of_a_region_equal_resizing_the_whole_then_slicing(source, size, rows, columns):
    prediction = torch.from_numpy(np.random.default_rng(5).uniform(-1, 1, (3, *source)).astype(np.float32))
    pixels = to_pixel_values(prediction)
    whole_crop = F.interpolate(pixels[None], size=(size.height, size.width), mode="bilinear", align_corners=False)[0]
    region = prediction_pixels(prediction.permute(1, 2, 0), size, (rows, columns))  # channels last, a view as the runner's
    # float32 source positions (as F.interpolate's) near 432 carry ~3e-5 of rounding: 0.01 of a grey level
    torch.testing.assert_close(region, whole_crop[:, rows, columns].permute(1, 2, 0), rtol=0, atol=1e-2)


@pytest.mark.parametrize("size", [Size(61, 37), Size(13, 9)])
def test_prediction_pixels_match_opencvs_linear_resize(size):
    prediction = np.random.default_rng(4).uniform(-1, 1, (24, 32, 3)).astype(np.float32)
    expected = cv2.resize(to_pixel_values(prediction), size, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(prediction_pixels(torch.from_numpy(prediction), size, whole(size)).numpy(), expected, atol=1e-3)


def test_resize_masks_is_pil_nearest_not_opencv_nearest():
    masks = np.zeros((1, 4, 5), np.uint8)
    masks[0, 1, 1] = masks[0, 3, 3] = 1  # PIL samples rows 1, 3 and columns 1, 3; OpenCV's nearest rows 0, 2 and columns 0, 2
    np.testing.assert_array_equal(resize_masks(masks, Size(2, 2)), [[[1, 0], [0, 1]]])
    np.testing.assert_array_equal(resize_masks(masks, Size(5, 2)), [[[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]]])
    pil_nearest = np.asarray(Image.fromarray(masks[0]).resize((2, 2), Image.NEAREST))
    np.testing.assert_array_equal(resize_masks(masks, Size(2, 2))[0], pil_nearest)
    assert cv2.resize(masks[0], (2, 2), interpolation=cv2.INTER_NEAREST).sum() == 0
    assert resize_masks(masks, Size(5, 4)) is masks


def test_hole_preserving_resize_keeps_a_thin_hole_that_nearest_loses():
    mask = np.zeros((40, 80), np.uint8)
    mask[:, 41] = 1  # one column; a nearest downscale by 4 samples columns 2, 6, ..., 42 and skips it
    working = hole_preserving_resize(mask, Size(20, 10))
    assert working.shape == (10, 20) and working.dtype == np.uint8
    assert working[:, 10].all() and working.sum() == 10
    assert resize_masks(mask[None], Size(20, 10)).sum() == 0


def test_hole_preserving_resize_grows_a_hole_when_enlarging():
    mask = np.array([[1, 0], [0, 0]], np.uint8)
    expected = np.zeros((4, 4), np.uint8)
    expected[:3, :3] = 1  # every working pixel with some bilinear weight on the hole
    np.testing.assert_array_equal(hole_preserving_resize(mask, Size(4, 4)), expected)


@pytest.mark.parametrize(
    "shape, size",
    [
        ((1067, 1920), Size(432, 240)),  # a 1080p crop: area shrink, non-integer scales
        ((480, 864), Size(432, 240)),  # integer scales: OpenCV's fast area path
        ((240, 700), Size(432, 240)),  # one axis kept
        ((100, 150), Size(432, 240)),  # enlarging: bilinear
    ],
)
def test_hole_preserving_resize_equals_resizing_the_whole_mask(shape, size):
    rng = np.random.default_rng(7)
    masks = [np.zeros(shape, np.uint8) for _ in range(4)]
    masks[0][shape[0] // 3 : shape[0] // 2, 10:40] = 1  # a block
    masks[1][rng.random(shape) < 0.0005] = 1  # scattered single pixels
    masks[2][-1, :] = masks[2][:, 0] = 1  # a thin line on two edges
    for mask in masks:  # the last is empty
        whole = cv2.resize(mask.astype(np.float32), size, interpolation=resize_interpolation(shape, size)) > 1e-6
        np.testing.assert_array_equal(hole_preserving_resize(mask, size), whole.astype(np.uint8))


def test_hole_preserving_resize_keeps_thin_holes_when_one_axis_grows_and_the_other_shrinks():
    mask = np.zeros((40, 90), np.uint8)
    mask[:, 2] = 1  # one column; OpenCV's area filter on both axes at once reads two columns in three and skips it
    assert cv2.resize(mask.astype(np.float32), (30, 60), interpolation=cv2.INTER_AREA).max() == 0
    working = hole_preserving_resize(mask, Size(30, 60))
    assert working[:, 0].all() and working[:, 1:].sum() == 0  # the area filter puts columns 0-2 in working column 0


def resize_interpolation(shape: tuple[int, int], size: Size) -> int:
    return cv2.INTER_AREA if size.width < shape[1] or size.height < shape[0] else cv2.INTER_LINEAR


def test_dilation_with_cross_matches_hand_computed():
    mask = np.zeros((5, 5), np.uint8)
    mask[2, 2] = 1
    once = np.array(
        [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], np.uint8
    )
    twice = np.array(
        [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]], np.uint8
    )
    np.testing.assert_array_equal(dilate_holes(mask, 1), once)
    np.testing.assert_array_equal(dilate_holes(np.stack([mask, once]), 1), np.stack([once, twice]))
    np.testing.assert_array_equal(dilate_holes(mask, 2), twice)
    unchanged = dilate_holes(mask, 0)
    np.testing.assert_array_equal(unchanged, mask)
    assert unchanged is not mask
    rows, cols = np.mgrid[0:9, 0:9]
    within_four_steps = (np.abs(rows - 4) + np.abs(cols - 4) <= 4).astype(np.uint8)
    np.testing.assert_array_equal(dilate_holes(np.pad(mask, 2), RELEASE_DILATION), within_four_steps)  # the release's 4 iterations


def test_working_holes_resize_nearest_then_dilate_with_a_cross():
    masks = np.zeros((1, 8, 12), np.uint8)
    masks[0, 4:6, 6:8] = 255  # nearest to 6x4 samples rows 1, 3, 5, 7 and columns 1, 3, ..., 11: one pixel at (2, 3)
    expected = np.zeros((4, 6), np.uint8)
    expected[2, 3] = expected[1, 3] = expected[3, 3] = expected[2, 2] = expected[2, 4] = 1
    holes = working_holes(masks, Size(6, 4), dilation=1)
    np.testing.assert_array_equal(holes[0], expected)
    np.testing.assert_array_equal(holes, dilate_holes(resize_masks((masks > 0).astype(np.uint8), Size(6, 4)), 1))
    undilated = np.zeros((4, 6), np.uint8)
    undilated[2, 3] = 1
    np.testing.assert_array_equal(working_holes(masks, Size(6, 4), dilation=0)[0], undilated)


def test_prediction_pixels_after_an_inference_run_still_carry_gradients():
    prediction = torch.rand(4, 6, 3)
    region = (slice(2, 9), slice(1, 11))
    with torch.inference_mode():  # the run that first computes (and keeps) the taps
        expected = prediction_pixels(prediction, Size(12, 10), region)
    trained = prediction.clone().requires_grad_()
    pixels = prediction_pixels(trained, Size(12, 10), region)
    pixels.sum().backward()
    torch.testing.assert_close(pixels.detach(), expected, rtol=0, atol=0)
    assert trained.grad is not None and trained.grad.abs().sum() > 0


@pytest.mark.parametrize("layout", ["channels last, as to_model_input makes it", "channels first"])
def test_hide_holes_zeroes_every_channel_of_the_hole_pixels_in_place(layout):
    frames = np.random.default_rng(1).integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    values = to_model_input(frames)
    values = values if layout.startswith("channels last") else values.contiguous()
    holes = torch.zeros(2, 3, 4, dtype=torch.uint8)
    holes[0, 1, 2] = holes[1, 0, 0] = holes[1, 2, 3] = 1
    expected = values * (1 - holes[:, None].float())
    assert hide_holes(values, holes) is values
    torch.testing.assert_close(values, expected, rtol=0, atol=0)
    assert (values[0, :, 1, 2] == 0).all() and (values[1, :, 2, 3] == 0).all()
    assert torch.count_nonzero(values) == values.numel() - 3 * 3  # no uint8 value maps to 0


def test_to_model_input_scales_to_minus_one_one_and_moves_channels_first():
    frames = np.zeros((2, 1, 2, 3), np.uint8)
    frames[0, 0, 0] = [0, 255, 128]
    frames[1, 0, 1] = [255, 0, 51]
    tensor = to_model_input(frames)
    assert tensor.shape == (2, 3, 1, 2) and tensor.dtype == torch.float32
    torch.testing.assert_close(tensor[0, :, 0, 0], torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]))
    torch.testing.assert_close(tensor[1, :, 0, 1], torch.tensor([1.0, -1.0, 51 / 127.5 - 1]))
    assert (tensor[0, :, 0, 1] == -1).all() and (tensor[1, :, 0, 0] == -1).all()
    torch.testing.assert_close(to_model_input(torch.from_numpy(frames)), tensor)
    assert to_model_input(frames[0]).shape == (3, 1, 2)


def test_to_pixel_values_maps_minus_one_one_to_0_255():
    assert to_pixel_values(np.array([-1.0, 0.0, 1.0])).tolist() == [0.0, 127.5, 255.0]
    assert to_pixel_values(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0.0, 127.5, 255.0]


def test_truncate_pixels_clips_and_truncates_like_the_releases_uint8_conversion():
    values = torch.tensor([27.5, 27.99, 255.9, -1.0, 254.9, -3.0, 300.0, -0.5])
    expected = [27, 27, 255, 0, 254, 0, 255, 0]
    assert np.clip(values.numpy(), 0, 255).astype(np.uint8).tolist() == expected  # the release's conversion
    assert truncate_pixels(values) is values and values.dtype == torch.float32 and values.tolist() == expected  # in place


def test_composite_takes_holes_from_prediction():
    frames = torch.tensor([1.0, 2.0, 3.0])
    prediction = torch.tensor([-1.0, -2.0, -3.0])
    holes = torch.tensor([0.0, 1.0, 0.0])
    assert composite(prediction, frames, holes).tolist() == [1.0, -2.0, 3.0]
    frame = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    predicted = np.full((2, 2, 3), 200, np.uint8)
    hole = np.array([[0, 1], [255, 0]], np.uint8)[..., None]  # any non-zero value is hole
    expected = frame.copy()
    expected[0, 1] = expected[1, 0] = 200
    result = composite(predicted, frame, hole)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)
    assert frame[0, 1].tolist() == [3, 4, 5], "the frame is left as it was"
    wider = np.pad(frame, ((0, 0), (1, 1), (0, 0)))
    region = wider[:, 1:3]  # a view of part of a frame, as the runner's hole box
    assert composite(predicted, region, hole, in_place=True) is region
    np.testing.assert_array_equal(wider, np.pad(expected, ((0, 0), (1, 1), (0, 0))))
    tensor_frame = torch.from_numpy(np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    assert composite(torch.from_numpy(predicted), tensor_frame, torch.from_numpy(hole), in_place=True) is tensor_frame
    np.testing.assert_array_equal(tensor_frame.numpy(), expected)


def test_composite_refuses_arrays_of_other_shapes_or_types_before_writing():
    frame = np.zeros((2, 2, 3), np.uint8)
    hole = np.ones((2, 2, 1), np.uint8)
    for predicted, holes, found in (
        (np.ones((2, 3, 3), np.uint8), hole, r"\(2, 3, 3\) uint8"),
        (np.ones((2, 2, 3), np.float32), hole, "float32"),
        (np.ones((2, 2, 3), np.uint8), np.ones((2, 2), np.uint8), r"and \(2, 2\)$"),
    ):
        with pytest.raises(ValueError, match=r"expected a prediction like the frame \(2, 2, 3\) uint8 .* found .*" + found):
            composite(predicted, frame, holes, in_place=True)
        assert not frame.any(), "nothing written"


def test_tensors_are_filtered_by_opencv_on_the_cpu_and_by_torch_ops_under_torch_kernels(monkeypatch):
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    tensor = torch.from_numpy(image)
    from_opencv = resize_crop(tensor, Size(20, 12))
    assert isinstance(from_opencv, torch.Tensor)
    np.testing.assert_array_equal(from_opencv.numpy(), resize_crop(image, Size(20, 12)))
    def opencv_resize(*args, **kwargs):
        raise AssertionError("OpenCV ran")

    monkeypatch.setattr(cv2, "resize", opencv_resize)
    with torch_kernels():
        from_torch = resize_crop(tensor, Size(20, 12))
    assert np.abs(from_torch.numpy().astype(int) - from_opencv.numpy()).max() <= 1
    with pytest.raises(AssertionError, match="OpenCV ran"):
        resize_crop(tensor, Size(20, 12))  # outside the block, the CPU tensor goes to OpenCV again
