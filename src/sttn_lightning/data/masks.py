"""Hole masks: the release's random blobs (stationary or moving), fixed evaluation sets, dilation.

Every mask is uint8 in {0, 1} (1 = hole), shaped (t, H, W) for a video. Randomness comes only
from a numpy Generator passed in, so the same seed gives the same masks in any process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sttn_lightning.data.errors import DataError

if TYPE_CHECKING:
    from sttn_lightning.data.sources import VideoSource

REFERENCE_SIZE = (240, 432)
BEZIER_SAMPLES = 16
CROSS_KERNEL = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def dilate_masks(masks: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Dilate binary masks (H, W) or (t, H, W) with a 3x3 cross, as the release's test protocol does."""
    if iterations <= 0:
        return masks.copy()
    if masks.ndim == 2:
        return cv2.dilate(masks, CROSS_KERNEL, iterations=iterations)
    return np.stack([cv2.dilate(m, CROSS_KERNEL, iterations=iterations) for m in masks])


def _bezier_outline(control: np.ndarray) -> np.ndarray:
    """Points along the closed chain of cubic Bezier segments through `control` (3k+1, 2)."""
    t = np.linspace(0.0, 1.0, BEZIER_SAMPLES, endpoint=False)[:, None]
    weights = np.concatenate([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3], axis=1)
    segments = [weights @ control[i : i + 4] for i in range(0, len(control) - 1, 3)]
    return np.concatenate(segments)


def random_blob(rng: np.random.Generator, height: int, width: int, ratio: float = 0.7) -> np.ndarray:
    """A closed Bezier blob (6-8 corners) filling a (height, width) box, uint8 {0, 1}."""
    corners = int(rng.integers(6, 9))
    num_points = 3 * corners + 1
    angles = np.linspace(0.0, 2 * np.pi, num_points)
    radii = 2 * ratio * rng.random(num_points) + 1 - ratio
    control = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
    control[-1] = control[0]
    outline = _bezier_outline(control)
    low, high = outline.min(0), outline.max(0)
    scaled = (outline - low) / np.maximum(high - low, 1e-6) * [width - 1, height - 1]
    blob = np.zeros((height, width), np.uint8)
    cv2.fillPoly(blob, [np.round(scaled).astype(np.int32)], 1)
    return blob


def _random_velocity(rng: np.random.Generator, min_speed: float, max_speed: float) -> tuple[float, float]:
    return float(rng.uniform(min_speed, max_speed)), float(rng.uniform(0, 2 * np.pi))


def random_video_masks(
    rng: np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    p_stationary: float = 0.5,
    speed_range: tuple[float, float] = (1.0, 3.0),
    speed_std: float = 1.5,
    angle_std: float = 0.25,
) -> np.ndarray:
    """The release's training mask for one clip: a random blob, stationary with p_stationary else moving.

    Box sizes and speeds are given at 432x240 in the release and scale with (height, width).
    The blob stays inside the frame; the speed's random walk is kept within [0, max speed].
    """
    box_h = int(rng.integers(round(height / 3), height))
    box_w = int(rng.integers(round(width / 3), width))
    blob = random_blob(rng, box_h, box_w)
    scale = (height / REFERENCE_SIZE[0] + width / REFERENCE_SIZE[1]) / 2
    min_speed, max_speed = speed_range[0] * scale, speed_range[1] * scale
    limit = np.array([width - box_w, height - box_h], float)
    position = np.array([rng.integers(0, limit[0] + 1), rng.integers(0, limit[1] + 1)], float)
    moving = rng.random() >= p_stationary
    speed, angle = _random_velocity(rng, min_speed, max_speed)
    masks = np.zeros((num_frames, height, width), np.uint8)
    for frame in range(num_frames):
        x, y = np.round(position).astype(int)
        masks[frame, y : y + box_h, x : x + box_w] = blob
        if not moving:
            continue
        position = position + speed * np.array([np.cos(angle), np.sin(angle)])
        if np.any(position < 0) or np.any(position > limit):
            position = np.clip(position, 0, limit)
            speed, angle = _random_velocity(rng, min_speed, max_speed)
        else:
            speed = float(np.clip(speed + rng.normal(0, speed_std * scale), 0, max_speed))
            angle += float(rng.normal(0, angle_std))
    return masks


