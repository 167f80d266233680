"""Training-data throughput: the three layouts through the DataModule, and the two video decoders per
access pattern, with DAVIS-sized 854x480 sources resized to the 432x240 training size.

Baselines in the same run: decoding the 5 JPEG frames of a clip with nothing else (no resize,
sampling, augmentation, masks or tensors), one process; and, for the resize, albumentations'
bilinear ``A.Resize`` that the loader used before the protocol's bicubic. Each rate is the best
of --rounds rounds, as other processes on a shared machine only ever slow a round down.
Usage: python benchmarks/data.py [--clips 48] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch

from sttn_lightning.data import VideoInpaintingDataModule
from sttn_lightning.media import FolderFrames, Size
from sttn_lightning.media.video import DecordVideo, StreamedVideo
from sttn_lightning.protocol import resize_crop, resize_frame

SOURCE = Size(854, 480)
TRAIN = Size(432, 240)
NUM_VIDEOS, NUM_FRAMES, CLIP = 6, 60, 5


def _frames(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (SOURCE.height // 8, SOURCE.width // 8, 3), dtype=np.uint8), (SOURCE.width + 64, SOURCE.height))
    return [np.ascontiguousarray(base[:, t : t + SOURCE.width]) for t in range(NUM_FRAMES)]


def write_datasets(root: Path) -> dict[str, Path]:
    """The same videos as JPEG folders, the release's zips and MPEG-4 files."""
    counts = {f"video{i}": NUM_FRAMES for i in range(NUM_VIDEOS)}
    (root / "zips" / "JPEGImages").mkdir(parents=True)
    (root / "videos").mkdir()
    for i, video_id in enumerate(counts):
        folder = root / "frames" / "JPEGImages" / video_id
        folder.mkdir(parents=True)
        writer = cv2.VideoWriter(str(root / "videos" / f"{video_id}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 24, SOURCE)
        with zipfile.ZipFile(root / "zips" / "JPEGImages" / f"{video_id}.zip", "w") as archive:
            for t, frame in enumerate(_frames(i)):
                data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                (folder / f"{t:05d}.jpg").write_bytes(data)
                archive.writestr(f"{t:05d}.jpg", data)
                writer.write(frame)
        writer.release()
    for layout in ("frames", "zips"):
        (root / layout / "train.json").write_text(json.dumps(counts))
        (root / layout / "test.json").write_text(json.dumps(counts))
    return {"frames": root / "frames", "zip": root / "zips", "video": root / "videos"}


def _best_rate(step: Callable[[], object], count: int, rounds: int) -> float:
    """Highest calls/s over `rounds` timed rounds of `count` calls of step()."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            step()
        rates.append(count / (time.perf_counter() - start))
    return max(rates)


def _random_clips(seed: int = 0):
    """An endless stream of (video index, sorted random frame indices), as training draws them."""
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(NUM_VIDEOS)), sorted(rng.choice(NUM_FRAMES, CLIP, replace=False).tolist())


def decode_baseline(root: Path, clips: int, rounds: int) -> float:
    readers = [FolderFrames(root / "JPEGImages" / f"video{i}") for i in range(NUM_VIDEOS)]
    draws = _random_clips()

    def step() -> None:
        video, indices = next(draws)
        readers[video].read(indices)

    return _best_rate(step, clips, rounds)


def resize_rates(root: Path, clips: int, rounds: int) -> dict[str, float]:
    """Clips/s of the resize alone: albumentations' bilinear (before) and the protocol's bicubic (now)."""
    clip = np.stack(FolderFrames(root / "JPEGImages" / "video0").read(range(CLIP)))
    bilinear = A.Compose([A.Resize(TRAIN.height, TRAIN.width)])
    return {
        "A.Resize bilinear (before)": _best_rate(lambda: bilinear(images=clip), clips, rounds),
        "protocol.resize_frame bicubic (now, frame_resize=release)": _best_rate(
            lambda: [resize_frame(f, TRAIN) for f in clip], clips, rounds
        ),
        "protocol.resize_crop area (frame_resize=native)": _best_rate(lambda: [resize_crop(f, TRAIN) for f in clip], clips, rounds),
    }


def decoder_rates(root: Path, clips: int, rounds: int) -> list[tuple[str, str, float]]:
    """Frames/s of decord and the ffmpeg pipes for random 5-frame clips and for whole videos in order."""
    rows = []
    for name, opener in (("decord", DecordVideo), ("ffmpeg pipes", StreamedVideo)):
        readers = [opener(root / f"video{i}.mp4") for i in range(NUM_VIDEOS)]
        draws = _random_clips()

        def random_step() -> None:
            video, indices = next(draws)
            readers[video].read(indices)

        rows.append((name, "random 5-frame clips", CLIP * _best_rate(random_step, clips, rounds)))

        def sequential_step() -> None:
            reader = opener(root / "video0.mp4")
            for start in range(0, NUM_FRAMES, 16):
                reader.read(range(start, min(start + 16, NUM_FRAMES)))
            reader.close()

        rows.append((name, "whole video in order", NUM_FRAMES * _best_rate(sequential_step, 2, rounds)))
        for reader in readers:
            reader.close()
    return rows


def loader_rate(root: Path, workers: int, clips: int, rounds: int, frame_resize: str = "release") -> float:
    """Clips/s of the training dataloader (batch 1), timed after the first batch (worker start-up)."""
    datamodule = VideoInpaintingDataModule(
        root, num_frames=CLIP, height=TRAIN.height, width=TRAIN.width, batch_size=1, num_workers=workers,
        frame_resize=frame_resize,
        samples_per_video=clips * rounds // NUM_VIDEOS + 2, eval_masks="box", cache_dir=root / ".cache",
    )
    datamodule.setup("fit")
    batches = iter(datamodule.train_dataloader())
    next(batches)
    return _best_rate(lambda: next(batches), clips, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}, opencv {cv2.__version__}; clip = {CLIP} frames, {SOURCE} sources "
          f"resized to {TRAIN}, batch 1, best of {args.rounds} rounds of {args.clips} clips")
    with tempfile.TemporaryDirectory() as folder:
        roots = write_datasets(Path(folder))
        baseline = decode_baseline(roots["frames"], args.clips, args.rounds)
        print("\n| resize of one clip | clips/s |\n|---|---|")
        for name, rate in resize_rates(roots["frames"], args.clips, args.rounds).items():
            print(f"| {name} | {rate:.1f} |")
        print("\n| video decoder | access | frames/s |\n|---|---|---|")
        for name, access, rate in decoder_rates(roots["video"], args.clips, args.rounds):
            print(f"| {name} | {access} | {rate:.0f} |")
        print("\n| layout | frame_resize | workers | clips/s | vs decode-only baseline |\n|---|---|---|---|---|")
        print(f"| JPEG decode only (baseline) | none | 0 | {baseline:.1f} | 1.00x |")
        for layout, root in roots.items():
            for frame_resize in ("release", "native"):
                for workers in (0, 2):
                    rate = loader_rate(root, workers, args.clips, args.rounds, frame_resize)
                    print(f"| {layout} | {frame_resize} | {workers} | {rate:.1f} | {rate / baseline:.2f}x |")


if __name__ == "__main__":
    main()
