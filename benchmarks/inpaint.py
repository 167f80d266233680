"""Inference throughput and peak memory: the whole pipeline beside the generator alone, per protocol and precision.

    python benchmarks/inpaint.py [--frames 20] [--device cpu|cuda] [--compile]

Uses the default (release-sized) generator with random weights: speed and memory do not depend
on the weights, and nothing is downloaded. Every configuration runs in its own process, so
each peak RSS is that run's alone. For each precision, "generator alone" is the model work the
pipeline does on the clip, without the pipeline: every frame encoded once and the release's
windows decoded, at the working size, on inputs already on the device; the pipeline's frames/s
(video decoding, everything around the model, encoding) is given beside it and as a share of it. The release protocol at fp32 is the baseline of each
clip size. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image

from sttn_lightning.devices import peak_rss_mb
from sttn_lightning.inference import inpaint_video
from sttn_lightning.inference.windows import plan_windows
from sttn_lightning.models import InpaintGenerator
from timing import cpu_model  # benchmarks/timing.py

CLIP_SIZES = ((432, 240), (1280, 720))
PRECISIONS = ("fp32", "bf16")
PROTOCOLS = ("release", "native")
WORKING_SIZE = (432, 240)


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
    generator = InpaintGenerator()
    if arguments.protocol == "generator":
        print(json.dumps(generator_alone(generator, arguments)))
        return
    summary = inpaint_video(
        arguments.video,
        arguments.mask,
        generator,
        arguments.output,
        protocol=arguments.protocol,
        precision=arguments.precision,
        device=arguments.device,
        compile=arguments.compile,
        progress=False,
    )
    figures = {"fps": summary.fps, "seconds": summary.seconds, "peak_rss_mb": summary.peak_rss_mb}
    print(json.dumps({**figures, "peak_device_mb": summary.peak_device_mb}))


def generator_alone(generator: InpaintGenerator, arguments: argparse.Namespace) -> dict:
    """Frames/s of the model work the pipeline does on a clip: every frame encoded once, then the
    release's windows decoded (each predicts its neighbours), at the working size, already on the device."""
    device = torch.device(arguments.device)
    generator = generator.to(device).eval()
    width, height = WORKING_SIZE
    frames = torch.rand(arguments.frames, 3, height, width, device=device) * 2 - 1
    masks = torch.zeros(arguments.frames, 1, height, width, device=device)
    masks[:, :, height // 3 : 2 * height // 3, width // 4 : 3 * width // 4] = 1
    windows = plan_windows(arguments.frames)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[arguments.precision]
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        timings = []
        for _ in range(2):  # the first run warms up (allocations, kernel choice)
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            features = generator.encode(frames * (1 - masks))
            for window in windows:
                index = list(window.frames)
                generator.decode_features(features[index][None], masks[index][None], len(window.neighbours))
            if device.type == "cuda":
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - started)
    device_mb = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"fps": arguments.frames / timings[-1], "seconds": timings[-1], "peak_rss_mb": peak_rss_mb(), "peak_device_mb": device_mb}


def measure(video: Path, mask: Path, output: Path, protocol: str, precision: str, arguments: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", "--video", str(video), "--mask", str(mask), "--output", str(output)]
    command += ["--protocol", protocol, "--precision", precision, "--device", arguments.device, "--frames", str(arguments.frames)]
    command += ["--compile"] if arguments.compile else []
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu} ({torch.backends.cpu.get_cpu_capability()}), {cores} cores, torch {torch.__version__} ({torch.get_num_threads()} threads){gpu}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="clip length, also the generator-alone window")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="run the pipeline with compile=true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("video", "mask", "output", "protocol", "precision"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_child(arguments)
        return
    print(f"Machine: {machine()}; device {arguments.device}; {arguments.frames}-frame clips, default generator "
          f"(random weights){', compile=true' if arguments.compile else ''}\n")
    on_gpu = arguments.device.startswith("cuda")
    print("| clip | protocol | precision | frames/s | vs release fp32 | share of generator alone | peak RSS (MB) |"
          + (" peak GPU (MB) |" if on_gpu else ""))
    print("|---|---|---|---|---|---|---|" + ("---|" if on_gpu else ""))

    def device_cell(result: dict) -> str:
        return f" {result['peak_device_mb']:.0f} |" if on_gpu else ""

    with tempfile.TemporaryDirectory() as folder:
        alone_results = {precision: measure(Path(), Path(), Path(), "generator", precision, arguments) for precision in PRECISIONS}
        alone = {precision: result["fps"] for precision, result in alone_results.items()}
        for precision, result in alone_results.items():
            print(f"| windows of {arguments.frames} frames at {WORKING_SIZE[0]}x{WORKING_SIZE[1]} | generator alone | {precision} | "
                  f"{result['fps']:.3f} | | 100% | |{device_cell(result)}", flush=True)
        for size in CLIP_SIZES:
            video, mask = write_clip(Path(folder), size, arguments.frames)
            baseline = None
            for precision in PRECISIONS:
                for protocol in PROTOCOLS:
                    output = Path(folder) / f"out_{size[0]}_{protocol}_{precision}.mp4"
                    result = measure(video, mask, output, protocol, precision, arguments)
                    baseline = baseline or result["fps"]
                    print(
                        f"| {size[0]}x{size[1]} | {protocol} | {precision} | {result['fps']:.3f} | "
                        f"{result['fps'] / baseline:.2f}x | {100 * result['fps'] / alone[precision]:.0f}% | "
                        f"{result['peak_rss_mb']:.0f} |{device_cell(result)}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
