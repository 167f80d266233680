"""Clip transforms: one parameter draw per clip, masks follow geometry, tensors in range."""

import albumentations as A
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sttn_lightning.data import ClipTransform, DataError, frames_to_tensor, masks_to_tensor
from sttn_lightning.data.transforms import build_augmentation

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
    for seed in range(6):
        frames, _ = transform(_clip(), seed=seed)
        assert frames.shape == (4, 24, 32, 3)
        for frame in frames[1:]:
            np.testing.assert_array_equal(frame, frames[0])


def test_masks_follow_geometric_transforms():
    frames = np.zeros((3, 48, 64, 3), np.uint8)
    masks = np.zeros((3, 48, 64), np.uint8)
    frames[:, 8:20, 4:16] = 255
    masks[:, 8:20, 4:16] = 1
    transform = ClipTransform(24, 32, [{"name": "HorizontalFlip", "p": 1.0}, {"name": "Rotate", "limit": 30, "p": 1.0}])
    out_frames, out_masks = transform(frames, masks, seed=1)
    assert out_masks.shape == (3, 24, 32)
    white = out_frames[..., 0] > 127
    agreement = (white == out_masks.astype(bool)).mean()
    assert agreement > 0.97
    assert out_masks[:, :, 16:].sum() > out_masks[:, :, :16].sum(), "the flip moves the hole to the right"


def test_same_seed_same_result_and_seeds_differ():
    transform = ClipTransform(24, 32, AUGMENTATIONS)
    first, _ = transform(_clip(), seed=3)
    again, _ = transform(_clip(), seed=3)
    np.testing.assert_array_equal(first, again)
    assert any(not np.array_equal(first, transform(_clip(), seed=s)[0]) for s in range(4, 8))


def test_size_changing_augmentation_is_rejected():
    transform = ClipTransform(24, 32, [{"name": "CenterCrop", "height": 10, "width": 10}])
    with pytest.raises(DataError, match=r"expected clips of size \(24, 32\).*found \(10, 10\)"):
        transform(_clip())


def test_unknown_augmentation_name():
    with pytest.raises(DataError, match="expected an albumentations transform name, found 'Flipz'"):
        build_augmentation({"name": "Flipz"})
    flip = A.HorizontalFlip(p=1.0)
    assert build_augmentation(flip) is flip


def test_tensor_conversion_ranges():
    frames = np.array([0, 255, 128], np.uint8).reshape(1, 1, 1, 3)
    tensor = frames_to_tensor(frames)
    assert tensor.shape == (1, 3, 1, 1)
    torch.testing.assert_close(tensor.flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]))
    masks = masks_to_tensor(np.array([[[0, 1]]], np.uint8))
    assert masks.shape == (1, 1, 1, 2) and masks.dtype == torch.float32
