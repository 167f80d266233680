"""Forward speed and memory of InpaintGenerator against the naive release oracle, in one run.

Run from the repository root: ``.venv/bin/python benchmarks/generator.py``. Times the default
generator on 432x240 clips (float32 and bf16 autocast) and the oracle (float32) with the same
weights and inputs. Variants run round-robin so that load from other processes hits all of them
alike; each cell is the fastest of the timed repeats after one warm-up.

``--memory`` instead measures one inference forward of each model (default: a 20-frame window),
float32 and bf16 autocast, each pair in a fresh child process, after one warm-up forward:
the peak above the level just before the forward of the process's resident memory (CPU; glibc
told to mmap every allocation over 64 KiB, so freed tensors leave it at once) or of the CUDA
allocator, and the peak of live tensor storages alone (no conv workspaces or oneDNN reorders,
the same on any device).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sttn_lightning.models import InpaintGenerator  # noqa: E402
from timing import cpu_model, time_variants  # noqa: E402  (benchmarks/timing.py)
from tests.models.release_oracle import ReleaseOracleGenerator  # noqa: E402
from tests.models.test_generator import LiveTensorPeak  # noqa: E402

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
MIB = 2**20


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_above_start(forward: Callable[[], object], device: torch.device) -> float:
    """MiB that ``forward`` needed above what the process held just before it (Linux for the CPU)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        forward()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / MIB
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak resident set
    before = _proc_status_kib("VmRSS")
    forward()
    return (_proc_status_kib("VmHWM") - before) / 1024


def measure_memory(args: argparse.Namespace) -> None:
    """Child process: one model at one precision; prints a JSON line of peaks in MiB."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = InpaintGenerator()
    if args.measure[0] == "oracle":
        oracle = ReleaseOracleGenerator()
        oracle.load_state_dict(model.state_dict(), strict=True)
        model = oracle
    model = model.eval().to(device)
    frames = args.frames[0]
    masks = (torch.rand(1, frames, 1, args.height, args.width, device=device) > 0.7).float()
    masked_frames = (torch.rand(1, frames, 3, args.height, args.width, device=device) * 2 - 1) * (1 - masks)
    dtype = PRECISIONS[args.measure[1]]
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        model(masked_frames, masks)  # warm-up: one-time allocations (kernel caches) are not the forward's
        process = [peak_above_start(lambda: model(masked_frames, masks), device) for _ in range(args.repeats)]
        with LiveTensorPeak(ignore=(masked_frames, masks)) as tracker:
            model(masked_frames, masks)
    print(json.dumps({"process": process, "tensors": tracker.peak / MIB}))


def memory_table(args: argparse.Namespace) -> None:
    """Each model and precision in a child process, so no allocator state carries over."""
    frames = args.frames[0]
    machine = cpu_model() if args.device == "cpu" else torch.cuda.get_device_name()
    print(f"{machine}, CPU capability {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}")
    print(
        f"one inference forward, {frames} frames at {args.width}x{args.height}, batch 1: "
        f"peak MiB above the start, largest of {args.repeats} after a warm-up\n"
    )
    memory = "resident memory" if args.device == "cpu" else "CUDA allocator"
    print(f"| precision | oracle, {memory} | ours, {memory} | oracle, live tensors | ours, live tensors |")
    print("|---|---|---|---|---|")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    spread = []
    for precision in PRECISIONS:
        peaks = {}
        for network in ("oracle", "ours"):
            command = [sys.executable, __file__, "--measure", network, precision, "--device", args.device]
            command += ["--frames", str(frames), "--height", str(args.height), "--width", str(args.width)]
            command += ["--repeats", str(args.repeats)]
            child = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            peaks[network] = json.loads(child.stdout.splitlines()[-1])
        oracle, ours = peaks["oracle"], peaks["ours"]
        for name, peak in peaks.items():
            spread.append(f"{name} {precision} {min(peak['process']):.0f}-{max(peak['process']):.0f}")
        print(
            f"| {precision} | {max(oracle['process']):.0f} | {max(ours['process']):.0f} "
            f"| {oracle['tensors']:.0f} | {ours['tensors']:.0f} |"
        )
    print(f"\n{memory} over the {args.repeats} forwards: " + ", ".join(spread))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", help="clip lengths (default: 5 10; --memory: 20)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=432)
    parser.add_argument("--memory", action="store_true", help="peak memory of one forward instead of speed")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--measure", nargs=2, metavar=("NETWORK", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure_memory(args)
        return
    if args.memory:
        args.frames = args.frames or [20]
        memory_table(args)
        return
    args.frames = args.frames or [5, 10]

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = InpaintGenerator().eval()
    oracle = ReleaseOracleGenerator().eval()
    oracle.load_state_dict(model.state_dict(), strict=True)
    model, oracle = model.to(device), oracle.to(device)

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}, TF32 for matmuls/convolutions: "
              f"{torch.backends.cuda.matmul.allow_tf32}/{torch.backends.cudnn.allow_tf32}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{args.width}x{args.height}, batch 1, fastest of {args.repeats} after 1 warm-up, seconds per frame\n")
    print("| frames | oracle fp32 | model fp32 | model bf16 autocast | fp32 speed-up | bf16 speed-up vs oracle fp32 |")
    print("|---|---|---|---|---|---|")
    for frames in args.frames:
        masks = (torch.rand(1, frames, 1, args.height, args.width, device=device) > 0.7).float()
        masked_frames = (torch.rand(1, frames, 3, args.height, args.width, device=device) * 2 - 1) * (1 - masks)

        def run(network: torch.nn.Module, autocast: bool) -> Callable[[], torch.Tensor]:
            def forward() -> torch.Tensor:
                context = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
                with torch.no_grad(), context:
                    output = network(masked_frames, masks)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                return output

            return forward

        seconds = time_variants(
            {"oracle": run(oracle, False), "fp32": run(model, False), "bf16": run(model, True)}, args.repeats
        )
        per_frame = {name: value / frames for name, value in seconds.items()}
        print(
            f"| {frames} | {per_frame['oracle']:.3f} | {per_frame['fp32']:.3f} | {per_frame['bf16']:.3f} "
            f"| {seconds['oracle'] / seconds['fp32']:.2f}x | {seconds['oracle'] / seconds['bf16']:.2f}x |"
        )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
