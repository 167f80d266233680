"""Clip-consistent augmentation: one set of albumentations parameters for every frame of a clip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import numpy as np

from sttn_lightning.data.errors import DataError
from sttn_lightning.media import Size
from sttn_lightning.protocol import resize_crop, resize_frame

RELEASE_AUGMENTATIONS: tuple[dict[str, Any], ...] = ({"name": "HorizontalFlip", "p": 0.5},)
FRAME_RESIZES = {"release": resize_frame, "native": resize_crop}


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
    """One of the protocol's frame resizes to the training size, then the augmentations with
    parameters sampled once per clip. ``frame_resize``: ``release`` (PIL bicubic, what inference and
    evaluation feed the model) or ``native`` (the native protocol's area filter, cheaper).

    albumentations applies one parameter draw to all of ``images``, so flips, crops and colour
    jitter are identical across frames. Masks are drawn after the transform, at its output size.
    """

    def __init__(
        self,
        height: int,
        width: int,
        augmentations: Sequence[Mapping[str, Any] | A.BasicTransform] = (),
        frame_resize: str = "release",
    ):
        if frame_resize not in FRAME_RESIZES:
            raise DataError(f"data.frame_resize: expected one of {tuple(FRAME_RESIZES)}, found {frame_resize!r}")
        self.size = Size(int(width), int(height))
        self.resize = FRAME_RESIZES[frame_resize]
        self.compose = A.Compose([build_augmentation(s) for s in augmentations])

    def __call__(self, frames: np.ndarray, seed: int = 0) -> np.ndarray:
        """uint8 frames (t, H, W, 3) at the training size, augmented; the same seed gives the same result."""
        resized = np.stack([self.resize(frame, self.size) for frame in frames])
        self.compose.set_random_seed(seed)
        augmented = self.compose(images=resized)["images"]
        if Size.of(augmented[0]) != self.size:
            raise DataError(
                f"data.augmentations: expected clips of {self.size} after augmentation, found "
                f"{Size.of(augmented[0])}; use size-preserving transforms (e.g. RandomResizedCrop to that size)"
            )
        return np.asarray(augmented)
