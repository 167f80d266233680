"""Hole masks: readers for one video (an image, a folder, a mask video, an array, a box) and the
fixed mask sets that give every video of a test set the same holes for every model.

Readers return uint8 {0, 1} (H, W) masks at the size they are stored at; bringing them to a
working size is the protocol's job (``sttn_lightning.protocol``). Non-zero = hole.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sttn_lightning.errors import OutputFault
from sttn_lightning.media.blobs import centred_box_masks, random_video_masks, video_seed
from sttn_lightning.media.errors import MediaError
from sttn_lightning.media.images import check_size, image_files, is_image_name, read_mask_image, to_holes
from sttn_lightning.media.size import Size
from sttn_lightning.media.writers import publish_folder

if TYPE_CHECKING:
    from sttn_lightning.media.collection import VideoCollection

MASK_REPEAT = ("error", "last")
ASPECT_TOLERANCE = 0.01  # relative; absorbs the rounding of a mask saved at a scaled size


class MaskReader(ABC):
    """The holes of one video's frames; ``count`` masks (None: one for every frame)."""

    path: Path
    size: Size
    count: int | None = None

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        """uint8 {0, 1} (H, W) masks of the given frames; past the last mask the last one repeats."""
        if self.count is None:
            return self._read([0] * len(indices))
        return self._read([min(index, self.count - 1) for index in indices])

    @abstractmethod
    def _read(self, positions: Sequence[int]) -> list[np.ndarray]:
        """Masks at valid positions."""


class SingleMask(MaskReader):
    """One mask image (or a ``mask`` made for ``path``), the same hole in every frame."""

    def __init__(self, path: Path, mask: np.ndarray | None = None) -> None:
        self.path = path
        self._mask = read_mask_image(path) if mask is None else mask
        self.size = Size.of(self._mask)

    def _read(self, positions: Sequence[int]) -> list[np.ndarray]:
        return [self._mask] * len(positions)


class FolderMasks(MaskReader):
    """A folder of mask images in name order, one per frame."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = image_files(path, "a folder of mask images")
        self.count = len(self._files)
        self.size = Size.of(read_mask_image(self._files[0]))

    def _read(self, positions: Sequence[int]) -> list[np.ndarray]:
        first = self._files[0].name
        return [check_size(read_mask_image(self._files[i]), self.size, str(self._files[i]), first, "mask") for i in positions]


class VideoMasks(MaskReader):
    """A mask video, one mask per frame, decoded forward like any input video."""

    def __init__(self, path: Path) -> None:
        from sttn_lightning.media.video import StreamedVideo

        self.path = path
        self._video = StreamedVideo(path, "mask")
        self.count = self._video.num_frames
        self.size = self._video.size

    def _read(self, positions: Sequence[int]) -> list[np.ndarray]:
        return [to_holes(frame) for frame in self._video.read(positions)]


class ArrayMasks(MaskReader):
    """(T, H, W) masks in memory, non-zero = hole."""

    def __init__(self, masks: np.ndarray) -> None:
        if masks.ndim != 3 or len(masks) == 0:
            raise MediaError(f"masks: expected a (T, H, W) array with T >= 1, found shape {masks.shape}")
        self.path = Path("<masks in memory>")
        self._masks = masks
        self.count = len(masks)
        self.size = Size.of(masks[0])

    def _read(self, positions: Sequence[int]) -> list[np.ndarray]:
        return [to_holes(self._masks[position]) for position in positions]


def _same_aspect(size: Size, other: Size) -> bool:
    return abs(size.width * other.height - size.height * other.width) <= ASPECT_TOLERANCE * size.height * other.width


def check_masks(masks: MaskReader, num_frames: int, frame_size: Size, video: Path | str, mask_repeat: str = "error") -> MaskReader:
    """Refuse masks whose count or aspect ratio does not fit the video, before any work; returns ``masks``."""
    if mask_repeat not in MASK_REPEAT:
        raise MediaError(f"mask_repeat: expected one of {MASK_REPEAT}, found {mask_repeat!r}")
    count = masks.count
    if count is not None and count != num_frames and not (count < num_frames and mask_repeat == "last"):
        fix = "pass mask_repeat=last to reuse the last mask" if count < num_frames else "remove the extra masks"
        raise MediaError(f"{masks.path}: expected {num_frames} masks, one per frame of {video}, found {count}; {fix}")
    if not _same_aspect(masks.size, frame_size):
        raise MediaError(
            f"{masks.path}: expected masks of {frame_size} (or the same aspect ratio) like the frames of {video}, "
            f"found {masks.size}; resize or pad the masks to the video's size"
        )
    return masks


def open_masks(path: str | os.PathLike) -> MaskReader:
    """The masks at ``path``: one image (every frame), a folder of per-frame images or a mask video."""
    path = Path(path)
    if path.is_dir():
        return FolderMasks(path)
    if not path.is_file():
        raise MediaError(f"{path}: expected a mask image, folder of masks or mask video, found nothing there")
    if is_image_name(path.name):
        return SingleMask(path)
    return VideoMasks(path)


def write_mask_folder(folder: Path, masks: np.ndarray) -> None:
    """Write masks as 00000.png ... (0/255) atomically: a temp folder renamed into place; first writer wins."""

    def write(temp: Path) -> None:
        for index, mask in enumerate(masks):
            file = temp / f"{index:05d}.png"
            if not cv2.imwrite(str(file), mask.astype(np.uint8) * 255):
                raise OutputFault(folder, f"OpenCV could not write {file.name}; check the disk space and permissions of {folder.parent}", index)

    publish_folder(folder, write, folder.is_dir)


class MaskSet(ABC):
    """Fixed masks for the videos of a test set, so every model is scored on the same holes."""

    @abstractmethod
    def reader(self, video_id: str, num_frames: int, frame_size: Size) -> MaskReader:
        """The masks of one video, checked against its frame count and size."""

    def validate(self, collection: VideoCollection) -> None:
        """Check every video's masks up front (cheap: listings and one header each)."""
        for video_id in collection.video_ids:
            self.reader(video_id, collection.num_frames(video_id), collection.frame_size(video_id))


