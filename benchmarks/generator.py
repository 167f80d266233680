"""CPU forward speed of InpaintGenerator against the naive release oracle, in one run.

Run from the repository root: ``.venv/bin/python benchmarks/generator.py``. Times the default
generator on 432x240 clips (float32 and bf16 autocast) and the oracle (float32) with the same
weights and inputs. Variants run round-robin so that load from other processes hits all of them
alike; each cell is the fastest of the timed repeats after one warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sttn_lightning.models import InpaintGenerator  # noqa: E402
from timing import cpu_model, time_variants  # noqa: E402  (benchmarks/timing.py)
from tests.models.release_oracle import ReleaseOracleGenerator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=432)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = InpaintGenerator().eval()
    oracle = ReleaseOracleGenerator().eval()
    oracle.load_state_dict(model.state_dict(), strict=True)

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{args.width}x{args.height}, batch 1, fastest of {args.repeats} after 1 warm-up, seconds per frame\n")
    print("| frames | oracle fp32 | model fp32 | model bf16 autocast | fp32 speed-up | bf16 speed-up vs oracle fp32 |")
    print("|---|---|---|---|---|---|")
    for frames in args.frames:
        masks = (torch.rand(1, frames, 1, args.height, args.width) > 0.7).float()
        masked_frames = (torch.rand(1, frames, 3, args.height, args.width) * 2 - 1) * (1 - masks)

        def run(network: torch.nn.Module, autocast: bool) -> Callable[[], torch.Tensor]:
            def forward() -> torch.Tensor:
                context = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
                with torch.no_grad(), context:
                    return network(masked_frames, masks)

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
