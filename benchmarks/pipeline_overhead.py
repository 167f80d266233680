"""Host-side cost per frame of the inpainting pipeline, with the generator's time and video I/O taken out.

A stand-in generator of negligible cost (zeros of the right shapes) replaces the model and the
clip is held in memory, so what is timed is everything around the model: resizes, crops,
dilation, feature caching, blending and the paste-back. Two ways out: ``inpaint_frames``, which
returns the whole clip as one new array (its memory is touched for the first time, a cost that
grows with the resolution), and streamed (``run_pipeline`` handing each frame on and dropping
it, as ``inpaint_video`` hands it to the writer). Run it on two checkouts to compare them
(``PYTHONPATH=other/src python benchmarks/pipeline_overhead.py``). ``--threads 1`` runs torch and
OpenCV on one thread: on a CPU shared with other jobs, their intra-op threads wait for each other
and the figure measures the contention more than the work. The last column runs the frame and mask
filters as the torch ops an accelerator runs (``protocol.torch_kernels()``) instead of OpenCV and PIL.
Usage: python benchmarks/pipeline_overhead.py [--frames 60] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import cv2
import numpy as np
import torch

from sttn_lightning.inference import InpaintOptions, inpaint_frames, run_pipeline
from sttn_lightning.media import ArrayFrames, ArrayMasks
from sttn_lightning.models import InpaintGenerator
from sttn_lightning.protocol import torch_kernels

# (label, protocol, frame width, height): the release protocol at its working size, native at 1080p
CASES = (("432x240 release", "release", 432, 240), ("1920x1080 native", "native", 1920, 1080), ("432x240 native", "native", 432, 240))


class StandInGenerator(InpaintGenerator):
    """The pipeline's view of a generator (config, encode, decode_features) at no compute cost.

    Outputs are zeros made once per shape (the pipeline only reads them): allocating a window's
    output afresh would time the stand-in's page faults, not the pipeline.
    """

    def __init__(self) -> None:
        super().__init__(base_channels=8, hidden_channels=32, num_blocks=1)
        self.outputs: dict[tuple[int, ...], torch.Tensor] = {}

    def _zeros(self, *shape: int) -> torch.Tensor:
        if shape not in self.outputs:
            self.outputs[shape] = torch.zeros(shape)
        return self.outputs[shape]

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self._zeros(frames.shape[0], 1, frames.shape[2] // 4, frames.shape[3] // 4)

    def decode_features(self, features: torch.Tensor, masks: torch.Tensor, num_outputs: int | None = None) -> torch.Tensor:
        return self._zeros(masks.shape[0], num_outputs or features.shape[1], 3, masks.shape[-2], masks.shape[-1])


def clip(width: int, height: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise frames and a centred box hole of a sixth of the frame's area in every frame."""
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((frames, height, width), np.uint8)
    masks[:, height // 3 : 2 * height // 3, width // 4 : 3 * width // 4] = 1
    return video, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch and OpenCV threads (default: every CPU)")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    cv2.setNumThreads(arguments.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, {arguments.threads} torch and OpenCV threads; "
        f"{arguments.frames} frames in memory, "
        f"stand-in generator, best of {arguments.rounds} rounds\n"
    )
    print("| case | in memory (inpaint_frames) ms/frame | streamed ms/frame | streamed, torch kernels ms/frame |\n|---|---|---|---|")
    generator = StandInGenerator().eval()
    for label, protocol, width, height in CASES:
        video, masks = clip(width, height, arguments.frames)
        options = InpaintOptions(protocol=protocol, device="cpu", precision="fp32", progress=False)
        def streamed() -> None:
            run_pipeline(ArrayFrames(video), ArrayMasks(masks), generator, torch.device("cpu"), options, lambda finished: None)

        def streamed_with_torch_kernels() -> None:
            with torch_kernels():
                streamed()

        ways = (
            lambda: inpaint_frames(video, masks, generator, protocol=protocol, device="cpu", precision="fp32"),
            streamed,
            streamed_with_torch_kernels,
        )
        cells = []
        for way in ways:
            times = []
            for _ in range(arguments.rounds):
                started = time.perf_counter()
                way()
                times.append(time.perf_counter() - started)
            cells.append(f"{1000 * min(times) / arguments.frames:.2f}")
        print(f"| {label} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
