"""The release's random holes: closed blobs filling their box, sizes that scale, moving or still, seeded."""

import numpy as np
import pytest

from sttn_lightning.media.blobs import centred_box_masks, random_blob, random_video_masks, video_seed


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


def test_video_seed_depends_on_the_seed_and_the_video_id():
    def draw(seed, video_id):
        return tuple(video_seed(seed, video_id).integers(0, 2**30, size=2))

    assert draw(0, "bear") == draw(0, "bear")
    assert len({draw(0, "bear"), draw(1, "bear"), draw(0, "car")}) == 3


def test_centred_box():
    masks = centred_box_masks(2, 4, 6, (0.5, 0.5))
    expected = np.zeros((4, 6), np.uint8)
    expected[1:3, 1:4] = 1
    np.testing.assert_array_equal(masks, np.stack([expected, expected]))
