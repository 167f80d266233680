"""Clip-consistent augmentation: one set of albumentations parameters for every frame of a clip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import numpy as np
import torch

from sttn_lightning.data.errors import DataError

RELEASE_AUGMENTATIONS: tuple[dict[str, Any], ...] = ({"name": "HorizontalFlip", "p": 0.5},)


def _plain(value: Any) -> Any:
    """Config containers (e.g. OmegaConf's) to dicts and lists, which albumentations validates."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def build_augmentation(spec: Mapping[str, Any] | A.BasicTransform) -> A.BasicTransform:
    """An albumentations transform from {'name': 'HorizontalFlip', 'p': 0.5} (YAML-friendly) or as given."""
    if isinstance(spec, A.BasicTransform):
        return spec
    kwargs = _plain(spec)
    name = kwargs.pop("name", None)
    transform_class = getattr(A, str(name), None)
    if not isinstance(transform_class, type) or not issubclass(transform_class, A.BasicTransform):
        raise DataError(f"data.augmentations: expected an albumentations transform name, found {name!r}")
    return transform_class(**kwargs)


class ClipTransform:
    """Resize to (height, width) then the augmentations, with parameters sampled once per clip.

    albumentations applies one parameter draw to all of `images` and `masks`, so flips, crops and
    colour jitter are identical across frames and geometric ones move the masks with the frames.
    """

    def __init__(self, height: int, width: int, augmentations: Sequence[Mapping[str, Any] | A.BasicTransform] = ()):
        self.size = (int(height), int(width))
        self.compose = A.Compose([A.Resize(height, width), *(build_augmentation(s) for s in augmentations)])

    def __call__(self, frames: np.ndarray, masks: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
        """frames uint8 (t, H, W, 3), masks uint8 (t, H, W) or None; same seed, same result."""
        self.compose.set_random_seed(seed)
        if masks is None:
            out_frames, out_masks = self.compose(images=frames)["images"], None
        else:
            result = self.compose(images=frames, masks=masks)
            out_frames, out_masks = result["images"], np.asarray(result["masks"])
        if out_frames.shape[1:3] != self.size:
            raise DataError(
                f"data.augmentations: expected clips of size {self.size} (H, W) after augmentation, "
                f"found {out_frames.shape[1:3]}; use size-preserving transforms (e.g. RandomResizedCrop to that size)"
            )
        return out_frames, out_masks


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (t, H, W, 3) -> float (t, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def masks_to_tensor(masks: np.ndarray) -> torch.Tensor:
    """uint8 {0, 1} (t, H, W) -> float (t, 1, H, W) in {0, 1}."""
    return torch.from_numpy(np.ascontiguousarray(masks)).float().unsqueeze(1)
