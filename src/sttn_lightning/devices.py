"""Where a run computes and what it costs in memory: device choice and peak resident memory."""

from __future__ import annotations

import sys
import warnings

import torch

from sttn_lightning.errors import InputError


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit device must be available."""
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if name == "auto":
        return torch.device(next(kind for kind in ("cuda", "mps", "cpu") if available[kind]))
    if name not in available:
        raise InputError(f"device: expected auto, cpu, cuda or mps, found {name!r}")
    if not available[name]:
        raise InputError(f"device: {name} is not available on this machine; pass device=auto or device=cpu")
    return torch.device(name)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512_BF16 or AMX); without them bf16 autocast is emulated and slow."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 on CUDA devices that support it, else fp16 there; bf16 on CPUs with native bf16; else fp32.

    An explicit ``bf16`` on a CPU without native bf16 is honoured with a warning, since it runs
    an order of magnitude slower than fp32 there (docs/performance.md).
    """
    if precision != "auto" and precision not in PRECISIONS:
        raise InputError(f"precision: expected auto or one of {tuple(PRECISIONS)}, found {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu" and cpu_has_native_bf16():
            return "bf16"
        return "fp32"
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        warnings.warn(
            "precision=bf16 on a CPU without native bf16 instructions (AVX512_BF16 or AMX) runs about 10x slower "
            "than fp32 (docs/performance.md); pass precision=auto or precision=fp32",
            RuntimeWarning,
            stacklevel=2,
        )
    return precision
