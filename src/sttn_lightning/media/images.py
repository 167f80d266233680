"""Image files: listing a folder of frames, decoding frames to RGB and masks to holes.

Every frame reader (folders, zips, generated masks) decodes through these functions, so a frame
file means the same thing wherever it is read: any bit depth, grey or colour, alpha dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import cv2
import numpy as np
from PIL import Image

from sttn_lightning.media.errors import MediaError
from sttn_lightning.media.size import Size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def image_files(folder: Path, expected: str, fix: str = "") -> list[Path]:
    """The image files of a folder in name order; none (or no folder) is an error naming what was ``expected``."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name)) if folder.is_dir() else []
    if not files:
        raise MediaError(f"{folder}: expected {expected}, found no image files{fix}")
    return files


def _decode(data: bytes, name: str, flags: int) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise MediaError(f"{name}: expected a decodable image, found an unreadable or corrupt file ({len(data)} bytes)")
    return image


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise MediaError(f"{path}: expected a readable image file, found {error.strerror or error}") from error


def decode_frame(data: bytes, name: str) -> np.ndarray:
    """Encoded image bytes as uint8 RGB (H, W, 3), whatever their depth or channels; ``name`` is for errors."""
    return cv2.cvtColor(_decode(data, name, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_frame(path: Path) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3)."""
    return decode_frame(_read_bytes(path), str(path))


def check_size(image: np.ndarray, size: Size, name: str, first: str, what: str = "frame") -> np.ndarray:
    """``image`` (the file ``name``), refused unless it has the ``size`` of the first file ``first``."""
    if Size.of(image) != size:
        raise MediaError(f"{name}: expected a {what} of {size} like {first}, found {Size.of(image)}; give every {what} one size")
    return image


def to_holes(image: np.ndarray) -> np.ndarray:
    """A mask image (H, W[, C]) as uint8 {0, 1} (H, W): any non-zero colour channel is hole, alpha ignored."""
    if image.ndim == 3 and image.shape[2] in (2, 4):
        image = image[..., : image.shape[2] - 1]
    holes = image > 0 if image.ndim == 2 else (image > 0).any(axis=2)
    return holes.view(np.uint8)  # NumPy's bools are bytes of 0 and 1: the uint8 mask without a copy


def read_mask_image(path: Path) -> np.ndarray:
    """A mask image file as uint8 {0, 1} (H, W)."""
    return to_holes(_decode(_read_bytes(path), str(path), cv2.IMREAD_UNCHANGED))


def header_size(stream: Path | IO[bytes], name: str) -> Size:
    """An image's size from its header, without decoding the pixels."""
    try:
        with Image.open(stream) as image:
            return Size(*image.size)
    except Exception as error:  # PIL raises many types for corrupt headers
        raise MediaError(f"{name}: expected an image, found an unreadable header ({error})") from error
