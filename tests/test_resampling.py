"""The protocol's filters as torch ops, against the OpenCV and PIL functions of protocol.py they reproduce:
random images and masks over random and chosen pairs of sizes, hand-computed weights, devices and dtypes."""

import numpy as np
import pytest
import torch

from sttn_lightning import protocol, resampling
from sttn_lightning.inference.roi import mask_bbox
from sttn_lightning.media import Size

CHOSEN = [
    (Size(48, 30), Size(12, 10)),  # integer ratios: OpenCV's fast area path
    (Size(36, 20), Size(12, 20)),  # an integer ratio, the other axis kept
    (Size(50, 37), Size(21, 16)),  # both shrink by non-integer ratios
    (Size(12, 10), Size(36, 30)),  # both grow by integer ratios
    (Size(21, 13), Size(50, 31)),  # both grow
    (Size(7, 13), Size(41, 23)),  # growing where positions computed in double (OpenCV's IPP path) land an ulp off a pixel
    (Size(60, 40), Size(90, 20)),  # one grows, one shrinks: OpenCV's two-tap area emulation
    (Size(40, 60), Size(20, 90)),
    (Size(90, 40), Size(30, 60)),  # the emulation shrinking by 3 reads two columns in three (the holes go one axis at a time)
    (Size(60, 40), Size(60, 20)),  # one kept, one shrinks
    (Size(60, 40), Size(90, 40)),  # one kept, one grows
    (Size(1, 7), Size(5, 2)),  # one-pixel axes
    (Size(7, 1), Size(1, 9)),
    (Size(9, 5), Size(1, 1)),
    (Size(20, 13), Size(20, 13)),  # both kept
]


