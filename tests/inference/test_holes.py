"""Holes located without dilating whole frames and dilated inside their boxes equal the protocol's whole-frame holes."""

import numpy as np
import pytest
import torch

from sttn_lightning.inference.frame_cache import Holes
from sttn_lightning.inference.roi import Box, mask_bbox
from sttn_lightning.media import ArrayMasks, Size
from sttn_lightning.protocol import working_holes


@pytest.mark.parametrize(
    "mask_size, frame_size, dilation",
    [(Size(40, 30), Size(40, 30), 4), (Size(40, 30), Size(40, 30), 0), (Size(80, 60), Size(40, 30), 4), (Size(20, 15), Size(40, 30), 2)],
)
def test_boxes_and_holes_in_them_equal_the_whole_frames_dilated_holes(mask_size, frame_size, dilation):
    rng = np.random.default_rng(1)
    masks = np.zeros((5, mask_size.height, mask_size.width), np.uint8)
    masks[0, 0, 0] = masks[0, -1, -1] = 1  # corners: the grown box is clipped to the frame
    masks[1] = rng.random(masks.shape[1:]) < 0.01  # scattered pixels
    masks[2, 5:9, 10:20] = 255  # a block
    masks[3, 7, :] = 1  # a thin line across the frame
    holes = Holes(ArrayMasks(masks), frame_size, dilation)
    expected = working_holes(masks, frame_size, dilation)
    boxes = holes.boxes(len(masks))
    assert boxes == [mask_bbox(hole) for hole in expected]
    assert boxes[4] is None
    indices = [index for index, box in enumerate(boxes) if box is not None]
    for index, in_box in zip(indices, holes.read_in(indices, [boxes[index] for index in indices], torch.device("cpu"))):
        np.testing.assert_array_equal(in_box.numpy(), expected[index][boxes[index].slices])


def test_a_grown_box_is_clipped_to_its_limit():
    frame = Box(0, 0, 10, 8)
    assert Box(3, 2, 5, 4).grown(2, frame) == Box(1, 0, 7, 6)
    assert Box(0, 0, 10, 8).grown(4, frame) == frame
    assert Box(3, 2, 5, 4).grown(0, frame) == Box(3, 2, 5, 4)
