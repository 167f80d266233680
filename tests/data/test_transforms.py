"""Clip transforms: the protocol's resize, then one parameter draw per clip; size-changing augmentations refused."""

import albumentations as A
import numpy as np
import pytest
from omegaconf import OmegaConf

from sttn_lightning.data import ClipTransform, DataError
from sttn_lightning.data.transforms import build_augmentation
from sttn_lightning.media import Size
from sttn_lightning.protocol import resize_crop, resize_frame

AUGMENTATIONS = [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "RandomResizedCrop", "size": (24, 32), "scale": (0.3, 0.9), "p": 1.0},
    {"name": "ColorJitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 1.0},
]


def _clip(num_frames=4):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    return np.repeat(frame[None], num_frames, axis=0)


def test_every_frame_gets_the_same_augmentation():
    transform = ClipTransform(24, 32, OmegaConf.create(AUGMENTATIONS))
    assert transform.size == Size(32, 24)
    for seed in range(6):
        frames = transform(_clip(), seed=seed)
        assert frames.shape == (4, 24, 32, 3) and frames.dtype == np.uint8
        for frame in frames[1:]:
            np.testing.assert_array_equal(frame, frames[0])


def test_without_augmentations_the_clip_is_the_protocols_resize():
    clip = np.random.default_rng(1).integers(0, 256, size=(3, 48, 64, 3), dtype=np.uint8)
    frames = ClipTransform(24, 32)(clip, seed=5)
    np.testing.assert_array_equal(frames, np.stack([resize_frame(frame, Size(32, 24)) for frame in clip]))


def test_geometric_augmentations_move_the_content():
    frames = np.zeros((3, 48, 64, 3), np.uint8)
    frames[:, 8:20, 4:16] = 255
    flipped = ClipTransform(24, 32, [{"name": "HorizontalFlip", "p": 1.0}])(frames, seed=1)
    np.testing.assert_array_equal(flipped, ClipTransform(24, 32)(frames)[:, :, ::-1])
    assert flipped[..., 16:, 0].sum() > flipped[..., :16, 0].sum(), "the flip moves the white box to the right"


def test_same_seed_same_result_and_seeds_differ():
    transform = ClipTransform(24, 32, AUGMENTATIONS)
    first = transform(_clip(), seed=3)
    again = transform(_clip(), seed=3)
    np.testing.assert_array_equal(first, again)
    assert any(not np.array_equal(first, transform(_clip(), seed=s)) for s in range(4, 8))


def test_size_changing_augmentation_is_rejected():
    transform = ClipTransform(24, 32, [{"name": "CenterCrop", "height": 10, "width": 12}])
    with pytest.raises(DataError, match=r"expected clips of 32x24 after augmentation, found 12x10; use size-preserving"):
        transform(_clip())


def test_unknown_augmentation_name():
    with pytest.raises(DataError, match="expected an albumentations transform name, found 'Flipz'"):
        build_augmentation({"name": "Flipz"})
    flip = A.HorizontalFlip(p=1.0)
    assert build_augmentation(flip) is flip


def test_frame_resize_chooses_between_the_protocols_rules():
    clip = np.random.default_rng(3).integers(0, 256, (2, 30, 54, 3), dtype=np.uint8)
    release = ClipTransform(12, 20)(clip)
    native = ClipTransform(12, 20, frame_resize="native")(clip)
    np.testing.assert_array_equal(release, np.stack([resize_frame(frame, (20, 12)) for frame in clip]))
    np.testing.assert_array_equal(native, np.stack([resize_crop(frame, (20, 12)) for frame in clip]))
    with pytest.raises(DataError, match="data.frame_resize: expected one of"):
        ClipTransform(12, 20, frame_resize="bilinear")
