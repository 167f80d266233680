"""The embedded demo dataset: short clips panned and zoomed over scikit-image's bundled photographs.

It is written once in the frame-folder layout (JPEGImages/, train.json, test.json, test_masks/)
and then read by the same code as a real dataset, so training runs on a fresh machine with no
download.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from sttn_lightning.data.errors import DataError
from sttn_lightning.media.blobs import random_video_masks, video_seed
from sttn_lightning.media.masks import write_mask_folder
from sttn_lightning.media.writers import publish_folder

PHOTO_LOADERS = {
    "astronaut": skimage.data.astronaut,
    "chelsea": skimage.data.chelsea,
    "coffee": skimage.data.coffee,
    "rocket": skimage.data.rocket,
    "hubble": skimage.data.hubble_deep_field,
    "motorcycle": lambda: skimage.data.stereo_motorcycle()[0],
    "retina": skimage.data.retina,
    "ihc": skimage.data.immunohistochemistry,
}
PHOTOS = tuple(PHOTO_LOADERS)
MARKER = "demo.json"


def _camera_frames(photo: np.ndarray, rng: np.random.Generator, num_frames: int, height: int, width: int) -> np.ndarray:
    """A smooth pan (linear centre path) and zoom (half a cosine) over the photo, RGB uint8 (t, H, W, 3)."""
    photo_h, photo_w = photo.shape[:2]
    base_scale = min(photo_h / height, photo_w / width)
    zoom_from, zoom_to = rng.uniform(0.55, 0.9, size=2)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    start, end = rng.uniform(0.3, 0.7, size=(2, 2))
    for t in range(num_frames):
        progress = t / max(num_frames - 1, 1)
        zoom = zoom_from + (zoom_to - zoom_from) * (1 - np.cos(np.pi * progress)) / 2
        scale = base_scale * zoom
        crop_w, crop_h = width * scale, height * scale
        centre = start + (end - start) * progress
        cx = np.clip(centre[0] * photo_w, crop_w / 2, photo_w - crop_w / 2)
        cy = np.clip(centre[1] * photo_h, crop_h / 2, photo_h - crop_h / 2)
        affine = np.array([[scale, 0, cx - crop_w / 2], [0, scale, cy - crop_h / 2]], np.float32)
        frames[t] = cv2.warpAffine(photo, affine, (width, height), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP)
    return frames


def _add_moving_shapes(frames: np.ndarray, rng: np.random.Generator, count: int = 3) -> None:
    """Draw `count` coloured discs and boxes moving in straight lines, bouncing off the borders."""
    num_frames, height, width = frames.shape[:3]
    for _ in range(count):
        size = rng.uniform(0.06, 0.14) * min(height, width) * 2
        position = rng.uniform([size, size], [width - size, height - size])
        velocity = rng.uniform(-1, 1, size=2) * width / 60
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        disc = rng.random() < 0.5
        for t in range(num_frames):
            x, y = position.astype(int)
            half = int(size / 2)
            if disc:
                cv2.circle(frames[t], (x, y), half, colour, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(frames[t], (x - half, y - half), (x + half, y + half), colour, -1)
            position = position + velocity
            bounced = (position < size / 2) | (position > [width - size / 2, height - size / 2])
            velocity = np.where(bounced, -velocity, velocity)


def _write_dataset(folder: Path, settings: dict) -> None:
    names = [f"{PHOTOS[i % len(PHOTOS)]}_{i // len(PHOTOS)}" for i in range(settings["num_videos"])]
    num_test = settings["num_test_videos"]
    for index, video_id in enumerate(names):
        rng = video_seed(settings["seed"], video_id)
        photo = np.ascontiguousarray(PHOTO_LOADERS[PHOTOS[index % len(PHOTOS)]]()[..., :3])
        frames = _camera_frames(photo, rng, settings["num_frames"], settings["height"], settings["width"])
        _add_moving_shapes(frames, rng)
        video_dir = folder / "JPEGImages" / video_id
        video_dir.mkdir(parents=True)
        for t, frame in enumerate(frames):
            cv2.imwrite(str(video_dir / f"{t:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    train, test = names[: len(names) - num_test], names[len(names) - num_test :]
    (folder / "train.json").write_text(json.dumps({v: settings["num_frames"] for v in train}, indent=1))
    (folder / "test.json").write_text(json.dumps({v: settings["num_frames"] for v in test}, indent=1))
    for video_id in test:
        rng = video_seed(settings["seed"] + 1, video_id)
        masks = random_video_masks(rng, settings["num_frames"], settings["height"], settings["width"], p_stationary=0.0)
        write_mask_folder(folder / "test_masks" / video_id, masks)
    (folder / MARKER).write_text(json.dumps(settings, indent=1, sort_keys=True))


def generate_demo_dataset(
    root: str | os.PathLike,
    num_videos: int = 8,
    num_frames: int = 24,
    height: int = 120,
    width: int = 216,
    num_test_videos: int = 2,
    seed: int = 0,
) -> Path:
    """Write the demo dataset to `root` unless it is already there; returns root.

    Written into a temporary sibling folder, then renamed into place: a process that loses a race
    (another DDP rank) discards its copy, and an interrupted run leaves no partial dataset behind.
    """
    if not 0 < num_test_videos < num_videos:
        raise DataError(f"demo: expected 0 < num_test_videos < num_videos, found {num_test_videos} and {num_videos}")
    root = Path(root)
    settings = {
        "num_videos": int(num_videos), "num_frames": int(num_frames), "height": int(height),
        "width": int(width), "num_test_videos": int(num_test_videos), "seed": int(seed),
    }
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise DataError(f"{root}: expected a missing or empty folder for the demo dataset, found other files")
    if not (root / MARKER).is_file():
        publish_folder(root, lambda temp: _write_dataset(temp, settings), (root / MARKER).is_file)
    found = json.loads((root / MARKER).read_text())
    if found != settings:
        raise DataError(
            f"{root / MARKER}: expected a demo dataset made with {settings}, found one made with {found}; "
            "delete the folder or choose another data.root"
        )
    return root
