"""Video sources: one read interface over frame folders, the release's zips and video files.

Sources know nothing of masks, sampling or tensors: evaluation and inference code reads whole
videos through them. Heavy handles (zip files, decoders) are opened lazily per process and
never pickled, so a source can be handed to DataLoader workers safely.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from sttn_lightning.data.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
LAYOUTS = ("frames", "zip", "video")
MAX_OPEN_HANDLES = 64  # per process, well under the usual limit of 1024 open files

# Handles a forked worker inherited from its parent. They are kept alive, never used: destroying
# a decord reader in the child joins decoder threads that only exist in the parent and hangs.
_INHERITED_HANDLES: list[dict[str, Any]] = []


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode encoded image bytes to uint8 RGB (H, W, 3); `name` is used in the error."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{name}: expected a decodable JPEG/PNG image, found {len(data)} undecodable bytes")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path: Path) -> np.ndarray:
    """Read an image file to uint8 RGB (H, W, 3)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: expected a readable image file, found {error}") from error
    return decode_image(data, str(path))


def _header_size(stream: Any, name: str) -> tuple[int, int]:
    """(height, width) from an image header without decoding the pixels."""
    try:
        with Image.open(stream) as image:
            width, height = image.size
    except Exception as error:  # PIL raises many types for corrupt headers
        raise DataError(f"{name}: expected a JPEG/PNG image, found an unreadable header ({error})") from error
    return height, width


def _stack(frames: list[np.ndarray], names: list[str]) -> np.ndarray:
    shape = frames[0].shape
    for frame, name in zip(frames, names):
        if frame.shape != shape:
            raise DataError(f"{name}: expected frame shape {shape} like {names[0]}, found {frame.shape}")
    return np.stack(frames)


def read_split_file(path: Path) -> dict[str, int | None]:
    """Video ids of a split file: a JSON {video_id: num_frames} or a text file of ids, one per line."""
    try:
        text = path.read_text()
    except OSError as error:
        raise DataError(f"{path}: expected a readable split file, found {error}") from error
    if path.suffix == ".json":
        try:
            content = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: expected JSON {{video_id: num_frames}}, found invalid JSON ({error})") from error
        if isinstance(content, dict):
            return {str(k): (int(v) if v is not None else None) for k, v in content.items()}
        if isinstance(content, list):
            return {str(k): None for k in content}
        raise DataError(f"{path}: expected a JSON object or list of video ids, found {type(content).__name__}")
    return {line.strip(): None for line in text.splitlines() if line.strip()}


def _close(handle: Any) -> None:
    """Close a zip file; decord readers have no close and are freed with their last reference."""
    if hasattr(handle, "close"):
        handle.close()


