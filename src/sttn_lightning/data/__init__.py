"""Training data: clip sampling, clip-consistent augmentation, the embedded demo dataset and the
LightningDataModule over ``sttn_lightning.media`` collections.

Names are imported on first use, so ``sttn_lightning.data.demo`` (which evaluation uses to write
the demo set) works without Lightning or albumentations installed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ClipTransform": "sttn_lightning.data.transforms",
    "DataError": "sttn_lightning.data.errors",
    "EpochShuffleSampler": "sttn_lightning.data.datasets",
    "VideoInpaintingDataModule": "sttn_lightning.data.datamodule",
    "generate_demo_dataset": "sttn_lightning.data.demo",
    "sample_frame_indices": "sttn_lightning.data.sampling",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
