"""What the benchmarks share: the CPU's name for their headers and round-robin best-of timing."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def time_variants(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Fastest wall time per variant over ``repeats`` round-robin rounds, after one warm-up round."""
    best = {name: float("inf") for name in variants}
    for round_index in range(repeats + 1):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            if round_index > 0:
                best[name] = min(best[name], elapsed)
    return best