class FolderMaskSet(MaskSet):
    """root/<video_id>/00000.png ..., one mask per frame."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def reader(self, video_id: str, num_frames: int, frame_size: Size) -> MaskReader:
        folder = self.root / video_id
        if not folder.is_dir():
            raise MediaError(f"{folder}: expected a folder of masks for video {video_id!r}, found nothing there")
        return check_masks(FolderMasks(folder), num_frames, frame_size, f"video {video_id!r}")


class BoxMaskSet(MaskSet):
    """A centred box covering ``fraction`` of the height and width of every frame."""

    def __init__(self, fraction: Sequence[float] = (0.5, 0.5)) -> None:
        self.fraction = (float(fraction[0]), float(fraction[1]))

    def reader(self, video_id: str, num_frames: int, frame_size: Size) -> MaskReader:
        box = centred_box_masks(1, frame_size.height, frame_size.width, self.fraction)[0]
        return SingleMask(Path(f"<centred box {self.fraction[0]:g}x{self.fraction[1]:g}>"), box)


class GeneratedMaskSet(MaskSet):
    """Seeded random blobs written once under cache_dir/<kind>_seed<seed>/<H>x<W>/<video_id>/, then read back.

    Reading from disk rather than regenerating keeps the holes identical even if the generator
    code changes later, so results of different models stay comparable.
    """

    def __init__(self, cache_dir: str | os.PathLike, kind: str = "moving", seed: int = 0) -> None:
        if kind not in ("stationary", "moving"):
            raise MediaError(f"mask kind: expected 'stationary' or 'moving', found {kind!r}")
        self.cache_dir = Path(cache_dir)
        self.kind = kind
        self.seed = int(seed)

    def folder(self, video_id: str, frame_size: Size) -> Path:
        """Where the masks of one video at one size are stored."""
        return self.cache_dir / f"{self.kind}_seed{self.seed}" / f"{frame_size.height}x{frame_size.width}" / video_id

    def reader(self, video_id: str, num_frames: int, frame_size: Size) -> MaskReader:
        folder = self.folder(video_id, frame_size)
        if not folder.is_dir():
            p_stationary = 1.0 if self.kind == "stationary" else 0.0
            masks = random_video_masks(
                video_seed(self.seed, video_id), num_frames, frame_size.height, frame_size.width, p_stationary=p_stationary
            )
            write_mask_folder(folder, masks)
        return check_masks(FolderMasks(folder), num_frames, frame_size, f"video {video_id!r}")

    def validate(self, collection: VideoCollection) -> None:
        """Nothing to check: the masks are made to fit."""


MASK_SET_KINDS = ("auto", "folder", "box", "stationary", "moving")


def build_mask_set(
    kind: str,
    dataset_root: str | os.PathLike,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    fraction: Sequence[float] = (0.5, 0.5),
) -> MaskSet:
    """A test set's fixed masks by name.

    ``folder``: per-video mask folders under ``root`` (default <dataset_root>/test_masks);
    ``box``: a centred box of ``fraction``; ``stationary`` / ``moving``: seeded blobs written once
    under ``root`` (default <cache_dir>/masks/<dataset name>); ``auto``: ``folder`` when
    <dataset_root>/test_masks exists, else ``moving``.
    """
    dataset_root = Path(dataset_root)
    if kind == "auto":
        kind = "folder" if (dataset_root / "test_masks").is_dir() else "moving"
    if kind == "box":
        return BoxMaskSet(fraction)
    if kind == "folder":
        return FolderMaskSet(root if root is not None else dataset_root / "test_masks")
    if kind in ("stationary", "moving"):
        cache = Path(cache_dir) if cache_dir is not None else dataset_root / ".cache"
        return GeneratedMaskSet(root if root is not None else cache / "masks" / dataset_root.name, kind, seed)
    raise MediaError(f"eval_masks: expected one of {MASK_SET_KINDS}, found {kind!r}")
