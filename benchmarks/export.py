"""Exported generator (onnxruntime, torch.export) against eager fp32 on the same windows: parity and CPU speed.

Run from the repository root: ``.venv/bin/python benchmarks/export.py`` (needs the ``[export]``
extra). Exports the default generator (the release's architecture) at 432x240 in both formats
into a temporary folder, then for each window length runs the frame encoder on every frame and
the window part (transformer + decoder) on the window, decoding its first ``--outputs`` frames
as inference does, through eager torch, onnxruntime (CPU provider) and the torch.export program.
Weights are random with a gain that keeps activations of order one through the 8 blocks (the
release's N(0, 0.02) init shrinks them so much that any two implementations agree trivially).
Timed variants run round-robin; each cell is the fastest of the repeats after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sttn_lightning.models import InpaintGenerator  # noqa: E402
from timing import cpu_model, time_variants  # noqa: E402  (benchmarks/timing.py)
from sttn_lightning.models.exported import load_inference_model  # noqa: E402
from sttn_lightning.models.exporting import export_parts  # noqa: E402

BACKENDS = {"onnxruntime": ("onnx", ".onnx"), "torch_export": ("torch_export", ".pt2")}


def scaled_init_(model: torch.nn.Module, gain: float = 0.7) -> None:
    """Conv weights N(0, gain^2 / fan_in), biases N(0, 0.1^2): activations stay of order one."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0.0, gain / module.weight[0].numel() ** 0.5)
                module.bias.normal_(0.0, 0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[5, 15, 30, 60], help="window lengths checked for parity")
    parser.add_argument("--timed-frames", type=int, nargs="+", default=[15], help="window lengths also timed")
    parser.add_argument("--outputs", type=int, default=11, help="frames decoded per window (a window's neighbours)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--width", type=int, default=432)
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args()
    size = (args.width, args.height)

    torch.manual_seed(0)
    generator = InpaintGenerator().eval()
    scaled_init_(generator)
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, capability {torch.backends.cpu.get_cpu_capability()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__} "
        f"(CPUExecutionProvider, default threads)"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        models: dict[str, object] = {"eager": generator}
        for backend, (format, suffix) in BACKENDS.items():
            start = time.perf_counter()
            path, _ = export_parts(generator, Path(folder) / f"sttn{suffix}", format, size)
            sizes = sum(file.stat().st_size for file in Path(folder).glob(f"*{suffix}")) / 2**20
            print(f"export {format}: {time.perf_counter() - start:.0f} s, {sizes:.0f} MB")
            models[backend] = load_inference_model(path, backend, size=size)

        print(f"\n{args.width}x{args.height}, default generator, fp32; largest absolute difference from eager\n")
        print("| window frames | decoded | encoder onnxruntime | window onnxruntime | encoder torch.export | window torch.export |")
        print("|---|---|---|---|---|---|")
        rng = torch.Generator().manual_seed(1)
        windows = {}
        for frames in sorted(set(args.frames) | set(args.timed_frames)):
            masks = (torch.rand(1, frames, 1, args.height, args.width, generator=rng) > 0.7).float()
            masked = (torch.rand(frames, 3, args.height, args.width, generator=rng) * 2 - 1) * (1 - masks[0])
            windows[frames] = (masked, masks, min(args.outputs, frames))
        for frames in args.frames:
            masked, masks, outputs = windows[frames]
            with torch.inference_mode():
                features = generator.encode(masked)
                expected = generator.decode_features(features[None], masks, outputs)
                cells = []
                for backend in BACKENDS:
                    model = models[backend]
                    cells.append((model.encode(masked) - features).abs().max().item())
                    cells.append((model.decode_features(features[None], masks, outputs) - expected).abs().max().item())
            print(f"| {frames} | {outputs} | " + " | ".join(f"{value:.1e}" for value in cells) + " |")

        print(f"\nseconds per call, fastest of {args.repeats} after 1 warm-up (encoder: all the window's frames)\n")
        print("| window frames | decoded | part | eager fp32 | onnxruntime | torch.export | onnxruntime vs eager | torch.export vs eager |")
        print("|---|---|---|---|---|---|---|---|")
        for frames in args.timed_frames:
            masked, masks, outputs = windows[frames]
            with torch.inference_mode():
                features = generator.encode(masked)[None]
                for part, call in (
                    ("encoder", lambda model: model.encode(masked)),
                    ("window", lambda model: model.decode_features(features, masks, outputs)),
                ):
                    seconds = time_variants({name: (lambda m=model: call(m)) for name, model in models.items()}, args.repeats)
                    print(
                        f"| {frames} | {outputs} | {part} | {seconds['eager']:.3f} | {seconds['onnxruntime']:.3f} "
                        f"| {seconds['torch_export']:.3f} | {seconds['eager'] / seconds['onnxruntime']:.2f}x "
                        f"| {seconds['eager'] / seconds['torch_export']:.2f}x |"
                    )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
