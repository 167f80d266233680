"""Clips, masks and a tiny generator written into tmp_path for the inference tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from sttn_lightning.models import InpaintGenerator, export_generator

TINY_GENERATOR = dict(base_channels=8, hidden_channels=32, num_blocks=1, patch_grids=((1, 1), (2, 2), (4, 4), (8, 8)))
TINY_SIZE = (64, 32)  # a quarter (16x8) holds the 8x8 grid


def make_frames(num_frames: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """(t, H, W, 3) uint8: a moving gradient plus noise, so neighbouring frames differ."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(num_frames):
        base = np.stack([(x * 3 + t * 7) % 256, (y * 5 + t * 3) % 256, (x + y + t * 11) % 256], axis=-1)
        frames.append(np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_frame_folder(folder: Path, frames: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def write_mask(path: Path, mask: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask.astype(np.uint8) * 255)
    return path


def box_mask(width: int, height: int, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[top:bottom, left:right] = 1
    return mask


def write_video(path: Path, frames: np.ndarray, fps: str = "25", audio: bool = False) -> Path:
    """An H.264 file (4:4:4, so odd sizes work) from RGB frames, optionally with a sine audio track."""
    height, width = frames.shape[1:3]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    command += ["-s", f"{width}x{height}", "-r", fps, "-i", "-"]
    if audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:duration=10", "-shortest", "-c:a", "aac"]
    command += ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)]
    subprocess.run(command, input=frames.tobytes(), check=True)
    return path


def read_png_folder(folder: Path) -> np.ndarray:
    files = sorted(folder.iterdir())
    return np.stack([cv2.cvtColor(cv2.imread(str(file)), cv2.COLOR_BGR2RGB) for file in files])


def has_audio(path: Path) -> bool:
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return "Audio:" in probe.stderr


@pytest.fixture
def tiny_generator() -> InpaintGenerator:
    return InpaintGenerator(**TINY_GENERATOR).eval()


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_generator: InpaintGenerator) -> Path:
    return export_generator(tiny_generator, tmp_path / "weights" / "tiny.pth")
