"""Masks: the release's blobs, fixed evaluation sets written once, dilation."""

import cv2
import numpy as np
import pytest

from sttn_lightning.data import (
    BoxMasks,
    DataError,
    FolderMasks,
    GeneratedMasks,
    build_mask_set,
    build_source,
    centred_box_masks,
    dilate_masks,
    load_video_masks,
    random_blob,
    random_video_masks,
    resize_masks,
)
from sttn_lightning.data.masks import write_mask_folder
from tests.data.conftest import COUNTS, HEIGHT, WIDTH, write_mask_folders


def test_dilation_with_cross_matches_hand_computed():
    mask = np.zeros((5, 5), np.uint8)
    mask[2, 2] = 1
    once = np.array(
        [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], np.uint8
    )
    twice = np.array(
        [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]], np.uint8
    )
    np.testing.assert_array_equal(dilate_masks(mask, 1), once)
    np.testing.assert_array_equal(dilate_masks(np.stack([mask, once]), 1), np.stack([once, twice]))
    np.testing.assert_array_equal(dilate_masks(mask, 2), twice)
    np.testing.assert_array_equal(dilate_masks(mask, 0), mask)


def test_blob_fills_its_box_and_is_closed():
    blob = random_blob(np.random.default_rng(3), 60, 100)
    assert blob.shape == (60, 100) and set(np.unique(blob)) == {0, 1}
    rows, cols = np.nonzero(blob)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (0, 59, 0, 99)
    assert blob[30, 50] == 1


def _box(mask):
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


@pytest.mark.parametrize("height, width", [(240, 432), (120, 216)])
def test_blob_box_sizes_scale_with_resolution(height, width):
    for seed in range(20):
        masks = random_video_masks(np.random.default_rng(seed), 1, height, width, p_stationary=1.0)
        box_h, box_w = _box(masks[0])
        assert round(height / 3) <= box_h <= height - 1
        assert round(width / 3) <= box_w <= width - 1


def test_moving_masks_move_and_stationary_ones_do_not():
    for seed in range(5):
        moving = random_video_masks(np.random.default_rng(seed), 10, 60, 108, p_stationary=0.0)
        assert any(not np.array_equal(moving[t], moving[t + 1]) for t in range(9))
        assert moving.sum(axis=(1, 2)).min() > 0
        still = random_video_masks(np.random.default_rng(seed), 10, 60, 108, p_stationary=1.0)
        assert all(np.array_equal(still[0], frame) for frame in still)


def test_same_seed_same_masks_other_seed_other_masks():
    first = random_video_masks(np.random.default_rng(7), 5, 60, 108)
    again = random_video_masks(np.random.default_rng(7), 5, 60, 108)
    other = random_video_masks(np.random.default_rng(8), 5, 60, 108)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.dtype == np.uint8 and set(np.unique(first)) <= {0, 1}


def test_centred_box():
    masks = centred_box_masks(2, 4, 6, (0.5, 0.5))
    expected = np.zeros((4, 6), np.uint8)
    expected[1:3, 1:4] = 1
    np.testing.assert_array_equal(masks, np.stack([expected, expected]))
    np.testing.assert_array_equal(BoxMasks((0.5, 0.5)).read("any", 3, (4, 6), [0, 2]), masks)


def test_generated_set_is_written_once_and_read_back(tmp_path):
    mask_set = GeneratedMasks(tmp_path / "cache", "moving", seed=5)
    first = mask_set.read("clip", 6, (30, 54))
    folder = mask_set.folder("clip", (30, 54))
    assert sorted(p.name for p in folder.iterdir()) == [f"{t:05d}.png" for t in range(6)]
    assert list(folder.parent.iterdir()) == [folder]
    np.testing.assert_array_equal(GeneratedMasks(tmp_path / "cache", "moving", seed=5).read("clip", 6, (30, 54)), first)
    np.testing.assert_array_equal(mask_set.read("clip", 6, (30, 54), [1, 4]), first[[1, 4]])
    cv2.imwrite(str(folder / "00002.png"), np.zeros((30, 54), np.uint8))
    assert mask_set.read("clip", 6, (30, 54))[2].sum() == 0, "masks must come from disk once written"
    stationary = GeneratedMasks(tmp_path / "cache", "stationary", seed=5).read("clip", 6, (30, 54))
    assert all(np.array_equal(stationary[0], m) for m in stationary)


