"""Reading and writing video, free of Lightning and albumentations: frame readers (folders, zips,
video files, arrays), mask readers and fixed mask sets, dataset collections and output writers."""

from sttn_lightning.media.collection import VideoCollection, detect_layout, open_eval_set, read_split_file
from sttn_lightning.media.errors import MediaError
from sttn_lightning.media.frames import ArrayFrames, FolderFrames, ZipFrames, open_frames
from sttn_lightning.media.masks import (
    ArrayMasks,
    MaskReader,
    MaskSet,
    build_mask_set,
    check_masks,
    open_masks,
    write_mask_folder,
)
from sttn_lightning.media.reader import FrameReader
from sttn_lightning.media.size import Size
from sttn_lightning.media.writers import check_folder, check_output, open_writer

__all__ = [
    "ArrayFrames",
    "ArrayMasks",
    "FolderFrames",
    "FrameReader",
    "MaskReader",
    "MaskSet",
    "MediaError",
    "Size",
    "VideoCollection",
    "ZipFrames",
    "build_mask_set",
    "check_folder",
    "check_masks",
    "check_output",
    "detect_layout",
    "open_eval_set",
    "open_frames",
    "open_masks",
    "open_writer",
    "read_split_file",
    "write_mask_folder",
]
