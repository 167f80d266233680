"""Inference throughput and peak memory: release protocol vs native mode, fp32 vs bf16, two clip sizes.

    python benchmarks/inpaint.py [--frames 5] [--device cpu]

Uses the default (release-sized) generator with random weights: speed and memory do not depend
on the weights, and nothing is downloaded. Every configuration runs in its own process, so
each peak RSS is that run's alone. The release protocol at fp32 is the baseline of each clip
size; the table gives the others relative to it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image

from sttn_lightning.inference import inpaint_video
from sttn_lightning.models import InpaintGenerator

CLIP_SIZES = ((432, 240), (1280, 720))
CONFIGURATIONS = (("release", "fp32"), ("native", "fp32"), ("release", "bf16"), ("native", "bf16"))


def write_clip(folder: Path, size: tuple[int, int], frames: int) -> tuple[Path, Path]:
    """An H.264 test pattern and a mask image with a centred box of a sixth of the frame's area."""
    width, height = size
    video = folder / f"clip_{width}x{height}.mp4"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i"]
    command += [f"testsrc2=size={width}x{height}:rate=25", "-frames:v", str(frames), "-pix_fmt", "yuv420p", str(video)]
    subprocess.run(command, check=True)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 3 : height // 3 + height // 3, width // 4 : width // 4 + width // 2] = 255
    mask_path = folder / f"mask_{width}x{height}.png"
    Image.fromarray(mask).save(mask_path)
    return video, mask_path


def run_child(arguments: argparse.Namespace) -> None:
    """One configuration in this process; prints its summary as JSON."""
    torch.manual_seed(0)
    summary = inpaint_video(
        arguments.video,
        arguments.mask,
        InpaintGenerator(),
        arguments.output,
        protocol=arguments.protocol,
        precision=arguments.precision,
        device=arguments.device,
        progress=False,
    )
    print(json.dumps({"fps": summary.fps, "seconds": summary.seconds, "peak_rss_mb": summary.peak_rss_mb}))


def measure(video: Path, mask: Path, output: Path, protocol: str, precision: str, device: str) -> dict:
    command = [sys.executable, __file__, "--child", "--video", str(video), "--mask", str(mask), "--output", str(output)]
    command += ["--protocol", protocol, "--precision", precision, "--device", device]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu}, {cores} cores, torch {torch.__version__} ({torch.get_num_threads()} threads){gpu}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5, help="clip length (5 = one window of the release protocol)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("video", "mask", "output", "protocol", "precision"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_child(arguments)
        return
    print(f"Machine: {machine()}; device {arguments.device}; {arguments.frames}-frame clips, default generator (random weights)\n")
    print("| clip | protocol | precision | frames/s | vs baseline | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for size in CLIP_SIZES:
            video, mask = write_clip(Path(folder), size, arguments.frames)
            baseline = None
            for protocol, precision in CONFIGURATIONS:
                output = Path(folder) / f"out_{size[0]}_{protocol}_{precision}.mp4"
                result = measure(video, mask, output, protocol, precision, arguments.device)
                baseline = baseline or result["fps"]
                print(
                    f"| {size[0]}x{size[1]} | {protocol} | {precision} | {result['fps']:.3f} | "
                    f"{result['fps'] / baseline:.2f}x | {result['peak_rss_mb']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