def test_generated_set_with_other_length_is_an_error(tmp_path):
    mask_set = GeneratedMasks(tmp_path, "moving", seed=0)
    mask_set.read("clip", 4, (30, 54))
    with pytest.raises(DataError, match=r"clip: expected 6 masks, one per frame of the video, found 4"):
        mask_set.read("clip", 6, (30, 54))


def test_write_mask_folder_keeps_the_first_writer(tmp_path):
    ones = np.ones((2, 3, 4), np.uint8)
    write_mask_folder(tmp_path / "m", ones)
    write_mask_folder(tmp_path / "m", np.zeros_like(ones))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert (cv2.imread(str(tmp_path / "m" / "00000.png"), cv2.IMREAD_GRAYSCALE) == 255).all()


def test_folder_masks_binarise_any_positive_value(tmp_path):
    folder = tmp_path / "masks" / "v"
    folder.mkdir(parents=True)
    image = np.zeros((4, 5, 3), np.uint8)
    image[1, 2, 2] = 1
    cv2.imwrite(str(folder / "00000.png"), image)
    masks = FolderMasks(tmp_path / "masks").read("v", 1, (4, 5))
    expected = np.zeros((1, 4, 5), np.uint8)
    expected[0, 1, 2] = 1
    np.testing.assert_array_equal(masks, expected)


def test_folder_masks_validate_count_and_size(frames_root):
    write_mask_folders(frames_root, {"a": COUNTS["a"] - 1, "b": COUNTS["b"], "c": COUNTS["c"]})
    source = build_source(frames_root, split="train")
    with pytest.raises(DataError, match=r"test_masks/a: expected 8 masks, one per frame of .*JPEGImages/a, found 7"):
        FolderMasks(frames_root / "test_masks").validate(source)
    (frames_root / "test_masks" / "a" / "00000.png").unlink()
    write_mask_folders(frames_root / "resized", {"a": COUNTS["a"]}, HEIGHT // 2, WIDTH // 2)
    for path in (frames_root / "resized" / "test_masks" / "a").iterdir():
        path.replace(frames_root / "test_masks" / "a" / path.name)
    with pytest.raises(DataError, match=r"a/00000.png: expected size \(48, 64\) \(H, W\) like .*JPEGImages/a, found \(24, 32\)"):
        FolderMasks(frames_root / "test_masks").validate(source)


def test_missing_mask_folder(frames_root):
    source = build_source(frames_root, split="train")
    with pytest.raises(DataError, match=r"test_masks/a: expected a folder of mask PNGs, found nothing there"):
        build_mask_set("folder", frames_root / "test_masks").validate(source)


def test_unknown_mask_set_kind(tmp_path):
    with pytest.raises(DataError, match="mask set kind: expected"):
        build_mask_set("stripes", tmp_path)


def test_whole_video_masks_for_evaluation(frames_root):
    write_mask_folders(frames_root, {"d": COUNTS["d"]})
    source = build_source(frames_root, split="test")
    masks = load_video_masks(FolderMasks(frames_root / "test_masks"), source, "d", size=(12, 16), dilation=1)
    expected = np.zeros((12, 16), np.uint8)
    expected[:6, :8] = 1  # the 24x32 top-left hole at half size
    expected[6, :8] = 1  # one cross dilation: a row below and a column to the right, corner excluded
    expected[:6, 8] = 1
    np.testing.assert_array_equal(masks, np.broadcast_to(expected, (COUNTS["d"], 12, 16)))
    np.testing.assert_array_equal(resize_masks(masks, (12, 16)), masks)
