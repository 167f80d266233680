"""Tiny datasets in every layout, written into tmp_path by the tests that need them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

HEIGHT, WIDTH = 48, 64


def tiny_video(seed: int, num_frames: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """RGB uint8 (t, H, W, 3): a smooth gradient whose brightness changes per frame, so frames differ."""
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 160, width, dtype=np.float32)[None, :, None] + rng.uniform(0, 60, size=(1, 1, 3))
    return np.stack([np.clip(base + 8 * t, 0, 255).astype(np.uint8).repeat(height, 0) for t in range(num_frames)])


def _encode(frame: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()


def write_frames_dataset(root: Path, counts: dict[str, int], split: dict[str, list[str]] | None = None) -> dict[str, np.ndarray]:
    """root/JPEGImages/<id>/00000.png ... plus <split>.json files; returns the videos written."""
    videos = {vid: tiny_video(i, n) for i, (vid, n) in enumerate(counts.items())}
    for vid, frames in videos.items():
        folder = root / "JPEGImages" / vid
        folder.mkdir(parents=True)
        for t, frame in enumerate(frames):
            (folder / f"{t:05d}.png").write_bytes(_encode(frame))
    _write_splits(root, counts, split)
    return videos


def write_zip_dataset(root: Path, counts: dict[str, int], split: dict[str, list[str]] | None = None) -> dict[str, np.ndarray]:
    """The release's layout: root/JPEGImages/<id>.zip with 00000.png ... at top level."""
    videos = {vid: tiny_video(i, n) for i, (vid, n) in enumerate(counts.items())}
    (root / "JPEGImages").mkdir(parents=True)
    for vid, frames in videos.items():
        with zipfile.ZipFile(root / "JPEGImages" / f"{vid}.zip", "w") as archive:
            for t, frame in enumerate(frames):
                archive.writestr(f"{t:05d}.png", _encode(frame))
    _write_splits(root, counts, split)
    return videos


def write_video_dataset(root: Path, counts: dict[str, int]) -> dict[str, np.ndarray]:
    """root/<id>.mp4 files (MPEG-4 part 2 from OpenCV)."""
    videos = {vid: tiny_video(i, n) for i, (vid, n) in enumerate(counts.items())}
    root.mkdir(parents=True, exist_ok=True)
    for vid, frames in videos.items():
        writer = cv2.VideoWriter(str(root / f"{vid}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (WIDTH, HEIGHT))
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
    return videos


def _write_splits(root: Path, counts: dict[str, int], split: dict[str, list[str]] | None) -> None:
    for name, ids in (split or {}).items():
        (root / f"{name}.json").write_text(json.dumps({vid: counts[vid] for vid in ids}))


def write_mask_folders(root: Path, counts: dict[str, int], height: int = HEIGHT, width: int = WIDTH) -> None:
    """root/test_masks/<id>/00000.png with a hole in the top-left quarter."""
    for vid, n in counts.items():
        folder = root / "test_masks" / vid
        folder.mkdir(parents=True)
        mask = np.zeros((height, width), np.uint8)
        mask[: height // 2, : width // 2] = 255
        for t in range(n):
            cv2.imwrite(str(folder / f"{t:05d}.png"), mask)


COUNTS = {"a": 8, "b": 9, "c": 8, "d": 10}
SPLIT = {"train": ["a", "b", "c"], "test": ["d"]}


@pytest.fixture
def frames_root(tmp_path: Path) -> Path:
    write_frames_dataset(tmp_path / "frames", COUNTS, SPLIT)
    return tmp_path / "frames"


@pytest.fixture
def zip_root(tmp_path: Path) -> Path:
    write_zip_dataset(tmp_path / "zips", COUNTS, SPLIT)
    return tmp_path / "zips"


@pytest.fixture
def video_root(tmp_path: Path) -> Path:
    write_video_dataset(tmp_path / "videos", COUNTS)
    return tmp_path / "videos"
