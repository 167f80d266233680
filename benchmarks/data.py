"""Training-clip throughput of the three source layouts at 432x240, with 0 and 2 DataLoader workers.

Baseline in the same run: decoding the 5 JPEG frames of a clip with nothing else (no sampling,
augmentation, masks or tensors), one process. Each rate is the best of --rounds rounds, as other
processes on a shared machine only ever slow a round down.
Usage: python benchmarks/data.py [--clips 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch

from sttn_lightning.data import VideoInpaintingDataModule, build_source

HEIGHT, WIDTH, NUM_VIDEOS, NUM_FRAMES, CLIP = 240, 432, 8, 48, 5


def _frames(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8), (WIDTH + 64, HEIGHT))
    return [np.ascontiguousarray(base[:, t : t + WIDTH]) for t in range(NUM_FRAMES)]


def write_datasets(root: Path) -> dict[str, Path]:
    """The same videos as JPEG folders, the release's zips and MPEG-4 files."""
    counts = {f"video{i}": NUM_FRAMES for i in range(NUM_VIDEOS)}
    for i, video_id in enumerate(counts):
        frames = _frames(i)
        folder = root / "frames" / "JPEGImages" / video_id
        folder.mkdir(parents=True)
        (root / "zips" / "JPEGImages").mkdir(parents=True, exist_ok=True)
        (root / "videos").mkdir(exist_ok=True)
        writer = cv2.VideoWriter(str(root / "videos" / f"{video_id}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 24, (WIDTH, HEIGHT))
        with zipfile.ZipFile(root / "zips" / "JPEGImages" / f"{video_id}.zip", "w") as archive:
            for t, frame in enumerate(frames):
                data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                (folder / f"{t:05d}.jpg").write_bytes(data)
                archive.writestr(f"{t:05d}.jpg", data)
                writer.write(frame)
        writer.release()
    for layout in ("frames", "zips"):
        (root / layout / "train.json").write_text(json.dumps(counts))
    return {"frames": root / "frames", "zip": root / "zips", "video": root / "videos"}


def _best_rate(step, clips: int, rounds: int) -> float:
    """Highest clips/s over `rounds` timed rounds of `clips` calls of step()."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(clips):
            step()
        rates.append(clips / (time.perf_counter() - start))
    return max(rates)


def decode_baseline(root: Path, clips: int, rounds: int) -> float:
    """Clips/s for decoding 5 consecutive JPEGs of a folder and nothing else."""
    source = build_source(root, split="train")
    starts = iter(range(10**9))

    def step() -> None:
        i = next(starts)
        first = i % (NUM_FRAMES - CLIP)
        source.read(source.video_ids[i % NUM_VIDEOS], range(first, first + CLIP))

    return _best_rate(step, clips, rounds)


def loader_rate(root: Path, workers: int, clips: int, rounds: int) -> float:
    """Clips/s of the training dataloader (batch 1), timed after the first batch (worker start-up)."""
    datamodule = VideoInpaintingDataModule(
        root, num_frames=CLIP, height=HEIGHT, width=WIDTH, batch_size=1, num_workers=workers,
        samples_per_video=clips * rounds // NUM_VIDEOS + 2,
    )
    datamodule.setup("fit")
    batches = iter(datamodule.train_dataloader())
    next(batches)
    return _best_rate(lambda: next(batches), clips, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
          f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, opencv {cv2.__version__}; "
          f"clip = {CLIP} frames of {WIDTH}x{HEIGHT}, batch 1, best of {args.rounds} rounds of {args.clips} clips")
    with tempfile.TemporaryDirectory() as folder:
        roots = write_datasets(Path(folder))
        baseline = decode_baseline(roots["frames"], args.clips, args.rounds)
        print("\n| layout | workers | clips/s | vs decode-only baseline |\n|---|---|---|---|")
        print(f"| JPEG decode only (baseline) | 0 | {baseline:.1f} | 1.00x |")
        for layout, root in roots.items():
            for workers in (0, 2):
                rate = loader_rate(root, workers, args.clips, args.rounds)
                print(f"| {layout} | {workers} | {rate:.1f} | {rate / baseline:.2f}x |")


if __name__ == "__main__":
    main()