def centred_box_masks(num_frames: int, height: int, width: int, fraction: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """A box of `fraction` (of height, of width) in the centre of every frame."""
    box_h, box_w = round(height * fraction[0]), round(width * fraction[1])
    top, left = (height - box_h) // 2, (width - box_w) // 2
    masks = np.zeros((num_frames, height, width), np.uint8)
    masks[:, top : top + box_h, left : left + box_w] = 1
    return masks


def video_seed(seed: int, video_id: str) -> np.random.Generator:
    """A generator for one video, stable across processes and Python versions."""
    return np.random.default_rng([seed, zlib.crc32(video_id.encode())])


def mask_names(folder: Path) -> list[str]:
    """Sorted PNG names of a mask folder."""
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder of mask PNGs, found nothing there")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    if not names:
        raise DataError(f"{folder}: expected mask PNGs, found none")
    return names


def read_mask(path: Path) -> np.ndarray:
    """One mask PNG as uint8 {0, 1} (H, W); any value > 0 in any channel is a hole."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{path}: expected a decodable PNG mask, found an unreadable file")
    return (image.reshape(image.shape[0], image.shape[1], -1) > 0).any(axis=2).astype(np.uint8)


def read_mask_folder(folder: Path, indices: Sequence[int] | None = None) -> np.ndarray:
    """Masks of a folder in name order (all, or those at `indices`) as uint8 {0, 1} (n, H, W)."""
    names = mask_names(folder)
    chosen = names if indices is None else [names[i] for i in indices]
    masks = [read_mask(folder / name) for name in chosen]
    for name, mask in zip(chosen, masks):
        if mask.shape != masks[0].shape:
            raise DataError(f"{folder / name}: expected mask size {masks[0].shape} like {chosen[0]}, found {mask.shape}")
    return np.stack(masks)


def write_mask_folder(folder: Path, masks: np.ndarray) -> None:
    """Write masks as 00000.png ... (0/255) atomically: a temp folder renamed into place; first writer wins."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for index, mask in enumerate(masks):
            cv2.imwrite(str(temp / f"{index:05d}.png"), mask.astype(np.uint8) * 255)
        os.rename(temp, folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _check_count(folder: Path, num_frames: int) -> None:
    found = len(mask_names(folder))
    if found != num_frames:
        raise DataError(f"{folder}: expected {num_frames} masks, one per frame of the video, found {found}")


def _check_size(masks: np.ndarray, folder: Path, frame_size: tuple[int, int]) -> None:
    if masks.shape[1:] != tuple(frame_size):
        raise DataError(f"{folder}: expected masks of size {tuple(frame_size)} (H, W) like the video, found {masks.shape[1:]}")


class MaskSet(ABC):
    """Fixed masks for whole videos, so every model is evaluated on the same holes."""

    @abstractmethod
    def read(self, video_id: str, num_frames: int, frame_size: tuple[int, int], indices: Sequence[int] | None = None) -> np.ndarray:
        """Masks of a video with `num_frames` frames of `frame_size` (H, W), uint8 {0, 1} (n, H, W)."""

    def validate(self, source: VideoSource) -> None:
        """Cheap up-front checks against a VideoSource; sets that generate their masks need none."""


class FolderMasks(MaskSet):
    """root/<video_id>/00000.png ..., one mask per frame, size equal to the video's frames."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def read(
        self, video_id: str, num_frames: int, frame_size: tuple[int, int], indices: Sequence[int] | None = None
    ) -> np.ndarray:
        folder = self.root / video_id
        _check_count(folder, num_frames)
        masks = read_mask_folder(folder, indices)
        _check_size(masks, folder, frame_size)
        return masks

    def validate(self, source: VideoSource) -> None:
        for video_id in source.video_ids:
            folder = self.root / video_id
            names = mask_names(folder)
            expected = source.num_frames(video_id)
            if len(names) != expected:
                raise DataError(
                    f"{folder}: expected {expected} masks, one per frame of {source.video_path(video_id)}, found {len(names)}"
                )
            first = read_mask(folder / names[0])
            if first.shape != source.frame_size(video_id):
                raise DataError(
                    f"{folder / names[0]}: expected size {source.frame_size(video_id)} (H, W) like "
                    f"{source.video_path(video_id)}, found {first.shape[:2]}"
                )


class BoxMasks(MaskSet):
    """A centred box covering `fraction` of the height and width of every frame."""

    def __init__(self, fraction: Sequence[float] = (0.5, 0.5)):
        self.fraction = (float(fraction[0]), float(fraction[1]))

    def read(
        self, video_id: str, num_frames: int, frame_size: tuple[int, int], indices: Sequence[int] | None = None
    ) -> np.ndarray:
        count = num_frames if indices is None else len(indices)
        return centred_box_masks(count, frame_size[0], frame_size[1], self.fraction)


class GeneratedMasks(MaskSet):
    """Seeded random blobs written once under cache_dir/<kind>_seed<seed>/<H>x<W>/<video_id>/, then read back.

    Reading from disk rather than regenerating keeps the holes identical even if the generator
    code changes later, so results of different models stay comparable.
    """

    def __init__(self, cache_dir: str | os.PathLike, kind: str = "moving", seed: int = 0):
        if kind not in ("stationary", "moving"):
            raise DataError(f"mask kind: expected 'stationary' or 'moving', found {kind!r}")
        self.cache_dir = Path(cache_dir)
        self.kind = kind
        self.seed = int(seed)

    def folder(self, video_id: str, frame_size: tuple[int, int]) -> Path:
        """Where the masks of one video at one size are stored."""
        return self.cache_dir / f"{self.kind}_seed{self.seed}" / f"{frame_size[0]}x{frame_size[1]}" / video_id

    def read(
        self, video_id: str, num_frames: int, frame_size: tuple[int, int], indices: Sequence[int] | None = None
    ) -> np.ndarray:
        folder = self.folder(video_id, frame_size)
        if not folder.is_dir():
            p_stationary = 1.0 if self.kind == "stationary" else 0.0
            masks = random_video_masks(video_seed(self.seed, video_id), num_frames, *frame_size, p_stationary=p_stationary)
            write_mask_folder(folder, masks)
        _check_count(folder, num_frames)
        return read_mask_folder(folder, indices)


def build_mask_set(kind: str, root: str | os.PathLike | None = None, seed: int = 0, fraction: Sequence[float] = (0.5, 0.5)) -> MaskSet:
    """A fixed mask set by name: 'folder' (root = folder of per-video mask folders), 'box',
    'stationary' or 'moving' (root = cache folder the generated set is written to)."""
    if kind == "box":
        return BoxMasks(fraction)
    if root is None:
        raise DataError(f"mask set {kind!r}: expected a root folder, found none")
    if kind == "folder":
        return FolderMasks(root)
    if kind in ("stationary", "moving"):
        return GeneratedMasks(root, kind, seed)
    raise DataError(f"mask set kind: expected 'folder', 'box', 'stationary' or 'moving', found {kind!r}")


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of masks (t, H, W) to size (height, width), as the release resizes its
    masks (PIL's nearest, which OpenCV's INTER_NEAREST_EXACT reproduces; plain INTER_NEAREST rounds differently)."""
    if masks.shape[1:] == tuple(size):
        return masks
    return np.stack([cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST_EXACT) for m in masks])


def load_video_masks(
    mask_set: MaskSet,
    source: VideoSource,
    video_id: str,
    size: tuple[int, int] | None = None,
    dilation: int = 0,
) -> np.ndarray:
    """Fixed masks for every frame of one video of a source: read at the video's size, resized
    (nearest) to `size` (H, W) when given, then dilated; uint8 {0, 1} (t, H, W)."""
    masks = mask_set.read(video_id, source.num_frames(video_id), source.frame_size(video_id))
    if size is not None:
        masks = resize_masks(masks, size)
    return dilate_masks(masks, dilation)