def size_pairs(seed: int, count: int, largest: int = 90) -> list[tuple[Size, Size]]:
    """``count`` random (source, target) sizes, each axis shrinking, growing or kept by chance, then the chosen pairs."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, largest, (count, 4))
    sizes[::7, 2] = sizes[::7, 0]  # some widths kept
    return [(Size(int(w), int(h)), Size(int(tw), int(th))) for w, h, tw, th in sizes] + CHOSEN


def sparse_masks(rng: np.random.Generator, size: Size) -> list[np.ndarray]:
    """Scattered single pixels, denser blobs, thin lines one pixel wide, and a lone pixel."""
    scattered = (rng.random((size.height, size.width)) < 0.02).astype(np.uint8)
    dense = (rng.random((size.height, size.width)) < 0.3).astype(np.uint8)
    lines, dot = np.zeros((2, size.height, size.width), np.uint8)
    lines[rng.integers(size.height), :] = lines[:, rng.integers(size.width)] = 1
    dot[rng.integers(size.height), rng.integers(size.width)] = 1
    return [scattered, dense, lines, dot]


def opencv_hole_preserving_resize(mask: np.ndarray, size: Size) -> np.ndarray:
    """The holes' definition with OpenCV: ``resize_crop``'s filter one axis at a time in float32, hole where the weight
    is not 0 (OpenCV's IPP path leaves about 1e-15 for a weight of 0; a hole pixel weighs at least 3e-9 in crops up to 8K)."""
    across = protocol.resize_crop(mask.astype(np.float32), (size.width, mask.shape[0]))
    return (protocol.resize_crop(across, size) > 1e-10).astype(np.uint8)


def test_resize_crop_is_opencvs_within_a_grey_level_for_uint8_and_1e3_for_float32():
    rng = np.random.default_rng(0)
    equal = total = 0
    for source, size in size_pairs(1, 200):
        image = rng.integers(0, 256, (source.height, source.width, 3), dtype=np.uint8)
        expected, resized = protocol.resize_crop(image, size), resampling.resize_crop(torch.from_numpy(image), size).numpy()
        assert resized.dtype == np.uint8 and np.abs(resized.astype(int) - expected).max(initial=0) <= 1, (source, size)
        equal, total = equal + (resized == expected).sum(), total + expected.size
        values = rng.uniform(0, 255, (source.height, source.width)).astype(np.float32)
        resized = resampling.resize_crop(torch.from_numpy(values), size).numpy()
        # OpenCV hands float32 bilinear resizes to IPP, which places pixels in double: weights a few 1e-6 apart
        np.testing.assert_allclose(resized, protocol.resize_crop(values, size), rtol=0, atol=1e-3, err_msg=str((source, size)))
    assert equal / total > 0.85  # OpenCV's uint8 bilinear branches are fixed point, its area filter float32 as here


@pytest.mark.parametrize(
    "shape, size",
    [
        ((1067, 1920), Size(432, 240)),  # a 1080p crop: non-integer area shrink
        ((480, 864), Size(432, 240)),  # halving: OpenCV's fast area path
        ((100, 150), Size(432, 240)),  # enlarging
        ((300, 300), Size(432, 240)),  # one axis shrinks, the other grows
    ],
)
def test_resize_crop_and_hole_preserving_resize_at_working_sizes(shape, size):
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    resized, expected = resampling.resize_crop(torch.from_numpy(image), size).numpy(), protocol.resize_crop(image, size)
    assert np.abs(resized.astype(int) - expected).max() <= 1
    shrinking = size.width < shape[1] and size.height < shape[0]  # area averaging in float32 (halving: rounded half up) as here
    assert (resized == expected).mean() > (0.99 if shrinking else 0.85)
    masks = np.zeros((3, *shape), np.uint8)
    masks[0, shape[0] // 3 : shape[0] // 2, 10:40] = 1  # a block
    masks[1][rng.random(shape) < 0.0005] = 1  # scattered single pixels
    masks[2, -1, :] = masks[2, :, 0] = 1  # thin lines on two edges
    for mask in masks:
        working = resampling.hole_preserving_resize(torch.from_numpy(mask), size).numpy()
        np.testing.assert_array_equal(working, opencv_hole_preserving_resize(mask, size))


def test_hole_preserving_resize_is_exactly_opencvs_filters_one_axis_at_a_time():
    rng = np.random.default_rng(2)
    for source, size in size_pairs(3, 300):
        for mask in sparse_masks(rng, source) + [np.zeros((source.height, source.width), np.uint8)]:
            working = resampling.hole_preserving_resize(torch.from_numpy(mask), size).numpy()
            np.testing.assert_array_equal(working, opencv_hole_preserving_resize(mask, size), err_msg=str((source, size)))


def test_hole_preserving_resize_with_a_region_known_to_hold_the_holes_does_not_look_for_them(monkeypatch):
    rng = np.random.default_rng(8)
    pairs = size_pairs(6, 60)
    expected = {}
    for source, size in pairs:
        for index, mask in enumerate(sparse_masks(rng, source)[2:] + [np.zeros((source.height, source.width), np.uint8)]):
            expected[(source, size, index)] = (mask, resampling.hole_preserving_resize(torch.from_numpy(mask), size).numpy())
    monkeypatch.setattr(resampling, "_hole_span", lambda mask: pytest.fail("looked for the holes"))
    for (source, size, _), (mask, working) in expected.items():
        box = mask_bbox(mask)
        tight = box.slices if box is not None else (slice(0, 0), slice(0, 0))
        wider = (slice(max(tight[0].start - 2, 0), min(tight[0].stop + 3, source.height)), slice(0, source.width))  # more than the holes
        for region in (tight, wider):
            np.testing.assert_array_equal(resampling.hole_preserving_resize(torch.from_numpy(mask), size, region).numpy(), working)


@pytest.mark.parametrize("source, size", CHOSEN)
def test_hole_preserving_resize_of_every_single_row_and_column_is_opencvs(source, size):
    for axis, length in ((0, source.height), (1, source.width)):
        for index in range(length):
            line = np.zeros((source.height, source.width), np.uint8)
            line[(slice(None),) * axis + (index,)] = 1
            working = resampling.hole_preserving_resize(torch.from_numpy(line), size).numpy()
            np.testing.assert_array_equal(working, opencv_hole_preserving_resize(line, size))


def test_resize_masks_samples_the_protocols_pixels_for_every_small_pair_of_sizes():
    columns = np.broadcast_to(np.arange(60, dtype=np.uint8), (1, 3, 60))  # a pixel's value is its column
    for source in range(1, 61):
        for target in range(1, 61):
            masks = np.ascontiguousarray(columns[..., :source])
            resized = resampling.resize_masks(torch.from_numpy(masks), (target, 3)).numpy()
            np.testing.assert_array_equal(resized, protocol.resize_masks(masks, (target, 3)), err_msg=f"{source} -> {target}")
            transposed = np.ascontiguousarray(masks.transpose(0, 2, 1))  # the same along the rows
            resized = resampling.resize_masks(torch.from_numpy(transposed), (3, target)).numpy()
            np.testing.assert_array_equal(resized, protocol.resize_masks(transposed, (3, target)))


def test_resize_masks_is_exactly_the_protocols():
    rng = np.random.default_rng(4)
    for source, size in size_pairs(5, 60, largest=400):
        masks = np.stack(sparse_masks(rng, source))
        np.testing.assert_array_equal(resampling.resize_masks(torch.from_numpy(masks), size).numpy(), protocol.resize_masks(masks, size))


@pytest.mark.parametrize(
    "source, size",
    [
        (Size(854, 480), Size(432, 240)),
        (Size(1920, 1080), Size(432, 240)),
        (Size(64, 32), Size(432, 240)),
        (Size(432, 240), Size(433, 241)),
        (Size(60, 80), Size(90, 20)),  # the rows shrink most: Pillow 13 runs them first
        (Size(30, 200), Size(20, 30)),
        (Size(30, 90), Size(1, 1)),
    ],
)
def test_resize_frame_is_pils_bicubic(source, size):
    rng = np.random.default_rng(6)
    noise = rng.integers(0, 256, (source.height, source.width, 3), dtype=np.uint8)
    ramps = np.add.outer(np.arange(source.height), 2 * np.arange(source.width))[..., None] * np.array([1, 3, 7])
    for frame in (noise, (ramps % 256).astype(np.uint8)):
        resized = resampling.resize_frame(torch.from_numpy(frame), size).numpy()
        assert np.abs(resized.astype(int) - protocol.resize_frame(frame, size)).max() <= 1
        np.testing.assert_array_equal(resized, protocol.resize_frame(frame, size))  # in PIL's fixed point, equal in fact


def test_resize_frame_is_pils_bicubic_over_random_sizes():
    rng = np.random.default_rng(7)
    for source, size in size_pairs(8, 60):
        frame = rng.integers(0, 256, (source.height, source.width, 3), dtype=np.uint8)
        np.testing.assert_array_equal(resampling.resize_frame(torch.from_numpy(frame), size).numpy(), protocol.resize_frame(frame, size))


def test_dilate_holes_is_exactly_the_protocols():
    rng = np.random.default_rng(9)
    for source, _ in size_pairs(10, 30):
        masks = np.stack(sparse_masks(rng, source))
        masks[0, 0, :] = masks[1, :, -1] = 1  # holes on the border
        for iterations in (1, 2, 4, 7):
            np.testing.assert_array_equal(
                resampling.dilate_holes(torch.from_numpy(masks), iterations).numpy(), protocol.dilate_holes(masks, iterations)
            )
            np.testing.assert_array_equal(
                resampling.dilate_holes(torch.from_numpy(masks[2]), iterations).numpy(), protocol.dilate_holes(masks[2], iterations)
            )
    mask = torch.from_numpy(masks[0])
    for iterations in (0, -1):
        unchanged = resampling.dilate_holes(mask, iterations)
        assert torch.equal(unchanged, mask) and unchanged.data_ptr() != mask.data_ptr()


def test_area_and_bilinear_weights_are_hand_computed():
    area = resampling.resize_crop(torch.eye(5), Size(2, 5)).T  # row d: the weights of output pixel d over the 5 sources
    expected = torch.tensor([[1, 1, 0.5, 0, 0], [0, 0, 0.5, 1, 1]]) / 2.5
    torch.testing.assert_close(area, expected)
    bilinear = resampling.resize_crop(torch.eye(2), Size(4, 2)).T
    torch.testing.assert_close(bilinear, torch.tensor([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]]))
    lines = torch.eye(3).expand(2, 3, 3).permute(2, 0, 1)  # column j of line j is hole; two rows, shrinking to one
    emulation = torch.stack([resampling.resize_crop(line, Size(4, 1))[0] for line in lines], dim=1)  # 3 -> 4 columns
    torch.testing.assert_close(emulation, torch.tensor([[1, 0, 0], [1 / 3, 2 / 3, 0], [0, 2 / 3, 1 / 3], [0, 0, 1]]))


def test_nearest_samples_pils_pixels():
    masks = torch.arange(5, dtype=torch.uint8).expand(1, 1, 5)
    assert resampling.resize_masks(masks, (2, 1)).flatten().tolist() == [1, 3]  # centres at 1.25 and 3.75
    assert resampling.resize_masks(masks[..., :3], (2, 1)).flatten().tolist() == [0, 2]  # centres at 0.75 and 2.25


def test_filters_after_an_inference_run_still_carry_gradients():
    image = torch.rand(13, 17)
    with torch.inference_mode():  # the run that first computes (and keeps) the taps
        expected = resampling.resize_crop(image, Size(7, 5))
    trained = image.clone().requires_grad_()
    resized = resampling.resize_crop(trained, Size(7, 5))
    resized.sum().backward()
    torch.testing.assert_close(resized.detach(), expected, rtol=0, atol=0)
    assert trained.grad is not None and trained.grad.abs().sum() > 0


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_results_keep_the_device_and_dtype_and_are_new_tensors(device):
    frame = torch.zeros(20, 30, 3, dtype=torch.uint8, device=device)
    mask = torch.zeros(20, 30, dtype=torch.uint8, device=device)
    results = [
        (resampling.resize_crop(frame, (12, 9)), torch.uint8),
        (resampling.resize_crop(frame.float(), (40, 25)), torch.float32),
        (resampling.resize_masks(mask[None], (12, 9)), torch.uint8),
        (resampling.resize_frame(frame, (12, 9)), torch.uint8),
        (resampling.dilate_holes(mask, 2), torch.uint8),
    ]
    for result, dtype in results:
        assert result.device == frame.device and result.dtype == dtype
    if device == "cpu":  # the holes' resize finds where the holes are: not on the meta device, which holds no values
        results += [(resampling.hole_preserving_resize(mask, size), torch.uint8) for size in ((12, 25), (30, 20))]
        assert all(result.data_ptr() not in (frame.data_ptr(), mask.data_ptr()) for result, _ in results)
        assert all(result.device == frame.device and result.dtype == dtype for result, dtype in results)
    assert resampling.resize_crop(frame, (30, 20)) is frame and resampling.resize_frame(frame, (30, 20)) is frame
    assert resampling.resize_masks(mask[None], (30, 20)).shape == (1, 20, 30)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CI has none; run on a GPU machine)")
def test_on_cuda_the_filters_give_the_cpus_pixels():
    rng = np.random.default_rng(9)
    for source, size in CHOSEN:
        image = torch.from_numpy(rng.integers(0, 256, (source.height, source.width, 3), dtype=np.uint8))
        mask = torch.from_numpy(sparse_masks(rng, source)[0])
        on_cuda, on_cpu = resampling.resize_crop(image.cuda(), size).cpu().numpy(), resampling.resize_crop(image, size).numpy()
        assert np.abs(on_cuda.astype(int) - on_cpu).max() <= 1  # float32 sums, which a GPU may fuse differently
        for function, value in (  # integer or {0, 1} arithmetic: the same everywhere
            (resampling.resize_frame, image),
            (resampling.hole_preserving_resize, mask),
            (resampling.resize_masks, mask[None]),
        ):
            np.testing.assert_array_equal(function(value.cuda(), size).cpu().numpy(), function(value, size).numpy(), err_msg=str(function))
        np.testing.assert_array_equal(resampling.dilate_holes(mask.cuda(), 3).cpu().numpy(), resampling.dilate_holes(mask, 3).numpy())
