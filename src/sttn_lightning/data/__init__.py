"""Video inpainting data: sources (frame folders, release zips, video files), masks, clip
augmentation, the embedded demo dataset and the LightningDataModule that ties them."""

from sttn_lightning.data.datamodule import VideoInpaintingDataModule
from sttn_lightning.data.datasets import EpochShuffleSampler, RandomClipDataset, VideoWindowDataset
from sttn_lightning.data.demo import generate_demo_dataset
from sttn_lightning.data.errors import DataError
from sttn_lightning.data.masks import (
    BoxMasks,
    FolderMasks,
    GeneratedMasks,
    MaskSet,
    build_mask_set,
    centred_box_masks,
    dilate_masks,
    load_video_masks,
    random_blob,
    random_video_masks,
    resize_masks,
)
from sttn_lightning.data.sampling import sample_frame_indices, window_indices, window_starts
from sttn_lightning.data.sources import (
    FrameFolderSource,
    VideoFileSource,
    VideoSource,
    ZipSource,
    build_source,
    detect_layout,
)
from sttn_lightning.data.transforms import ClipTransform, frames_to_tensor, masks_to_tensor

__all__ = [
    "BoxMasks",
    "ClipTransform",
    "DataError",
    "EpochShuffleSampler",
    "FolderMasks",
    "FrameFolderSource",
    "GeneratedMasks",
    "MaskSet",
    "RandomClipDataset",
    "VideoFileSource",
    "VideoInpaintingDataModule",
    "VideoSource",
    "VideoWindowDataset",
    "ZipSource",
    "build_mask_set",
    "build_source",
    "centred_box_masks",
    "detect_layout",
    "dilate_masks",
    "frames_to_tensor",
    "generate_demo_dataset",
    "load_video_masks",
    "masks_to_tensor",
    "random_blob",
    "random_video_masks",
    "resize_masks",
    "sample_frame_indices",
    "window_indices",
    "window_starts",
]
