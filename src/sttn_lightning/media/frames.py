"""Frame readers for a folder of images, a zip of images (the release's layout) and an array in memory."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sttn_lightning.media.errors import MediaError
from sttn_lightning.media.images import check_size, decode_frame, header_size, image_files, is_image_name, read_frame
from sttn_lightning.media.reader import FrameReader
from sttn_lightning.media.size import Size


class FolderFrames(FrameReader):
    """A folder of image files in name order, read one file at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = image_files(path, "a folder of frames (image files)", "; point at the folder holding the frames")
        self.num_frames = len(self._files)
        self.size = header_size(self._files[0], str(self._files[0]))

    def _read(self, indices: Sequence[int]) -> list[np.ndarray]:
        first = self._files[0].name
        return [check_size(read_frame(self._files[i]), self.size, str(self._files[i]), first) for i in indices]


class ZipFrames(FrameReader):
    """The release's layout: a zip holding 00000.jpg, 00001.jpg ... (image members in name order)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names = sorted(name for name in self._archive().namelist() if is_image_name(name))
        if not self._names:
            raise MediaError(f"{path}: expected a zip of image frames, found no image members")
        self.num_frames = len(self._names)
        self.size = header_size(io.BytesIO(self._member(self._names[0])), self._label(self._names[0]))

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (OSError, zipfile.BadZipFile) as error:
                raise MediaError(f"{self.path}: expected a zip of image frames, found an unreadable file ({error})") from error
        return self._zip

    def _label(self, name: str) -> str:
        return f"{self.path}:{name}"

    def _member(self, name: str) -> bytes:
        try:
            return self._archive().read(name)
        except (OSError, zipfile.BadZipFile, KeyError) as error:
            raise MediaError(f"{self._label(name)}: expected a readable member, found {error}") from error

    def _read(self, indices: Sequence[int]) -> list[np.ndarray]:
        first = self._label(self._names[0])
        frames = []
        for index in indices:
            label = self._label(self._names[index])
            frames.append(check_size(decode_frame(self._member(self._names[index]), label), self.size, label, first))
        return frames

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


class ArrayFrames(FrameReader):
    """(T, H, W, 3) uint8 RGB frames in memory (clips a caller already holds, e.g. a notebook's)."""

    def __init__(self, frames: np.ndarray) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise MediaError(f"frames: expected a (T, H, W, 3) uint8 array with T >= 1, found {frames.shape} {frames.dtype}")
        self.path = Path("<frames in memory>")
        self._frames = frames
        self.num_frames = len(frames)
        self.size = Size.of(frames[0])

    def _read(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [self._frames[index] for index in indices]


def open_frames(path: str | os.PathLike, access: str = "sequential", what: str = "input") -> FrameReader:
    """The frames of ``path``: a folder of images, a zip of images or a video file.

    ``access`` is ``sequential`` (whole videos in order: inference, evaluation) or ``random``
    (scattered clips: training); it only changes how video files are decoded.
    """
    from sttn_lightning.media.video import open_video

    path = Path(path)
    if path.is_dir():
        return FolderFrames(path)
    if not path.is_file():
        raise MediaError(f"{path}: expected a video file, a zip or a folder of frames, found nothing there")
    if path.suffix.lower() == ".zip":
        return ZipFrames(path)
    return open_video(path, access, what)
