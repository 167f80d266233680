"""Every GPU check and figure of docs/performance.md in one command, for a session lent a GPU.

    python benchmarks/gpu.py [--frames 200] [--compile] [--device cuda]

Runs, in order, each step printing its own table (a failing step is reported and the next runs):
the torch kernels and the whole pipeline on the GPU against the CPU's pixels (the CUDA tests of
tests/test_resampling.py and tests/inference/test_pipeline.py); the generator alone against the
release oracle, speed (fp32, bf16 autocast) and memory; the whole inference pipeline beside the
generator alone (432x240 and 1280x720, both protocols, fp32 and bf16, GPU memory); with
``--compile`` the same pipeline with compile=true; and a training step (plain loop and Lightning,
peak memory). Ends with the time each step took.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def steps(arguments: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(name, command) of each step, run from the repository root."""
    python, device = sys.executable, arguments.device
    inpaint = [python, "benchmarks/inpaint.py", "--device", device, "--frames", str(arguments.frames)]
    cuda_tests = ["tests/test_resampling.py", "tests/inference/test_pipeline.py"]
    kernel_test = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *cuda_tests, "-k", "cuda"]
    generator_speed = [python, "benchmarks/generator.py", "--device", device, "--frames", "5", "10", "20", "--repeats", "3"]
    return [
        ("torch kernels and the pipeline on the GPU give the CPU's pixels", kernel_test),
        ("generator speed against the release oracle", generator_speed),
        ("generator memory against the release oracle", [python, "benchmarks/generator.py", "--memory", "--device", device]),
        ("inference pipeline beside the generator alone", inpaint),
        *([("inference pipeline with compile=true", [*inpaint, "--compile"])] if arguments.compile else []),
        ("training iterations", [python, "benchmarks/train.py", "--device", device, "--repeats", "2"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="clip length of the inference benchmark")
    parser.add_argument("--compile", action="store_true", help="also time the pipeline with compile=true")
    parser.add_argument("--device", default="cuda")
    arguments = parser.parse_args()
    spent = []
    for name, command in steps(arguments):
        print(f"\n## {name}\n\n$ {' '.join(command)}", flush=True)
        started = time.perf_counter()
        status = subprocess.run(command, cwd=ROOT).returncode
        spent.append((name, time.perf_counter() - started, status))
    print("\n| step | seconds | exit status |\n|---|---|---|")
    for name, seconds, status in spent:
        print(f"| {name} | {seconds:.0f} | {status} |")
    sys.exit(max(status for _, _, status in spent))


if __name__ == "__main__":
    main()
