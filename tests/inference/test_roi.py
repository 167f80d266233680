"""Crops around holes: tight boxes, context, aspect, minimum size, frame edges (resizing is tests/test_protocol.py's)."""

import numpy as np

from sttn_lightning.inference.roi import Box, context_crop, mask_bbox, union


def test_mask_bbox_is_tight_and_exclusive():
    mask = np.zeros((10, 20), np.uint8)
    mask[2:5, 7:9] = 1
    mask[6, 3] = 1
    assert mask_bbox(mask) == Box(3, 2, 9, 7)
    assert mask_bbox(np.zeros((4, 4), np.uint8)) is None


def test_intersection():
    assert Box(0, 0, 10, 10).intersection(Box(5, 8, 20, 20)) == Box(5, 8, 10, 10)
    assert Box(0, 0, 10, 10).intersection(Box(10, 0, 20, 10)) is None


def test_box_slices_and_relative():
    box = Box(3, 2, 9, 7)
    image = np.arange(10 * 20).reshape(10, 20)
    assert (box.width, box.height) == (6, 5)
    assert np.array_equal(image[box.slices], image[2:7, 3:9])
    assert Box(5, 4, 8, 6).relative(box) == Box(2, 2, 5, 4)


def test_union_skips_frames_without_holes():
    assert union([Box(1, 2, 3, 4), None, Box(0, 3, 2, 8)]) == Box(0, 2, 3, 8)
    assert union([None, None]) is None


def test_small_hole_gets_a_working_size_crop_centred_on_it():
    # 10x10 hole at (100..110, 50..60); margin 0.5 -> 20x20, aspect 2 -> 40x20, at least 64x32
    crop = context_crop(Box(100, 50, 110, 60), (400, 300), (64, 32), margin=0.5)
    assert crop == Box(73, 39, 137, 71)


def test_large_hole_crop_keeps_the_working_aspect_with_context():
    # 100x20 hole; margin 0.5 -> 200x40; aspect 2 -> 200x100, centred on (250, 150)
    crop = context_crop(Box(200, 140, 300, 160), (1000, 500), (64, 32), margin=0.5)
    assert crop == Box(150, 100, 350, 200)


def test_crop_is_shifted_inside_the_frame_and_covers_the_hole():
    crop = context_crop(Box(0, 0, 6, 4), (400, 300), (64, 32), margin=0.5)
    assert crop == Box(0, 0, 64, 32)
    crop = context_crop(Box(390, 295, 400, 300), (400, 300), (64, 32), margin=0.5)
    assert crop == Box(336, 268, 400, 300)


def test_crop_is_clipped_to_a_frame_smaller_than_the_working_size():
    assert context_crop(Box(5, 5, 10, 10), (41, 23), (64, 32), margin=0.5) == Box(0, 0, 41, 23)