class VideoSource(ABC):
    """A set of videos addressed by id, each readable frame by frame as uint8 RGB."""

    def __init__(self, root: str | os.PathLike, split: str | None = None, list_file: str | os.PathLike | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: expected a dataset folder, found nothing there")
        self.split = split
        self.list_file = Path(list_file) if list_file is not None else None
        self._handles: OrderedDict[str, Any] = OrderedDict()
        self._handle_pid = os.getpid()
        available = self._discover()
        self._listed_counts: dict[str, int | None] = {}
        self.video_ids = self._select(available)
        self._frame_sizes: dict[str, tuple[int, int]] = {}

    @abstractmethod
    def _discover(self) -> list[str]:
        """Ids of all videos present under root (cheap listing)."""

    @abstractmethod
    def num_frames(self, video_id: str) -> int:
        """Number of frames of a video."""

    @abstractmethod
    def _first_frame_size(self, video_id: str) -> tuple[int, int]:
        """(height, width) of a video's first frame, read as cheaply as possible."""

    @abstractmethod
    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """Frames `indices` of a video as uint8 RGB (n, H, W, 3)."""

    @property
    @abstractmethod
    def location(self) -> Path:
        """The folder that holds the videos, used in messages."""

    @abstractmethod
    def video_path(self, video_id: str) -> Path:
        """File or folder that stores one video."""

    def frame_size(self, video_id: str) -> tuple[int, int]:
        """(height, width) of a video's frames."""
        if video_id not in self._frame_sizes:
            self._frame_sizes[video_id] = self._first_frame_size(video_id)
        return self._frame_sizes[video_id]

    def read_all(self, video_id: str) -> np.ndarray:
        """Every frame of a video as uint8 RGB (n, H, W, 3)."""
        return self.read(video_id, range(self.num_frames(video_id)))

    def __len__(self) -> int:
        return len(self.video_ids)

    def _select(self, available: list[str]) -> list[str]:
        selected = sorted(available)
        if self.split is not None:
            split_file = self.root / f"{self.split}.json"
            if split_file.is_file():
                self._listed_counts = read_split_file(split_file)
                present = set(available)
                missing = [v for v in self._listed_counts if v not in present]
                if missing:
                    raise DataError(
                        f"{split_file}: lists video {missing[0]!r} ({len(missing)} missing in all), expected "
                        f"{self.video_path(missing[0])} to exist, found nothing there"
                    )
                selected = list(self._listed_counts)
        if self.list_file is not None:
            wanted = read_split_file(self.list_file)
            known = set(selected)
            unknown = [v for v in wanted if v not in known]
            if unknown:
                raise DataError(
                    f"{self.list_file}: lists video {unknown[0]!r}, expected it among the {len(selected)} videos "
                    f"of {self.location}, found it absent"
                )
            selected = [v for v in selected if v in wanted]
        if not selected:
            where = f"split {self.split!r} of " if self.split else ""
            raise DataError(f"{where}{self.location}: expected at least one video, found none")
        return selected

    def validate(self) -> None:
        """Cheap up-front checks (listing, frame counts, first-frame size); decoding is checked at read time."""
        for video_id in self.video_ids:
            count = self.num_frames(video_id)
            listed = self._listed_counts.get(video_id)
            if listed is not None and listed != count:
                raise DataError(
                    f"{self.root / f'{self.split}.json'}: expected {listed} frames for {video_id!r} as listed, "
                    f"found {count} in {self.video_path(video_id)}"
                )
            if count == 0:
                raise DataError(f"{self.video_path(video_id)}: expected at least one frame, found none")
            self.frame_size(video_id)
        self.close()

    def close(self) -> None:
        """Release the open files and decoders of this process (they reopen on the next read)."""
        if self._handle_pid != os.getpid():
            _INHERITED_HANDLES.append(self._handles)
        else:
            for handle in self._handles.values():
                _close(handle)
        self._handles = OrderedDict()
        self._handle_pid = os.getpid()

    def _handle(self, key: str, opener: Any) -> Any:
        """A per-process cache of the most recently used handles: a forked worker never reuses its parent's."""
        if self._handle_pid != os.getpid():
            self.close()
        if key in self._handles:
            self._handles.move_to_end(key)
        else:
            self._handles[key] = opener()
            if len(self._handles) > MAX_OPEN_HANDLES:
                _close(self._handles.popitem(last=False)[1])
        return self._handles[key]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._handle_pid = os.getpid()


class _FramesDirSource(VideoSource):
    """A layout whose videos live in root/<frames_dir>/ (JPEGImages, or JPEGImages/480p for DAVIS)."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        list_file: str | os.PathLike | None = None,
        frames_dir: str = "JPEGImages",
    ):
        self.frames_dir = frames_dir
        self._names: dict[str, list[str]] = {}
        super().__init__(root, split, list_file)

    @property
    def location(self) -> Path:
        return self.root / self.frames_dir


class FrameFolderSource(_FramesDirSource):
    """root/<frames_dir>/<video_id>/<frame>.jpg|png, frames in file-name order (YouTube-VOS, DAVIS)."""

    def video_path(self, video_id: str) -> Path:
        return self.location / video_id

    def _discover(self) -> list[str]:
        if not self.location.is_dir():
            raise DataError(f"{self.location}: expected a folder of frame folders, found nothing there")
        return [p.name for p in self.location.iterdir() if p.is_dir()]

    def frame_names(self, video_id: str) -> list[str]:
        """Sorted image file names of a video."""
        if video_id not in self._names:
            folder = self.video_path(video_id)
            self._names[video_id] = sorted(n for n in os.listdir(folder) if _is_image(n))
        return self._names[video_id]

    def num_frames(self, video_id: str) -> int:
        return len(self.frame_names(video_id))

    def _first_frame_size(self, video_id: str) -> tuple[int, int]:
        path = self.video_path(video_id) / self.frame_names(video_id)[0]
        return _header_size(path, str(path))

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        names = self.frame_names(video_id)
        paths = [self.video_path(video_id) / names[i] for i in indices]
        return _stack([read_image(p) for p in paths], [str(p) for p in paths])


class ZipSource(_FramesDirSource):
    """The release's layout: root/<frames_dir>/<video_id>.zip holding 00000.jpg ... at top level."""

    def video_path(self, video_id: str) -> Path:
        return self.location / f"{video_id}.zip"

    def _discover(self) -> list[str]:
        if not self.location.is_dir():
            raise DataError(f"{self.location}: expected a folder of <video_id>.zip files, found nothing there")
        return [p.stem for p in self.location.iterdir() if p.suffix == ".zip"]

    def _zip(self, video_id: str) -> zipfile.ZipFile:
        path = self.video_path(video_id)

        def open_zip() -> zipfile.ZipFile:
            try:
                return zipfile.ZipFile(path)
            except (OSError, zipfile.BadZipFile) as error:
                raise DataError(f"{path}: expected a zip of JPEG/PNG frames, found an unreadable file ({error})") from error

        return self._handle(video_id, open_zip)

    def frame_names(self, video_id: str) -> list[str]:
        """Sorted image member names of a video's zip."""
        if video_id not in self._names:
            self._names[video_id] = sorted(n for n in self._zip(video_id).namelist() if _is_image(n))
        return self._names[video_id]

    def num_frames(self, video_id: str) -> int:
        return len(self.frame_names(video_id))

    def _member(self, video_id: str, name: str) -> bytes:
        try:
            return self._zip(video_id).read(name)
        except (OSError, zipfile.BadZipFile, KeyError) as error:
            raise DataError(f"{self.video_path(video_id)}: expected a readable member {name}, found {error}") from error

    def _first_frame_size(self, video_id: str) -> tuple[int, int]:
        name = self.frame_names(video_id)[0]
        return _header_size(io.BytesIO(self._member(video_id, name)), f"{self.video_path(video_id)}:{name}")

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        names = [self.frame_names(video_id)[i] for i in indices]
        labels = [f"{self.video_path(video_id)}:{n}" for n in names]
        return _stack([decode_image(self._member(video_id, n), lab) for n, lab in zip(names, labels)], labels)


class VideoFileSource(VideoSource):
    """Video files (.mp4 .avi .mov .mkv) directly in root, decoded with decord, only the frames asked for."""

    def __init__(self, root: str | os.PathLike, split: str | None = None, list_file: str | os.PathLike | None = None):
        self._files: dict[str, Path] = {}
        self._counts: dict[str, int] = {}
        super().__init__(root, split, list_file)

    @property
    def location(self) -> Path:
        return self.root

    def video_path(self, video_id: str) -> Path:
        return self._files.get(video_id, self.root / f"{video_id}.mp4")

    def _discover(self) -> list[str]:
        for path in self.root.iterdir():
            if path.suffix.lower() in VIDEO_SUFFIXES:
                if path.stem in self._files:
                    raise DataError(f"{path}: expected one video file per id, found also {self._files[path.stem]}")
                self._files[path.stem] = path
        return list(self._files)

    def _reader(self, video_id: str) -> Any:
        path = self.video_path(video_id)

        def open_reader() -> Any:
            import decord

            try:
                return decord.VideoReader(str(path), num_threads=1)
            except Exception as error:  # decord raises its own DECORDError
                raise DataError(f"{path}: expected a decodable video, found {error}") from error

        return self._handle(video_id, open_reader)

    def num_frames(self, video_id: str) -> int:
        if video_id not in self._counts:
            self._counts[video_id] = len(self._reader(video_id))
        return self._counts[video_id]

    def _first_frame_size(self, video_id: str) -> tuple[int, int]:
        height, width = self._reader(video_id)[0].shape[:2]
        return int(height), int(width)

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        reader = self._reader(video_id)
        try:
            frames = reader.get_batch(list(indices)).asnumpy()
        except Exception as error:
            raise DataError(f"{self.video_path(video_id)}: expected frames {list(indices)}, found {error}") from error
        return np.ascontiguousarray(frames)


def detect_layout(root: str | os.PathLike, frames_dir: str = "JPEGImages") -> str:
    """'zip' if <frames_dir> holds zips, 'frames' if it holds folders, 'video' if root holds video files."""
    root = Path(root)
    location = root / frames_dir
    if location.is_dir():
        entries = list(location.iterdir())
        if any(p.suffix == ".zip" for p in entries):
            return "zip"
        if any(p.is_dir() for p in entries):
            return "frames"
    if root.is_dir() and any(p.suffix.lower() in VIDEO_SUFFIXES for p in root.iterdir()):
        return "video"
    raise DataError(
        f"{root}: expected {location} with frame folders or zips, or video files {VIDEO_SUFFIXES}, found neither"
    )


def build_source(
    root: str | os.PathLike,
    layout: str = "auto",
    split: str | None = None,
    list_file: str | os.PathLike | None = None,
    frames_dir: str = "JPEGImages",
) -> VideoSource:
    """The source for a dataset folder; `layout` is 'frames', 'zip', 'video' or 'auto' (detected)."""
    if not Path(root).is_dir():
        raise DataError(f"{root}: expected a dataset folder, found nothing there")
    if layout == "auto":
        layout = detect_layout(root, frames_dir)
    if layout == "frames":
        return FrameFolderSource(root, split, list_file, frames_dir)
    if layout == "zip":
        return ZipSource(root, split, list_file, frames_dir)
    if layout == "video":
        return VideoFileSource(root, split, list_file)
    raise DataError(f"data.layout: expected one of {('auto',) + LAYOUTS}, found {layout!r}")
