"""A dataset of videos: a root folder, its layout and splits, and a frame reader per video id.

Layouts: ``frames`` (root/<frames_dir>/<video_id>/<frame>.jpg, YouTube-VOS and DAVIS as shipped),
``zip`` (root/<frames_dir>/<video_id>.zip, the release's) and ``video`` (root/<video_id>.mp4 ...).
The training DataModule and evaluation both read their videos through this class. Readers are
opened lazily and kept per process (at most MAX_OPEN_READERS), never pickled, so a collection
can be handed to DataLoader workers safely.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sttn_lightning.media.errors import MediaError
from sttn_lightning.media.frames import open_frames
from sttn_lightning.media.masks import MaskSet, build_mask_set
from sttn_lightning.media.reader import FrameReader
from sttn_lightning.media.size import Size

LAYOUTS = ("frames", "zip", "video")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
MAX_OPEN_READERS = 64  # per process, well under the usual limit of 1024 open files

# Readers a forked worker inherited from its parent. They are kept alive, never used: destroying
# a decord reader in the child joins decoder threads that only exist in the parent and hangs.
_INHERITED_READERS: list[OrderedDict[str, FrameReader]] = []


def read_split_file(path: Path) -> dict[str, int | None]:
    """Video ids of a split file: a JSON {video_id: num_frames} or a text file of ids, one per line."""
    try:
        text = path.read_text()
    except OSError as error:
        raise MediaError(f"{path}: expected a readable split file, found {error}") from error
    if path.suffix == ".json":
        try:
            content = json.loads(text)
        except json.JSONDecodeError as error:
            raise MediaError(f"{path}: expected JSON {{video_id: num_frames}}, found invalid JSON ({error})") from error
        if isinstance(content, dict):
            bad = {k: v for k, v in content.items() if v is not None and not isinstance(v, int)}
            if bad:
                key = next(iter(bad))
                raise MediaError(f"{path}: expected an integer frame count for {key!r}, found {bad[key]!r}")
            return {str(k): v for k, v in content.items()}
        if isinstance(content, list):
            return {str(k): None for k in content}
        raise MediaError(f"{path}: expected a JSON object or list of video ids, found {type(content).__name__}")
    return {line.strip(): None for line in text.splitlines() if line.strip()}


def detect_layout(root: Path, frames_dir: str = "JPEGImages") -> str:
    """'zip' if <frames_dir> holds zips, 'frames' if it holds folders, 'video' if root holds video files."""
    location = root / frames_dir
    if location.is_dir():
        entries = list(location.iterdir())
        if any(p.suffix == ".zip" for p in entries):
            return "zip"
        if any(p.is_dir() for p in entries):
            return "frames"
    if root.is_dir() and any(p.suffix.lower() in VIDEO_SUFFIXES for p in root.iterdir()):
        return "video"
    raise MediaError(f"{root}: expected {location} with frame folders or zips, or video files {VIDEO_SUFFIXES}, found neither")


class VideoCollection:
    """The videos of one split of a dataset folder, addressed by id.

    ``access`` says how video files are decoded: ``random`` for scattered training clips,
    ``sequential`` for whole videos read in order (evaluation).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        layout: str = "auto",
        split: str | None = None,
        list_file: str | os.PathLike | None = None,
        frames_dir: str = "JPEGImages",
        access: str = "random",
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise MediaError(f"{self.root}: expected a dataset folder, found nothing there")
        if layout == "auto":
            layout = detect_layout(self.root, frames_dir)
        if layout not in LAYOUTS:
            raise MediaError(f"data.layout: expected one of {('auto',) + LAYOUTS}, found {layout!r}")
        self.layout = layout
        self.split = split
        self.list_file = Path(list_file) if list_file is not None else None
        self.location = self.root if layout == "video" else self.root / frames_dir
        self.access = access
        self._paths = self._discover()
        self._listed_counts: dict[str, int | None] = {}
        self.video_ids = self._select()
        self._counts: dict[str, int] = {}
        self._sizes: dict[str, Size] = {}
        self._readers: OrderedDict[str, FrameReader] = OrderedDict()
        self._pid = os.getpid()

    def _discover(self) -> dict[str, Path]:
        """Every video present: id -> file or folder."""
        if not self.location.is_dir():
            raise MediaError(f"{self.location}: expected a folder of videos ({self.layout} layout), found nothing there")
        paths: dict[str, Path] = {}
        for path in self.location.iterdir():
            if self.layout == "frames" and path.is_dir():
                paths[path.name] = path
            elif self.layout == "zip" and path.suffix == ".zip":
                paths[path.stem] = path
            elif self.layout == "video" and path.suffix.lower() in VIDEO_SUFFIXES:
                if path.stem in paths:
                    raise MediaError(f"{path}: expected one video file per id, found also {paths[path.stem]}")
                paths[path.stem] = path
        return paths

    def video_path(self, video_id: str) -> Path:
        """The file or folder that stores one video."""
        if video_id in self._paths:
            return self._paths[video_id]
        suffix = {"frames": "", "zip": ".zip", "video": ".mp4"}[self.layout]
        return self.location / f"{video_id}{suffix}"

    def _select(self) -> list[str]:
        selected = sorted(self._paths)
        if self.split is not None:
            split_file = self.root / f"{self.split}.json"
            if split_file.is_file():
                self._listed_counts = read_split_file(split_file)
                missing = [v for v in self._listed_counts if v not in self._paths]
                if missing:
                    raise MediaError(
                        f"{split_file}: lists video {missing[0]!r} ({len(missing)} missing in all), expected "
                        f"{self.video_path(missing[0])} to exist, found nothing there"
                    )
                selected = list(self._listed_counts)
        if self.list_file is not None:
            wanted = read_split_file(self.list_file)
            unknown = [v for v in wanted if v not in set(selected)]
            if unknown:
                raise MediaError(
                    f"{self.list_file}: lists video {unknown[0]!r}, expected it among the {len(selected)} videos "
                    f"of {self.location}, found it absent"
                )
            selected = [v for v in selected if v in wanted]
        if not selected:
            where = f"split {self.split!r} of " if self.split else ""
            raise MediaError(f"{where}{self.location}: expected at least one video, found none")
        return selected

    def reader(self, video_id: str) -> FrameReader:
        """This process's reader of a video (kept among the most recently used)."""
        if self._pid != os.getpid():
            self.close()  # set aside the readers inherited from the parent
        if video_id in self._readers:
            self._readers.move_to_end(video_id)
        else:
            self._readers[video_id] = open_frames(self.video_path(video_id), self.access)
            if len(self._readers) > MAX_OPEN_READERS:
                self._readers.popitem(last=False)[1].close()
        return self._readers[video_id]

    def num_frames(self, video_id: str) -> int:
        if video_id not in self._counts:
            self._counts[video_id] = self.reader(video_id).num_frames
        return self._counts[video_id]

    def frame_size(self, video_id: str) -> Size:
        if video_id not in self._sizes:
            self._sizes[video_id] = self.reader(video_id).size
        return self._sizes[video_id]

    def read(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """Frames ``indices`` of a video as uint8 RGB (n, H, W, 3); a video changed since its count was taken is an error."""
        reader = self.reader(video_id)
        expected = self._counts.setdefault(video_id, reader.num_frames)
        if reader.num_frames != expected:
            raise MediaError(
                f"{self.video_path(video_id)}: expected the {expected} frames counted at set-up, found {reader.num_frames}; "
                "frames were removed or added since"
            )
        return np.stack(reader.read([int(i) for i in indices]))

    def validate(self) -> None:
        """Cheap up-front checks (listing, frame counts against the split file, first-frame size)."""
        for video_id in self.video_ids:
            count = self.num_frames(video_id)
            listed = self._listed_counts.get(video_id)
            if listed is not None and listed != count:
                raise MediaError(
                    f"{self.root / f'{self.split}.json'}: expected {listed} frames for {video_id!r} as listed, "
                    f"found {count} in {self.video_path(video_id)}"
                )
            self.frame_size(video_id)
        self.close()

    def close(self) -> None:
        """Release this process's open files and decoders (they reopen on the next read)."""
        if self._pid == os.getpid():
            for reader in self._readers.values():
                reader.close()
        else:
            _INHERITED_READERS.append(self._readers)
        self._readers = OrderedDict()
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_readers"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()


def open_eval_set(
    root: str | os.PathLike,
    layout: str = "auto",
    frames_dir: str = "JPEGImages",
    split: str | None = "test",
    list_file: str | os.PathLike | None = None,
    masks: str = "auto",
    mask_root: str | os.PathLike | None = None,
    mask_seed: int = 0,
    mask_box: Sequence[float] = (0.5, 0.5),
    cache_dir: str | os.PathLike | None = None,
    access: str = "sequential",
) -> tuple[VideoCollection, MaskSet]:
    """The videos that validation and evaluation score, with their fixed masks, both checked up front.

    The arguments are the ``eval_*`` settings of a data config (see conf/data/youtube_vos.yaml).
    """
    collection = VideoCollection(root, layout, split, list_file, frames_dir, access)
    collection.validate()
    mask_set = build_mask_set(masks, root, mask_root, cache_dir, mask_seed, mask_box)
    mask_set.validate(collection)
    return collection, mask_set
